"""A recovery pass (``Recovery.run``): an upload that stopped receiving back to queued
once its lease ran out, the bytes it left removed once idle for ``upload_stuck_after``,
a delayed delete scrubbed once its delay is over, finished tasks past their time
forgotten; each counted, nothing touched before its time. (Dead processes' uploads,
``keep_alive``: tests/services/test_dead_holders.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from lading.db import artifacts, tasks, uploads
from lading.db.engine import Database
from lading.db.uploads import Lease
from lading.domain import Status, Task, TaskStatus
from lading.services import Services
from lading.services.access import Caller
from lading.services.validation import Changes
from tests.clock import MovableClock
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio


async def data(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def test_a_stuck_upload_is_queued_again_and_its_bytes_removed_in_turn(
    services: Services, admin: Caller, database: Database, store: FaultyStore,
    clock: MovableClock,
) -> None:  # fmt: skip
    made = await services.catalogue.create(admin, Changes())
    lease = Lease(made.id, "lease", "default", "ab/partial")
    now = clock.now()
    await database.write(uploads.begin, lease, now + timedelta(seconds=10), now)
    store.objects[lease.key] = b"partial"
    assert await services.recovery.run() == 0  # the lease holds
    clock.move(seconds=11)
    assert await services.recovery.run() == 1
    assert await database.read(artifacts.status_of, made.id) is Status.QUEUED
    assert lease.key in store.objects  # idle for less than upload_stuck_after (60 s)
    clock.move(seconds=60)
    assert await services.recovery.run() == 1
    assert lease.key not in store.objects


async def test_a_delayed_delete_is_scrubbed_once_its_delay_is_over(
    services: Services, admin: Caller, database: Database, store: FaultyStore,
    clock: MovableClock,
) -> None:  # fmt: skip
    made = await services.catalogue.create(admin, Changes())
    uploaded = await services.transfers.upload(admin, made.id, data(b"bytes"))
    (location,) = uploaded.locations
    await database.write(artifacts.mark_pending_delete, made.id, clock.now())
    await services.recovery.run()
    assert location.key in store.objects  # scrub_delay: an hour by default
    clock.move(seconds=3601)
    assert await services.recovery.run() >= 1
    assert await database.read(artifacts.status_of, made.id) is Status.DELETED
    assert location.key not in store.objects


async def test_finished_tasks_are_forgotten_after_their_time(
    services: Services, database: Database, clock: MovableClock
) -> None:
    now = clock.now()
    for task_id, expires in (("done", now + timedelta(hours=1)), ("old", now)):
        finished = Task(task_id, "import", TaskStatus.SUCCESS, "p", {}, now, now,
                        expires_at=expires)  # fmt: skip
        await database.write(tasks.insert_task, finished)
    clock.move(seconds=1)
    await services.recovery.run()
    assert await database.read(tasks.fetch_task, "old") is None
    assert await database.read(tasks.fetch_task, "done") is not None
