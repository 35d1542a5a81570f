"""Rules that every face applies the same way, decided once in the services so that a
face (or a new one) cannot forget them: hidden artifacts left out of listings, where the
data lies shown only as settings and policy allow, and a form's create-then-upload that
leaves nothing behind when the upload fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from sqlalchemy import select

from lading.db import artifacts as db_artifacts
from lading.db.engine import Database
from lading.db.models import artifacts
from lading.domain import ListQuery, Status
from lading.errors import ClientDisconnected, Conflict, Forbidden
from lading.services import Services
from lading.services.access import Caller
from lading.services.policy import Policy
from lading.services.roles import ADMIN, MEMBER
from lading.services.transfers import LocationUrl
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
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


async def test_a_faces_query_is_the_same_after_listing(services: Services, admin: Caller) -> None:
    """The catalogue derives the page it lists (os_hidden, the viewer, the marker) from
    the face's query and leaves the query as the face made it."""
    first = await services.catalogue.create(admin, Changes({"name": "first"}))
    await services.catalogue.create(admin, Changes({"name": "second"}))
    query = ListQuery(fields={"name": ["first", "second"]}, limit=1)
    reader = Caller.with_role(admin.project, "reader")
    for caller, marker in ((admin, None), (reader, first.id)):
        await services.catalogue.list_page(caller, query, marker)
    assert query == ListQuery(fields={"name": ["first", "second"]}, limit=1)
    with pytest.raises(FrozenInstanceError):
        query.limit = 2  # type: ignore[misc]


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


async def test_data_kept_in_its_only_store_is_refused_and_nothing_is_written(
    services: Services, admin: Caller, database: Database, clock: MovableClock
) -> None:
    """db decides the outcome (KeptInStore), the service says it as an error, raised in
    the transaction, so that the refused removal leaves the artifact as it was."""
    queued = await services.catalogue.create(admin, Changes({"name": "queued"}))
    kept = database.run(
        True,
        lambda connection: db_artifacts.remove_from_store(
            connection, queued.id, "default", clock.now()
        ),
    )
    assert kept is db_artifacts.KeptInStore.NOT_ACTIVE
    artifact = await services.catalogue.create(admin, Changes({"name": "a"}))
    await services.transfers.upload(admin, artifact.id, data(b"bytes"))
    before = await services.catalogue.get(admin, artifact.id)
    clock.move(seconds=5)
    with pytest.raises(Forbidden, match="holds the only copy"):
        await services.transfers.remove_from_store(admin, artifact.id, "default")
    with pytest.raises(Conflict, match="only an active image's data"):
        await services.transfers.remove_from_store(admin, queued.id, "default")
    assert await services.catalogue.get(admin, artifact.id) == before
