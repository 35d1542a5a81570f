"""The task queue: claims under leases, progress, failure, take-over of a dead runner's
task, and several runners sharing one queue (each task runs once)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import Connection, select

from lading.clock import Clock
from lading.db import tasks as queries
from lading.db.engine import Database
from lading.db.models import tasks as tasks_table
from lading.domain import Artifact, Status, Task, TaskStatus, Visibility
from lading.errors import BadRequest, NotFound
from lading.services.access import Caller
from lading.services.tasks import LeaseLost, Progress, RetryLater, Tasks, Undo
from lading.settings import Settings
from tests.clock import MovableClock

pytestmark = pytest.mark.anyio


def queue(database: Database, tmp_path: Path, clock: Clock | None = None, **settings: Any) -> Tasks:
    configured = Settings(data_dir=tmp_path, task_poll_interval=0.01, **settings)
    return Tasks(configured, database, clock=clock)


async def test_a_task_runs_reports_progress_and_succeeds(
    database: Database, tmp_path: Path
) -> None:
    tasks = queue(database, tmp_path)

    async def copy(task: Task, progress: Progress) -> dict[str, Any]:
        await progress.report(50, 100, "half")
        return {"copied": task.input["n"]}

    tasks.register("copy", copy)
    submitted = await tasks.submit("p", "copy", {"n": 3}, artifact_id="a1")
    assert submitted.status is TaskStatus.PENDING
    assert await tasks.run_one() is True
    assert await tasks.run_one() is False  # nothing left
    done = await tasks.get(Caller.with_role("p", "reader"), submitted.id)
    assert done.status is TaskStatus.SUCCESS and done.result == {"copied": 3}
    assert (done.done_bytes, done.total_bytes, done.message) == (50, 100, "half")
    assert done.attempts == 1 and done.expires_at is not None
    moment = Clock().now()
    artifact = Artifact("a1", "p", Status.ACTIVE, Visibility.PUBLIC, moment, moment)
    ours = await tasks.of_artifact(Caller.with_role("p", "reader"), artifact)
    assert [task.id for task in ours] == [submitted.id]
    with pytest.raises(NotFound):  # another project's task does not exist for it
        await tasks.get(Caller.with_role("other", "reader"), done.id)
    assert await tasks.of_artifact(Caller.with_role("other", "reader"), artifact) == []
    everyone = await tasks.of_artifact(Caller.with_role("other", "admin"), artifact)
    assert [task.id for task in everyone] == [submitted.id]


async def test_a_failing_task_is_undone_and_says_why(database: Database, tmp_path: Path) -> None:
    tasks = queue(database, tmp_path)
    undone: list[str] = []

    async def broken(task: Task, progress: Progress) -> None:
        raise BadRequest("the URL answered 404")

    def step(connection: Connection, task: Task, moment: datetime) -> str:
        # In the transaction that records the failure: seen together, or not at all.
        recorded = connection.execute(select(tasks_table.c.status, tasks_table.c.message)
                                      .where(tasks_table.c.id == task.id)).one()  # fmt: skip
        return f"{recorded.status}: {recorded.message}"

    async def after(result: str) -> None:
        undone.append(result)

    tasks.register("broken", broken, Undo(step, after))
    submitted = await tasks.submit("p", "broken", {})
    await tasks.run_one()
    failed = await tasks.get(Caller.with_role("p", "admin"), submitted.id)
    assert failed.status is TaskStatus.FAILURE and failed.message == "the URL answered 404"
    assert undone == ["failure: the URL answered 404"]


async def test_a_dead_runners_task_is_taken_over(database: Database, tmp_path: Path) -> None:
    clock = MovableClock()
    tasks = queue(database, tmp_path, clock, task_lease=0.2)
    runs: list[str] = []

    async def work(task: Task, progress: Progress) -> None:
        runs.append(task.id)

    tasks.register("work", work)
    submitted = await tasks.submit("p", "work", {})
    # A runner claims it and dies: its lease is never renewed.
    lease = clock.now() + timedelta(seconds=1.5)
    dead = await database.write(queries.claim, "dead-runner", lease, clock.now())
    assert dead is not None and dead.id == submitted.id
    assert await tasks.run_one() is False  # its lease still holds
    clock.move(seconds=1.6)
    assert await tasks.run_one() is True
    assert runs == [submitted.id]
    done = await tasks.get(Caller.with_role("p", "admin"), submitted.id)
    assert done.status is TaskStatus.SUCCESS and done.attempts == 2
    # The dead runner, were it to wake, can neither report nor finish.
    with pytest.raises(LeaseLost):
        await tasks.renew(done, "dead-runner")


async def test_a_task_that_keeps_killing_its_runner_fails(
    database: Database, tmp_path: Path
) -> None:
    tasks = queue(database, tmp_path, task_attempts=2)

    async def never_reached(task: Task, progress: Progress) -> None:
        raise AssertionError("a task past its attempts must not run again")

    tasks.register("doomed", never_reached)
    submitted = await tasks.submit("p", "doomed", {})
    for runner in ("one", "two"):  # both die
        await database.write(queries.claim, runner, Clock().now(), Clock().now())
    await tasks.run_one()
    failed = await tasks.get(Caller.with_role("p", "admin"), submitted.id)
    assert failed.status is TaskStatus.FAILURE and "gave up after 2 attempts" in failed.message


async def test_runners_sharing_a_queue_run_each_task_once(
    database_url: str, tmp_path: Path
) -> None:
    """Several runners, each with its own connections (as separate processes have)."""
    runs: Counter[str] = Counter()
    databases = [Database(database_url) for _ in range(3)]
    databases[0].upgrade()
    runners = [queue(database, tmp_path) for database in databases]

    async def work(task: Task, progress: Progress) -> None:
        runs[task.id] += 1
        await anyio.sleep(0.001)

    for runner in runners:
        runner.register("work", work)
    submitted = [(await runners[0].submit("p", "work", {"i": i})).id for i in range(50)]

    async def drain(runner: Tasks) -> None:
        while await runner.run_one():
            pass

    async with anyio.create_task_group() as group:
        for runner in runners:
            group.start_soon(drain, runner)
    assert runs == Counter({task_id: 1 for task_id in submitted})
    for database in databases:
        database.dispose()


async def test_a_runner_that_lost_its_task_neither_fails_nor_undoes_it(
    database: Database, tmp_path: Path
) -> None:
    tasks = queue(database, tmp_path)
    undone: list[str] = []

    async def work(task: Task, progress: Progress) -> None:
        pass

    def step(connection: Connection, task: Task, moment: datetime) -> None:
        undone.append(task.id)

    tasks.register("work", work, Undo(step))
    submitted = await tasks.submit("p", "work", {})
    await database.write(queries.claim, "stale", Clock().now(), Clock().now())  # claimed, then lost
    assert await tasks.run_one() is True  # taken over and done
    await tasks._fail(submitted, "stale", "the stale runner's error")
    done = await tasks.get(Caller.with_role("p", "admin"), submitted.id)
    assert done.status is TaskStatus.SUCCESS and undone == []


async def test_work_run_here_keeps_its_lease_while_it_waits(
    database: Database, tmp_path: Path
) -> None:
    """An upload run in its request may wait on a slow client longer than a lease: the
    task stays its own, no worker takes it over."""
    tasks = queue(database, tmp_path, task_lease=0.3)

    async def taken_over(task: Task, progress: Progress) -> None:
        raise AssertionError("a worker took over work that was running")

    tasks.register("slow", taken_over)

    async def slow_work(task: Task, progress: Progress) -> dict[str, Any]:
        await anyio.sleep(1.0)
        return {"done": True}

    stolen: list[bool] = []

    async def try_to_steal() -> None:
        await anyio.sleep(0.6)
        stolen.append(await tasks.run_one())

    async with anyio.create_task_group() as group:
        group.start_soon(try_to_steal)
        task = await tasks.run_here("p", "slow", {}, slow_work)
    assert stolen == [False] and task.status is TaskStatus.SUCCESS


async def test_a_task_tried_again_later_is_not_claimed_before_then(
    database: Database, tmp_path: Path
) -> None:
    tasks = queue(database, tmp_path)
    tries: list[float] = []

    async def flaky(task: Task, progress: Progress) -> dict[str, Any]:
        tries.append(time.monotonic())
        if len(tries) < 3:
            raise RetryLater(0.3, f"try {len(tries)} failed")
        return {"tries": len(tries)}

    tasks.register("flaky", flaky, attempts=3)
    submitted = await tasks.submit("p", "flaky", {})
    admin = Caller.with_role("p", "admin")
    assert await tasks.run_one() is True
    for attempt in (1, 2):
        waiting = await tasks.get(admin, submitted.id)
        assert waiting.status is TaskStatus.PENDING and waiting.message == f"try {attempt} failed"
        assert waiting.attempts == attempt and waiting.not_before is not None
        assert await tasks.run_one() is False  # not due yet
        deadline = time.monotonic() + 10
        while not await tasks.run_one():
            assert time.monotonic() < deadline, "the task did not become due"
            await anyio.sleep(0.01)
    assert [later - earlier >= 0.3 for earlier, later in pairwise(tries)] == [True, True]
    done = await tasks.get(admin, submitted.id)
    assert done.status is TaskStatus.SUCCESS and done.result == {"tries": 3}
    assert done.attempts == 3


async def test_a_task_type_may_have_its_own_number_of_attempts(
    database: Database, tmp_path: Path
) -> None:
    tasks = queue(database, tmp_path, task_attempts=5)

    async def never_done(task: Task, progress: Progress) -> None:
        raise RetryLater(0, "not yet")

    tasks.register("stubborn", never_done, attempts=2)
    submitted = await tasks.submit("p", "stubborn", {})
    for _ in range(3):
        assert await tasks.run_one() is True
    assert await tasks.run_one() is False
    failed = await tasks.get(Caller.with_role("p", "admin"), submitted.id)
    assert failed.status is TaskStatus.FAILURE and failed.message == "gave up after 2 attempts"


async def test_unlisted_task_types_are_listed_only_when_asked_for(
    database: Database, tmp_path: Path
) -> None:
    tasks = queue(database, tmp_path)

    async def work(task: Task, progress: Progress) -> None:
        pass

    tasks.register("work", work)
    tasks.register("bookkeeping", work, listed=False)
    shown = await tasks.submit("p", "work", {})
    hidden = await tasks.submit("p", "bookkeeping", {})
    admin = Caller.with_role("p", "admin")
    assert [task.id for task in await tasks.list_page(admin)] == [shown.id]
    asked = await tasks.list_page(admin, task_type="bookkeeping")
    assert [task.id for task in asked] == [hidden.id]
    assert (await tasks.get(admin, hidden.id)).id == hidden.id


async def test_finished_tasks_are_forgotten_once_their_time_is_over(
    database: Database, tmp_path: Path
) -> None:
    clock = MovableClock()
    tasks = queue(database, tmp_path, clock, task_time_to_live=0.2)

    async def work(task: Task, progress: Progress) -> None:
        pass

    tasks.register("work", work)
    finished = await tasks.submit("p", "work", {})
    await tasks.run_one()
    waiting = await tasks.submit("p", "work", {})
    assert await database.write(queries.forget_expired, clock.now()) == 0
    clock.move(seconds=0.3)
    assert await database.write(queries.forget_expired, clock.now()) == 1
    admin = Caller.with_role("p", "admin")
    with pytest.raises(NotFound):
        await tasks.get(admin, finished.id)
    assert (await tasks.get(admin, waiting.id)).status is TaskStatus.PENDING


async def test_a_lane_runs_beside_the_other_tasks_never_behind_them(
    database: Database, tmp_path: Path
) -> None:
    tasks = queue(database, tmp_path)
    started, release, finished = anyio.Event(), anyio.Event(), anyio.Event()
    delivered = anyio.Event()

    async def long_import(task: Task, progress: Progress) -> None:
        started.set()
        await release.wait()
        finished.set()

    async def deliver(task: Task, progress: Progress) -> None:
        delivered.set()

    tasks.register("long", long_import)
    tasks.register("deliver", deliver, lane="events")
    assert tasks.lanes == [None, "events"]
    early = await tasks.submit("p", "deliver", {})
    assert await tasks.run_one() is False  # the main loop leaves the lane's type alone
    long = await tasks.submit("p", "long", {})
    assert await tasks.run_one("events") is True  # the lane takes only its own type
    assert await tasks.run_one("events") is False
    admin = Caller.with_role("p", "admin")
    assert (await tasks.get(admin, early.id)).status is TaskStatus.SUCCESS
    delivered = anyio.Event()
    async with anyio.create_task_group() as workers:
        for lane in tasks.lanes:
            workers.start_soon(tasks.run_forever, lane)
        with anyio.fail_after(10):
            await started.wait()
        late = await tasks.submit("p", "deliver", {})
        with anyio.fail_after(10):
            await delivered.wait()  # while the long task still runs
        assert (await tasks.get(admin, long.id)).status is TaskStatus.PROCESSING
        release.set()
        with anyio.fail_after(10):
            await finished.wait()
        workers.cancel_scope.cancel()
    assert (await tasks.get(admin, late.id)).status is TaskStatus.SUCCESS
