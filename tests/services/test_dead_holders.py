"""Uploads whose process died are recovered at once (on its host) or once its heartbeat
stops (from anywhere); a live process's uploads are not, however slowly bytes come."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Connection, select, update

from lading.app import create_app
from lading.clock import Clock
from lading.db import uploads
from lading.db.engine import Database
from lading.db.models import artifacts, holders
from lading.db.uploads import Lease
from lading.domain import Status
from lading.errors import Conflict
from lading.processes import Holder, ThisProcess
from lading.services import Services
from lading.services.access import Caller
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.filesystem import FilesystemStore
from lading.stores.registry import StoreRegistry
from tests.services.test_transfers import blob_states
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio
FAR = timedelta(hours=1)  # a lease that upload_stuck_after would not end before then


def finished_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def local_holder(pid: int, started: str) -> Holder:
    me = ThisProcess().holder
    assert me.host is not None, "these tests need Linux's /proc"
    return Holder(os.urandom(16).hex(), me.host, pid, started)


async def held_upload(
    services: Services, admin: Caller, store: FaultyStore, database: Database, holder: Holder
) -> str:
    """What a process killed mid-upload leaves: an image saving under a lease far from
    expiry, a pending blob, partial bytes; the holder's last beat just now."""
    artifact = await services.catalogue.create(admin, Changes())
    lease = Lease(artifact.id, os.urandom(16).hex(), "default", f"ab/{holder.id}", holder=holder)
    await database.write(uploads.begin, lease, Clock().now() + FAR, Clock().now())
    store.objects[lease.key] = b"partial"
    return artifact.id


def status_of(database: Database, artifact_id: str) -> str:
    return database.run(
        False,
        lambda connection: connection.execute(
            select(artifacts.c.status).where(artifacts.c.id == artifact_id)
        ).scalar_one(),
    )


@pytest.mark.parametrize("reason", ["gone", "pid reused"])
async def test_an_upload_of_a_dead_process_of_this_host_is_recovered_at_once(
    services: Services, admin: Caller, store: FaultyStore, database: Database, reason: str
) -> None:
    me = ThisProcess().holder
    # A pid reused: this very process, as if it had started at another moment.
    dead = local_holder(finished_pid(), me.started) if reason == "gone" else (
        local_holder(os.getpid(), str(int(me.started) + 1)))  # fmt: skip
    alive = local_holder(os.getpid(), me.started)  # another server in this process: alive
    dead_upload = await held_upload(services, admin, store, database, dead)
    alive_upload = await held_upload(services, admin, store, database, alive)
    assert await services.recovery.keep_alive() == 2  # the upload, then its bytes
    assert status_of(database, dead_upload) == Status.QUEUED
    assert status_of(database, alive_upload) == Status.SAVING
    assert list(store.objects) == [f"ab/{alive.id}"]
    assert blob_states(database) == [("pending", 0)]
    assert await services.recovery.keep_alive() == 0


async def test_another_host_s_upload_is_recovered_once_its_heartbeat_stops(
    services: Services, admin: Caller, store: FaultyStore, database: Database
) -> None:
    # No pid of another host is judged here, however it looks from this one.
    silent = Holder("s" * 32, "elsewhere/boot/pid:[1]", finished_pid(), "1")
    beating = Holder("b" * 32, "elsewhere/boot/pid:[1]", finished_pid(), "1")
    silent_upload = await held_upload(services, admin, store, database, silent)
    beating_upload = await held_upload(services, admin, store, database, beating)
    assert await services.recovery.keep_alive() == 0
    # upload_heartbeat is 30 s: the one silent for 31 s is dead, the one for 29 s is not.
    at = Clock().now()
    for holder, silent_for in ((silent, 31), (beating, 29)):
        beat_at = at - timedelta(seconds=silent_for)
        statement = update(holders).where(holders.c.id == holder.id).values(beat_at=beat_at)
        database.run(True, Connection.execute, statement)
    assert await services.recovery.keep_alive() == 2
    assert status_of(database, silent_upload) == Status.QUEUED
    assert status_of(database, beating_upload) == Status.SAVING
    assert list(store.objects) == [f"ab/{beating.id}"]
    # The dead one's record went; a holder missing is dead all the same.
    database.run(True, lambda connection: connection.execute(holders.delete()))
    assert await services.recovery.run() == 2
    assert status_of(database, beating_upload) == Status.QUEUED and store.objects == {}


async def test_a_slow_upload_of_a_live_process_is_not_recovered(
    admin: Caller, store: FaultyStore, database: Database, tmp_path: Path
) -> None:
    """Bytes pausing far longer than the heartbeat: the process beats all the same, and
    only upload_stuck_after bounds the pause."""
    services = Services.build(
        Settings(data_dir=tmp_path, upload_heartbeat=0.3, upload_stuck_after=60),
        database,
        StoreRegistry({"default": store}, "default"),
    )
    artifact = await services.catalogue.create(admin, Changes())

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"first"
        await anyio.sleep(1.5)  # five heartbeats
        yield b" and last"

    async with anyio.create_task_group() as beating:

        async def keep_alive() -> None:
            while True:
                await services.recovery.keep_alive()
                await anyio.sleep(services.recovery.beat_interval)

        beating.start_soon(keep_alive)
        uploaded = await services.transfers.upload(admin, artifact.id, slow_body())
        beating.cancel_scope.cancel()
    assert uploaded.status is Status.ACTIVE
    assert uploaded.os_hash_value == hashlib.sha256(b"first and last").hexdigest()


async def test_a_process_taken_for_dead_cannot_commit_when_it_wakes(
    services: Services, admin: Caller, store: FaultyStore, database: Database, tmp_path: Path
) -> None:
    """A process that froze for longer than the heartbeat (SIGSTOP, a VM paused) is taken
    for dead by another: its upload is recovered and its bytes removed; waking, it fails
    rather than make an image active over bytes that are gone."""
    other = Services.build(
        Settings(data_dir=tmp_path, upload_stuck_after=60),
        database,
        StoreRegistry({"default": store}, "default"),
    )
    artifact = await services.catalogue.create(admin, Changes())

    async def freezing_body() -> AsyncIterator[bytes]:
        yield b"before the freeze"
        database.run(True, lambda connection: connection.execute(
            update(holders).values(beat_at=Clock().now() - timedelta(minutes=1))
        ))  # fmt: skip
        assert await other.recovery.keep_alive() == 2
        yield b" after"

    with pytest.raises(Conflict):
        await services.transfers.upload(admin, artifact.id, freezing_body())
    assert status_of(database, artifact.id) == Status.QUEUED
    assert store.objects == {} and blob_states(database) == []


async def test_an_upload_whose_partial_file_recovery_removed_fails_with_409(
    admin: Caller, database: Database, tmp_path: Path
) -> None:
    """On a filesystem store, recovery removes the partial file under a process taken for
    dead; waking, that upload's write fails, and the answer says why: 409, not a store
    error (503)."""
    store = FilesystemStore("default", tmp_path / "store", chunk_size=4096)
    registry = StoreRegistry({"default": store}, "default")
    settings = Settings(data_dir=tmp_path, upload_stuck_after=60)
    services, other = (Services.build(settings, database, registry) for _ in range(2))
    artifact = await services.catalogue.create(admin, Changes())

    async def freezing_body() -> AsyncIterator[bytes]:
        yield b"before the freeze"
        database.run(True, lambda connection: connection.execute(
            update(holders).values(beat_at=Clock().now() - timedelta(minutes=1))
        ))  # fmt: skip
        assert len(store.temporary_files()) == 1
        assert await other.recovery.keep_alive() == 2
        assert store.temporary_files() == []
        yield b" after"

    with pytest.raises(Conflict, match="taken for dead"):
        await services.transfers.upload(admin, artifact.id, freezing_body())
    assert status_of(database, artifact.id) == Status.QUEUED
    assert store.temporary_files() == [] and blob_states(database) == []


async def test_a_server_that_stops_withdraws_at_once(
    store: FaultyStore, database: Database, database_url: str, tmp_path: Path
) -> None:
    """Its holder's record goes as it stops: what it still held is another's to recover
    now, not a heartbeat on, and lading db copy sees no server writing."""
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    app = create_app(settings, StoreRegistry({"default": store}, "default"))
    async with app.router.lifespan_context(app):
        served: Services = app.state.services
        await served.recovery.keep_alive()
        (holder,) = database.run(False, lambda connection: list(connection.execute(
            select(holders.c.id, holders.c.pid)
        )))  # fmt: skip
        assert holder.pid == os.getpid()
    assert database.run(False, lambda connection: connection.execute(select(holders)).all()) == []
