"""The catalogue's own rules: a new artifact queued, shared and made by the caller within
its project's quota; updates, deletes, tags and status switches only by the owner (or an
administrator), a protected artifact kept; what the caller may not see does not exist."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lading.db.engine import Database
from lading.domain import Status, Visibility
from lading.errors import BadRequest, Forbidden, NotFound, TooLarge
from lading.services import Services
from lading.services.access import Caller
from lading.services.roles import MEMBER, READER
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio
OWNER = Caller.with_role("A", MEMBER)
STRANGER = Caller.with_role("B", MEMBER)
ID = "01234567-89ab-cdef-0123-456789abcdef"


async def data(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def test_a_new_artifact_is_queued_shared_and_the_callers(services: Services) -> None:
    made = await services.catalogue.create(OWNER, Changes({"name": "n"}), ID.upper())
    assert (made.id, made.owner, made.status, made.visibility, made.created_by_project) == (
        ID, "A", Status.QUEUED, Visibility.SHARED, "A",
    )  # fmt: skip
    with pytest.raises(Forbidden):  # add_image: readers may not
        await services.catalogue.create(Caller.with_role("A", READER), Changes())
    with pytest.raises(BadRequest):
        await services.catalogue.create(OWNER, Changes(), "not-a-uuid")


async def test_a_projects_quota_of_artifacts_is_kept(
    tmp_path: Path, database: Database, store: FaultyStore
) -> None:
    settings = Settings(data_dir=tmp_path, quota={"artifacts": 1})
    services = Services.build(settings, database, StoreRegistry({"default": store}, "default"))
    await services.catalogue.create(OWNER, Changes())
    with pytest.raises(TooLarge, match="quota of 1"):
        await services.catalogue.create(OWNER, Changes())
    await services.catalogue.create(STRANGER, Changes())  # another project's own quota


async def test_what_a_caller_may_not_see_does_not_exist(services: Services) -> None:
    private = await services.catalogue.create(OWNER, Changes({"visibility": "private"}))
    public = await services.catalogue.create(Caller.with_role("A", "admin"),
                                             Changes({"visibility": "public"}))  # fmt: skip
    for artifact_id in (private.id, ID, "not-a-uuid"):
        with pytest.raises(NotFound):
            await services.catalogue.get(STRANGER, artifact_id)
    assert (await services.catalogue.get(STRANGER, public.id)).id == public.id
    with pytest.raises(Forbidden):  # seen, not the stranger's to change
        await services.catalogue.update(STRANGER, public.id, lambda _: Changes({"name": "x"}))
    with pytest.raises(Forbidden):
        await services.catalogue.delete(STRANGER, public.id)


async def test_a_protected_artifact_is_kept_until_unprotected(services: Services) -> None:
    made = await services.catalogue.create(OWNER, Changes({"protected": True}))
    with pytest.raises(Forbidden, match="protected"):
        await services.catalogue.delete(OWNER, made.id)
    await services.catalogue.update(OWNER, made.id, lambda _: Changes({"protected": False}))
    await services.catalogue.delete(OWNER, made.id)
    with pytest.raises(NotFound):
        await services.catalogue.get(OWNER, made.id)


async def test_tags_are_added_once_and_removed_if_there(services: Services) -> None:
    made = await services.catalogue.create(OWNER, Changes())
    await services.catalogue.add_tag(OWNER, made.id, "x")
    await services.catalogue.add_tag(OWNER, made.id, "x")
    assert (await services.catalogue.get(OWNER, made.id)).tags == ["x"]
    with pytest.raises(BadRequest):
        await services.catalogue.add_tag(OWNER, made.id, "a\nb")
    await services.catalogue.remove_tag(OWNER, made.id, "x")
    with pytest.raises(NotFound, match="no tag"):
        await services.catalogue.remove_tag(OWNER, made.id, "x")


async def test_only_an_active_artifact_is_deactivated_and_back(services: Services) -> None:
    made = await services.catalogue.create(OWNER, Changes())
    with pytest.raises(Forbidden, match="status queued"):
        await services.catalogue.deactivate(OWNER, made.id)
    await services.transfers.upload(OWNER, made.id, data(b"bytes"))
    await services.catalogue.deactivate(OWNER, made.id)
    await services.catalogue.deactivate(OWNER, made.id)  # already there: no change
    assert (await services.catalogue.get(OWNER, made.id)).status is Status.DEACTIVATED
    await services.catalogue.reactivate(OWNER, made.id)
    assert (await services.catalogue.get(OWNER, made.id)).status is Status.ACTIVE


async def test_publishing_is_for_administrators_by_default(services: Services) -> None:
    made = await services.catalogue.create(OWNER, Changes(), published=False)
    with pytest.raises(Forbidden):
        await services.catalogue.set_published(OWNER, made.id, True)
    admin = Caller.with_role("Z", "admin")
    assert (await services.catalogue.set_published(admin, made.id, True)).published
    assert (await services.catalogue.set_published(admin, made.id, True)).published
