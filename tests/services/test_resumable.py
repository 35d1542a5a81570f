"""Resumable uploads (``Resumable``) on an object store's way of keeping parts (one object
per PATCH, the memory store): bodies cut anywhere, expiry by the clock, a store failing at
the finish, a dead process's claim, and what a refused or half-finished upload leaves."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path

import anyio
import pytest

from lading.db import artifacts, holders, tus
from lading.db.engine import Database
from lading.domain import Status
from lading.errors import (
    BadRequest,
    ChecksumMismatch,
    Conflict,
    Gone,
    NotFound,
    StoreFull,
    TooLarge,
)
from lading.processes import Holder
from lading.services import Services
from lading.services.access import Caller
from lading.services.resumable import Checksum, UploadInfo
from lading.services.roles import MEMBER
from lading.settings import Settings
from lading.stores.base import Part, StoredObject
from lading.stores.memory import MemoryStore
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio

IMAGE = {"name": "disk", "disk_format": "raw", "container_format": "bare"}
OWNER = Caller.with_role("A", MEMBER)
OTHER = Caller.with_role("B", MEMBER)


async def body(data: bytes, piece: int = 4096) -> AsyncIterator[bytes]:
    """A request body; one that stops early is a client gone mid-chunk, as the face
    passes it on (the bytes that came, then the end)."""
    for offset in range(0, len(data), piece):
        yield data[offset : offset + piece]


async def begin(services: Services, length: int | None, **fields: str) -> UploadInfo:
    metadata: dict[str, str | None] = {**(fields or IMAGE)}
    return await services.resumable.create(OWNER, length, "", metadata)


async def status_of(database: Database, artifact_id: str | None) -> Status | None:
    assert artifact_id is not None
    return await database.read(artifacts.status_of, artifact_id)


async def test_an_upload_cut_at_random_points_resumes_to_the_same_bytes(
    services: Services, database: Database, store: FaultyStore
) -> None:
    data = os.urandom(1_000_003)
    rng = random.Random(23)
    info = await begin(services, len(data))
    cuts = 0
    while info.offset < len(data):
        if rng.random() < 0.5:
            services.resumable.hashes.clear()  # resumed elsewhere: hashes rebuilt
        # A PATCH meant to carry the rest, cut after a random number of bytes (mid-chunk).
        arrived = rng.randrange(1, len(data) - info.offset + 1)
        before = info.offset
        info = await services.resumable.append(
            OWNER, info.id, before, body(data[before : before + arrived], rng.randrange(1, 9000))
        )
        assert info.offset == before + arrived
        cuts += 1
        if info.offset < len(data):
            assert await status_of(database, info.artifact_id) is Status.QUEUED
    assert cuts > 3
    assert info.artifact_id is not None
    found = await services.catalogue.get(OWNER, info.artifact_id)
    assert found.status is Status.ACTIVE and found.size == len(data)
    assert found.checksum == hashlib.md5(data).hexdigest()
    assert found.os_hash_value == hashlib.sha256(data).hexdigest()
    assert [key for key in store.objects if key.startswith("tus/")] == []  # parts removed


async def test_a_checksum_mismatch_removes_the_part_and_keeps_the_offset(
    services: Services, store: FaultyStore
) -> None:
    info = await begin(services, 8)
    with pytest.raises(ChecksumMismatch):
        wrong = Checksum("sha1", hashlib.sha1(b"nope").digest())
        await services.resumable.append(OWNER, info.id, 0, body(b"0123"), wrong)
    assert (await services.resumable.status(OWNER, info.id)).offset == 0
    assert [key for key in store.objects if key.startswith("tus/")] == []
    right = Checksum("md5", hashlib.md5(b"0123").digest())
    assert (await services.resumable.append(OWNER, info.id, 0, body(b"0123"), right)).offset == 4


async def test_an_unfinished_upload_expires_and_recovery_removes_it(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    info = await begin(services, 10)
    info = await services.resumable.append(OWNER, info.id, 0, body(b"01234"))
    assert info.expires_at is not None
    assert info.expires_at - clock.now() > timedelta(hours=23, minutes=59)
    clock.move(hours=23)
    assert await services.recovery.run() == 0
    assert (await services.resumable.status(OWNER, info.id)).offset == 5
    clock.move(hours=2)
    with pytest.raises(Gone):
        await services.resumable.status(OWNER, info.id)
    with pytest.raises(Gone):
        await services.resumable.append(OWNER, info.id, 5, body(b"56789"))
    assert await services.recovery.run() == 1
    with pytest.raises(NotFound):
        await services.resumable.status(OWNER, info.id)
    assert [key for key in store.objects if key.startswith("tus/")] == []
    assert await status_of(database, info.artifact_id) is Status.DELETED  # it made it


async def test_parts_a_failed_delete_left_are_removed_by_the_next_sweep(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    info = await begin(services, 10)
    info = await services.resumable.append(OWNER, info.id, 0, body(b"01234"))
    clock.move(days=2)
    store.failing_deletes = True  # the store is out when the upload expires
    await services.recovery.run()
    with pytest.raises(NotFound):  # forgotten for its client at once
        await services.resumable.status(OWNER, info.id)
    assert [key for key in store.objects if key.startswith("tus/")] != []
    found = await database.read(tus.find, info.id)
    assert found is not None and found.state == tus.REMOVING  # remembered, for its parts
    assert await status_of(database, info.artifact_id) is Status.DELETED
    store.failing_deletes = False
    await services.recovery.run()
    assert [key for key in store.objects if key.startswith("tus/")] == []
    assert await database.read(tus.find, info.id) is None


async def test_a_terminated_uploads_parts_go_even_if_the_store_is_out_then(
    services: Services, database: Database, store: FaultyStore
) -> None:
    info = await begin(services, 10)
    info = await services.resumable.append(OWNER, info.id, 0, body(b"01234"))
    store.failing_deletes = True
    await services.resumable.terminate(OWNER, info.id)
    with pytest.raises(NotFound):
        await services.resumable.append(OWNER, info.id, 5, body(b"56789"))
    await services.recovery.run()  # still out: kept for the next sweep
    assert [key for key in store.objects if key.startswith("tus/")] != []
    store.failing_deletes = False
    await services.recovery.run()
    assert [key for key in store.objects if key.startswith("tus/")] == []
    assert await database.read(tus.find, info.id) is None


async def test_parts_whose_delete_failed_at_the_finish_go_with_the_record(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    info = await begin(services, 10)
    store.failing_deletes = True
    info = await services.resumable.append(OWNER, info.id, 0, body(b"0123456789"))
    assert info.expires_at is None  # finished: the image is active
    assert [key for key in store.objects if key.startswith("tus/")] != []
    store.failing_deletes = False
    clock.move(days=2)
    await services.recovery.run()
    assert [key for key in store.objects if key.startswith("tus/")] == []
    assert await status_of(database, info.artifact_id) is Status.ACTIVE


async def test_each_patch_pushes_the_expiry_back(services: Services, clock: MovableClock) -> None:
    info = await begin(services, 10)
    for offset in range(5):
        clock.move(hours=20)
        info = await services.resumable.append(OWNER, info.id, offset, body(b"x"))
    assert await services.recovery.run() == 0
    assert (await services.resumable.status(OWNER, info.id)).offset == 5


async def test_a_finished_uploads_record_goes_at_its_expiry_not_its_image(
    services: Services, database: Database, clock: MovableClock
) -> None:
    info = await begin(services, 3)
    info = await services.resumable.append(OWNER, info.id, 0, body(b"abc"))
    assert info.expires_at is None and info.offset == 3
    clock.move(days=2)
    assert await services.recovery.run() == 1
    with pytest.raises(NotFound):
        await services.resumable.status(OWNER, info.id)
    assert await status_of(database, info.artifact_id) is Status.ACTIVE


async def test_a_store_failing_at_the_finish_leaves_the_upload_to_finish_again(
    services: Services, database: Database, store: FaultyStore
) -> None:
    data = os.urandom(50_000)
    info = await begin(services, len(data))
    info = await services.resumable.append(OWNER, info.id, 0, body(data[:20_000]))
    store.healthy_puts = 1  # the last part goes in; the image's data does not
    with pytest.raises(StoreFull):
        await services.resumable.append(OWNER, info.id, 20_000, body(data[20_000:]))
    store.healthy_puts = None
    store.failing_puts = False
    assert await status_of(database, info.artifact_id) is Status.QUEUED
    again = await services.resumable.status(OWNER, info.id)
    assert again.offset == len(data)  # every byte is kept: only the finish is retried
    done = await services.resumable.append(OWNER, info.id, len(data), body(b""))
    assert done.expires_at is None
    found = await services.catalogue.get(OWNER, again.artifact_id or "")
    assert found.status is Status.ACTIVE and found.checksum == hashlib.md5(data).hexdigest()


async def test_a_patch_holds_the_upload_until_its_process_dies(
    services: Services, database: Database, clock: MovableClock
) -> None:
    info = await begin(services, 10)
    dead = "dead-process"
    await database.write(holders.beat, Holder(dead, None, 1, "1"), clock.now())
    assert await database.write(
        tus.claim, info.id, 0, "token", dead, clock.now() + timedelta(seconds=60), clock.now()
    )
    with pytest.raises(Conflict):
        await services.resumable.append(OWNER, info.id, 0, body(b"01234"))
    clock.move(seconds=31)  # past upload_heartbeat without a beat: the holder is dead
    assert await services.recovery.keep_alive() >= 1
    assert (await services.resumable.append(OWNER, info.id, 0, body(b"01234"))).offset == 5


async def test_another_project_sees_no_upload(services: Services) -> None:
    info = await begin(services, 10)
    for call in (
        services.resumable.status(OTHER, info.id),
        services.resumable.append(OTHER, info.id, 0, body(b"0")),
        services.resumable.terminate(OTHER, info.id),
    ):
        with pytest.raises(NotFound):
            await call


async def test_a_second_patch_while_one_writes_is_refused(services: Services) -> None:
    info = await begin(services, 10)
    sent = anyio.Event()
    go_on = anyio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"01234"
        sent.set()
        await go_on.wait()

    async with anyio.create_task_group() as group:
        group.start_soon(services.resumable.append, OWNER, info.id, 0, slow())
        await sent.wait()
        with pytest.raises(Conflict):
            await services.resumable.append(OWNER, info.id, 0, body(b"56789"))
        with pytest.raises(Conflict):  # nor is it terminated under the PATCH
            await services.resumable.terminate(OWNER, info.id)
        go_on.set()
    assert (await services.resumable.status(OWNER, info.id)).offset == 5


class JoiningStore(MemoryStore):
    """A store that joins parts where they lie (as S3's part copies do), when they are at
    least ``smallest`` bytes; what it writes through ``put`` is counted."""

    def __init__(self, smallest: int) -> None:
        super().__init__("default")
        self.smallest = smallest
        self.written: list[str] = []

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        self.written.append(key)
        return await super().put(key, chunks)

    def joins(self, parts: Sequence[Part]) -> bool:
        return all(part.size >= self.smallest for part in parts[:-1])

    async def assemble(self, key: str, parts: Sequence[Part], target: str) -> StoredObject:
        joined = b"".join(self.objects[self.part_key(key, part.number)] for part in parts)
        self.objects[target] = joined
        return StoredObject(target, len(joined))


@pytest.mark.parametrize("smallest", [1000, 100_000])
async def test_a_store_that_joins_parts_makes_the_image_without_a_copy(
    tmp_path: Path, database: Database, smallest: int
) -> None:
    store = JoiningStore(smallest)
    settings = Settings(data_dir=tmp_path)
    services = Services.build(settings, database, StoreRegistry({"default": store}, "default"))
    data = os.urandom(30_000)
    info = await begin(services, len(data))
    for start in range(0, len(data), 10_000):  # three parts of 10,000 bytes
        info = await services.resumable.append(
            OWNER, info.id, start, body(data[start : start + 10_000])
        )
    found = await services.catalogue.get(OWNER, info.artifact_id or "")
    assert found.status is Status.ACTIVE and found.os_hash_value == hashlib.sha256(data).hexdigest()
    images = [key for key in store.written if not key.startswith("tus/")]
    # Joined by the store: nothing written but the parts; too short to join: copied.
    assert images == ([] if smallest == 1000 else [found.locations[0].key])
    assert store.objects[found.locations[0].key] == data
    assert [key for key in store.objects if key.startswith("tus/")] == []


async def test_a_joined_image_its_format_refuses_leaves_nothing_but_a_queued_image(
    tmp_path: Path, database: Database
) -> None:
    store = JoiningStore(1)
    settings = Settings(data_dir=tmp_path)
    services = Services.build(settings, database, StoreRegistry({"default": store}, "default"))
    data = os.urandom(20_000)  # not a qcow2, whatever it says
    info = await begin(services, len(data), name="x", disk_format="qcow2", container_format="bare")
    info = await services.resumable.append(OWNER, info.id, 0, body(data[:10_000]))
    with pytest.raises(BadRequest):
        await services.resumable.append(OWNER, info.id, 10_000, body(data[10_000:]))
    assert await status_of(database, info.artifact_id) is Status.QUEUED
    assert store.objects == {}  # the object the store joined went with the parts


async def test_a_quota_refuses_an_upload_before_any_byte(
    tmp_path: Path, database: Database
) -> None:
    settings = Settings(data_dir=tmp_path, quota={"bytes": 1000})
    stores = StoreRegistry({"default": MemoryStore("default")}, "default")
    services = Services.build(settings, database, stores)
    with pytest.raises(TooLarge):
        await begin(services, 1001)
    made = await begin(services, 1000)
    assert made.offset == 0
