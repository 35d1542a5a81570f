"""Rules that every face applies the same way, decided once in the services so that a
face (or a new one) cannot forget them: hidden artifacts left out of listings, where the
data lies shown only as settings and policy allow, and a form's create-then-upload that
leaves nothing behind when the upload fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from lading.db.engine import Database
from lading.db.models import artifacts
from lading.domain import ListQuery, Status
from lading.errors import ClientDisconnected, Forbidden
from lading.services import Services
from lading.services.access import Caller
from lading.services.policy import Policy
from lading.services.roles import ADMIN, MEMBER
from lading.services.transfers import LocationUrl
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio


async def data(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def cut_off() -> AsyncIterator[bytes]:
    yield b"first part"
    raise ClientDisconnected("the client went away")


def built(tmp_path: Path, database: Database, store: FaultyStore, **settings: object) -> Services:
    configured = Settings(data_dir=tmp_path, **settings)  # type: ignore[arg-type]
    return Services.build(configured, database, StoreRegistry({"default": store}, "default"))


def statuses(database: Database) -> list[str]:
    return database.run(
        False, lambda connection: list(connection.scalars(select(artifacts.c.status)))
    )


async def test_hidden_artifacts_are_listed_only_when_asked_for(
    services: Services, admin: Caller
) -> None:
    shown = await services.catalogue.create(admin, Changes({"name": "shown"}))
    hidden = await services.catalogue.create(admin, Changes({"name": "hidden", "os_hidden": True}))

    async def listed(query: ListQuery) -> set[str]:
        return {artifact.id for artifact in await services.catalogue.list_page(admin, query, None)}

    assert await listed(ListQuery()) == {shown.id}  # a face that says nothing of os_hidden
    assert await listed(ListQuery(fields={"os_hidden": [True]})) == {hidden.id}
    assert await listed(ListQuery(fields={"os_hidden": [False]})) == {shown.id}
    assert await listed(ListQuery(with_hidden=True)) == {shown.id, hidden.id}


@pytest.mark.parametrize(
    ("direct", "listed"), [(False, False), (True, False), (False, True), (True, True)]
)
async def test_locations_are_shown_as_settings_and_policy_allow(
    tmp_path: Path, database: Database, store: FaultyStore, direct: bool, listed: bool
) -> None:
    services = built(tmp_path, database, store, show_image_direct_url=direct,
                     show_multiple_locations=listed)  # fmt: skip
    admin, member = Caller.with_role("A", ADMIN), Caller.with_role("A", MEMBER)
    made = await services.catalogue.create(member, Changes({"name": "x"}))
    artifact = await services.transfers.upload(member, made.id, data(b"bytes"))
    (location,) = artifact.locations
    place = LocationUrl("default", store.location_url(location.key))

    shown = services.transfers.shown_locations(admin, artifact)
    assert shown.direct_url == (place.url if direct else None)
    assert shown.locations == ([place] if listed else None)
    assert shown.places == ([place] if direct or listed else [])
    # The policy (get_image_location: admins and the owner's project) hides them from the
    # others, whatever is set.
    assert services.transfers.shown_locations(member, artifact) == shown
    hidden = services.transfers.shown_locations(Caller.with_role("B", MEMBER), artifact)
    assert hidden.direct_url is None and hidden.places == []
    assert hidden.locations == ([] if listed else None)


async def test_a_failed_create_then_upload_leaves_nothing(
    tmp_path: Path, database: Database, store: FaultyStore
) -> None:
    """Even for a caller who may not delete, and with delayed delete on: the artifact that
    an upload failed to fill is removed, not left queued or waiting to be scrubbed."""
    services = built(tmp_path, database, store, delayed_delete=True)
    member = Caller.with_role("A", MEMBER, Policy({"delete_image": "role:admin"}))
    with pytest.raises(ClientDisconnected):
        await services.transfers.create_uploaded(member, Changes({"name": "cut"}), cut_off())
    assert statuses(database) == [Status.DELETED] and store.objects == {}
    with pytest.raises(Forbidden):  # what the caller could not have undone by itself
        made = await services.catalogue.create(member, Changes({"name": "kept"}))
        await services.catalogue.delete(member, made.id)

    done = await services.transfers.create_uploaded(
        member, Changes({"name": "whole"}), data(b"whole"), published=False
    )
    assert done.status is Status.ACTIVE and done.size == 5 and not done.published
