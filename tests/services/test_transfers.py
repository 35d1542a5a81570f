"""The upload path's guarantees: failures leave nothing, one winner, dedup, recovery."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from sqlalchemy import Connection, select, update

from lading.clock import Clock
from lading.db import imports, uploads
from lading.db.engine import Database
from lading.db.models import artifacts, blobs
from lading.db.uploads import Lease
from lading.domain import Status
from lading.errors import ClientDisconnected, Conflict, Gone, NotFound
from lading.services import Services
from lading.services.access import Caller
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio


async def body(data: bytes, pieces: int = 4) -> AsyncIterator[bytes]:
    step = max(1, len(data) // pieces)
    for offset in range(0, len(data), step):
        await anyio.lowlevel.checkpoint()
        yield data[offset : offset + step]


async def broken_body() -> AsyncIterator[bytes]:
    yield b"first part"
    raise ClientDisconnected("the client went away")


def blob_states(database: Database) -> list[tuple[str, int]]:
    return database.run(
        False,
        lambda connection: [
            (row.state, row.refcount)
            for row in connection.execute(select(blobs.c.state, blobs.c.refcount))
        ],
    )


async def test_a_client_that_goes_away_leaves_nothing(
    services: Services, admin: Caller, store: FaultyStore, database: Database
) -> None:
    artifact = await services.catalogue.create(admin, Changes())
    with pytest.raises(ClientDisconnected):
        await services.transfers.upload(admin, artifact.id, broken_body())
    after = await services.catalogue.get(admin, artifact.id)
    assert after.status is Status.QUEUED and after.size is None
    assert store.objects == {} and blob_states(database) == []
    uploaded = await services.transfers.upload(admin, artifact.id, body(b"retried"))
    assert uploaded.status is Status.ACTIVE and uploaded.size == 7


async def test_concurrent_uploads_have_exactly_one_winner(
    services: Services, admin: Caller, store: FaultyStore
) -> None:
    artifact = await services.catalogue.create(admin, Changes())
    outcomes: dict[int, str] = {}

    async def attempt(number: int) -> None:
        try:
            await services.transfers.upload(admin, artifact.id, body(bytes([number]) * 1000))
            outcomes[number] = "won"
        except Conflict:
            outcomes[number] = "conflict"

    async with anyio.create_task_group() as tasks:
        for number in range(10):
            tasks.start_soon(attempt, number)
    winners = [number for number, outcome in outcomes.items() if outcome == "won"]
    assert len(winners) == 1 and len(outcomes) == 10
    (winner,) = winners
    active = await services.catalogue.get(admin, artifact.id)
    assert active.os_hash_value == hashlib.sha256(bytes([winner]) * 1000).hexdigest()
    assert list(store.objects.values()) == [bytes([winner]) * 1000]


async def test_shared_bytes_are_counted_by_reference(
    services: Services, admin: Caller, store: FaultyStore, database: Database
) -> None:
    first = await services.catalogue.create(admin, Changes())
    second = await services.catalogue.create(admin, Changes())
    await services.transfers.upload(admin, first.id, body(b"same bytes"))
    await services.transfers.upload(admin, second.id, body(b"same bytes"))
    assert len(store.objects) == 1 and blob_states(database) == [("ready", 2)]
    await services.catalogue.delete(admin, first.id)
    assert len(store.objects) == 1 and blob_states(database) == [("ready", 1)]
    await services.catalogue.delete(admin, second.id)
    assert store.objects == {} and blob_states(database) == []


async def test_deleting_during_an_upload_discards_the_upload(
    services: Services, admin: Caller, store: FaultyStore
) -> None:
    artifact = await services.catalogue.create(admin, Changes())

    async def deleting_body() -> AsyncIterator[bytes]:
        yield b"some"
        await services.catalogue.delete(admin, artifact.id)
        yield b"more"

    with pytest.raises(Gone):
        await services.transfers.upload(admin, artifact.id, deleting_body())
    assert store.objects == {}


async def test_an_image_deleted_just_before_its_upload_begins_is_not_found(
    services: Services, admin: Caller, database: Database
) -> None:
    """The race of a delete between an upload's look at the image and its start: the
    upload answers as it would a moment later (404), not 409."""
    artifact = await services.catalogue.create(admin, Changes())
    await services.catalogue.delete(admin, artifact.id)
    lease = Lease(artifact.id, "token", "default", "ab/key")
    with pytest.raises(NotFound):
        await database.write(
            uploads.begin, lease, Clock().now() + timedelta(seconds=60), Clock().now()
        )


async def test_an_image_deleted_just_before_its_import_starts_is_not_found(
    services: Services, admin: Caller, database: Database
) -> None:
    artifact = await services.catalogue.create(admin, Changes())
    await services.catalogue.delete(admin, artifact.id)
    task = services.tasks.new(admin.project, "api_image_import", {}, artifact.id)
    with pytest.raises(NotFound):
        await database.write(imports.start, task, Status.QUEUED, [], Clock().now())


async def test_recovery_requeues_stuck_uploads_and_removes_their_bytes(
    services: Services, admin: Caller, store: FaultyStore, database: Database
) -> None:
    stuck = await services.catalogue.create(admin, Changes())
    alive = await services.catalogue.create(admin, Changes())
    long_ago = Clock().now() - timedelta(hours=1)

    def simulate_crash(connection: Connection) -> None:
        """What a process killed mid-upload leaves: saving, a pending blob, bytes."""
        for artifact, expires_at in (
            (stuck, long_ago),
            (alive, Clock().now() + timedelta(hours=1)),
        ):
            connection.execute(
                update(artifacts)
                .where(artifacts.c.id == artifact.id)
                .values(status="saving", upload_lease="lease", lease_expires_at=expires_at)
            )
        connection.execute(
            blobs.insert().values(
                store="default", key="ab/crashed", state="pending", refcount=0, updated_at=long_ago
            )
        )

    database.run(True, simulate_crash)
    store.objects["ab/crashed"] = b"partial"
    assert await services.recovery.run() == 2
    assert (await services.catalogue.get(admin, stuck.id)).status is Status.QUEUED
    assert (await services.catalogue.get(admin, alive.id)).status is Status.SAVING
    assert store.objects == {} and blob_states(database) == []
    assert await services.recovery.run() == 0


async def test_staged_data_nobody_imports_is_dropped_after_staging_ttl(
    services: Services, admin: Caller, store: FaultyStore, clock: MovableClock
) -> None:
    forgotten = await services.catalogue.create(admin, Changes())
    recent = await services.catalogue.create(admin, Changes())
    await services.transfers.stage(admin, forgotten.id, body(b"staged long ago"))
    clock.move(days=2)  # staging_ttl: one day by default
    await services.transfers.stage(admin, recent.id, body(b"staged just now"))
    assert await services.recovery.run() == 2  # the image, then its bytes
    dropped = await services.catalogue.get(admin, forgotten.id)
    assert dropped.status is Status.QUEUED and dropped.size is None and not dropped.locations
    assert (await services.catalogue.get(admin, recent.id)).status is Status.UPLOADING
    assert list(store.objects.values()) == [b"staged just now"]
    # Back to queued, it may be staged again.
    await services.transfers.stage(admin, forgotten.id, body(b"staged again"))
    assert (await services.catalogue.get(admin, forgotten.id)).status is Status.UPLOADING


def expire_everything(connection: Connection) -> None:
    """As if every lease and pending blob had outlived upload_stuck_after."""
    long_ago = Clock().now() - timedelta(hours=1)
    connection.execute(update(artifacts).values(lease_expires_at=long_ago))
    connection.execute(update(blobs).values(updated_at=long_ago))


async def test_an_upload_given_up_as_stuck_cannot_disturb_the_next_one(
    services: Services, admin: Caller, store: FaultyStore, database: Database
) -> None:
    artifact = await services.catalogue.create(admin, Changes())

    async def stalled_body() -> AsyncIterator[bytes]:
        yield b"first attempt"
        # The client stalls for longer than upload_stuck_after: recovery gives up on it...
        database.run(True, expire_everything)
        await services.recovery.run()
        # ...and a second client uploads in the meantime.
        await services.transfers.upload(admin, artifact.id, body(b"second attempt"))
        yield b" resumes"

    with pytest.raises(Conflict):
        await services.transfers.upload(admin, artifact.id, stalled_body())
    active = await services.catalogue.get(admin, artifact.id)
    assert active.status is Status.ACTIVE
    assert active.os_hash_value == hashlib.sha256(b"second attempt").hexdigest()
    assert list(store.objects.values()) == [b"second attempt"]
    assert blob_states(database) == [("ready", 1)]


async def test_editing_metadata_during_an_upload_is_fine(
    services: Services, admin: Caller, store: FaultyStore
) -> None:
    artifact = await services.catalogue.create(admin, Changes())

    async def body_with_edits() -> AsyncIterator[bytes]:
        yield b"some "
        await services.catalogue.update(
            admin, artifact.id, lambda a: Changes({"name": "renamed"}, {"k": "v"}, ["t"])
        )
        await services.catalogue.add_tag(admin, artifact.id, "other")
        yield b"bytes"

    uploaded = await services.transfers.upload(admin, artifact.id, body_with_edits())
    assert uploaded.status is Status.ACTIVE and uploaded.size == 10
    assert uploaded.name == "renamed" and uploaded.tags == ["other", "t"]


async def test_a_store_that_fails_to_delete_is_retried_by_recovery(
    services: Services, admin: Caller, store: FaultyStore, database: Database
) -> None:
    artifact = await services.catalogue.create(admin, Changes())
    await services.transfers.upload(admin, artifact.id, body(b"bytes"))
    store.failing_deletes = True
    await services.catalogue.delete(admin, artifact.id)  # answered; the bytes stay
    assert len(store.objects) == 1 and blob_states(database) == [("doomed", 0)]
    store.failing_deletes = False
    assert await services.recovery.run() == 1
    assert store.objects == {} and blob_states(database) == []


async def test_a_long_upload_learns_of_a_delete_when_it_renews_its_lease(
    services: Services, admin: Caller, store: FaultyStore, database: Database, tmp_path: Path
) -> None:
    short_leases = Services.build(
        Settings(data_dir=tmp_path, upload_stuck_after=0.1),
        database,
        StoreRegistry({"default": store}, "default"),
    )
    artifact = await services.catalogue.create(admin, Changes())
    body_finished = False

    async def slow_body() -> AsyncIterator[bytes]:
        nonlocal body_finished
        yield b"some"
        await services.catalogue.delete(admin, artifact.id)
        await anyio.sleep(0.03)  # past the next renewal (every upload_stuck_after / 4)
        yield b"more"
        body_finished = True

    with pytest.raises(Gone):
        await short_leases.transfers.upload(admin, artifact.id, slow_body())
    assert not body_finished  # the renewal, not the final activation, noticed
    assert store.objects == {}


async def test_a_failed_upload_keeps_its_error_when_the_store_cannot_delete(
    services: Services, admin: Caller, store: FaultyStore, database: Database
) -> None:
    artifact = await services.catalogue.create(admin, Changes())
    store.failing_deletes = True
    with pytest.raises(ClientDisconnected):
        await services.transfers.upload(admin, artifact.id, broken_body())
    assert (await services.catalogue.get(admin, artifact.id)).status is Status.QUEUED
    store.failing_deletes = False
    database.run(True, expire_everything)
    await services.recovery.run()  # the partial bytes go on the next pass
    assert store.objects == {} and blob_states(database) == []


async def test_blob_ids_are_never_reused(
    services: Services, admin: Caller, database: Database
) -> None:
    first = await services.catalogue.create(admin, Changes())
    await services.transfers.upload(admin, first.id, body(b"one"))
    ids = database.run(False, lambda c: list(c.execute(select(blobs.c.id)).scalars()))
    await services.catalogue.delete(admin, first.id)
    second = await services.catalogue.create(admin, Changes())
    await services.transfers.upload(admin, second.id, body(b"two"))
    new_ids = database.run(False, lambda c: list(c.execute(select(blobs.c.id)).scalars()))
    assert set(new_ids).isdisjoint(ids)
