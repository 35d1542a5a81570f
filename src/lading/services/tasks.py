"""Tasks: long work that any lading process may run, that a restart does not lose.

A task is submitted ``pending``. Each ``lading serve`` process runs a worker loop that
claims one at a time under a lease (``processing``), renews the lease while the work
reports progress, and records ``success`` (with a result) or ``failure`` (with a
message). A process that dies stops renewing; once its lease runs out another process
claims the task again, up to ``task_attempts`` times. Finished tasks are listed until
``task_time_to_live`` has passed. A handler may also ask to be tried again later
(``RetryLater``): the task waits, pending, until then (webhook deliveries back off so).

The work itself is a handler per task type, registered by the service that owns it. The
end of every task is an event (``task.finished``), recorded with it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

import anyio
from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import tasks as queries
from lading.db.engine import Database
from lading.domain import Artifact, Task, TaskStatus
from lading.errors import BadRequest, CatalogueUnavailable, LadingError, NotFound, StoreError
from lading.metrics import Metrics
from lading.services.access import Caller
from lading.services.events import Events
from lading.settings import Settings

log = logging.getLogger(__name__)
MiB = 1024 * 1024
REPORT_EVERY = 1.0  # seconds between progress reports (each also renews the task's lease)


class LeaseLost(Exception):
    """Another process took the task over: this runner must stop."""


class RetryLater(Exception):
    """What a handler raises for its task to be tried again, ``delay`` seconds from now at
    the earliest, saying ``message`` meanwhile: the task goes back to pending. Each try
    counts as an attempt (``Tasks.register``'s ``attempts``)."""

    def __init__(self, delay: float, message: str) -> None:
        super().__init__(message)
        self.delay = delay
        self.message = message


@dataclass(slots=True)
class Progress:
    """What a handler reports as it goes; each report also renews the task's lease."""

    task: Task
    _tasks: Tasks
    _token: str
    _clock: Clock

    async def report(self, done: int, total: int | None = None, message: str = "") -> None:
        self.task.done_bytes, self.task.total_bytes = done, total
        self.task.message = message
        await self._tasks.renew(self.task, self._token)

    async def event(self, name: str, text: str, kind: EventKind = "event") -> None:
        """Add to what the task tells of its course (``Task.events``), at once."""
        self.task.events.append(
            {"kind": kind, "name": name, "text": storable(text), "timestamp": self._clock.seconds()}
        )
        await self._tasks.renew(self.task, self._token)


Handler = Callable[[Task, Progress], Awaitable[dict[str, Any] | None]]
EventKind = Literal["event", "warning", "error"]


@dataclass(frozen=True, slots=True)
class Undo:
    """What undoes a task that failed for good (e.g. an import's status): ``step`` runs in
    the transaction that records the failure, so that nobody sees a failed task whose work
    still shows; ``after`` gets its result once committed (e.g. bytes to remove)."""

    step: Callable[[Connection, Task, datetime], Any]
    after: Callable[[Any], Awaitable[object]] | None = None


class Tasks:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        metrics: Metrics | None = None,
        events: Events | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._settings = settings
        self._database = database
        self._metrics = metrics or Metrics()
        self._events = events or Events({}, self._clock)
        self._handlers: dict[str, Handler] = {}
        self._on_failure: dict[str, Undo] = {}
        self._attempts: dict[str, int] = {}
        self._unlisted: set[str] = set()
        self._lanes: dict[str, set[str]] = {}  # task types run by a worker loop of their own

    def register(
        self,
        task_type: str,
        handler: Handler,
        on_failure: Undo | None = None,
        *,
        attempts: int | None = None,
        listed: bool = True,
        lane: str | None = None,
    ) -> None:
        """``attempts``: runs before the task fails for good (default ``task_attempts``);
        ``listed=False``: the server's own bookkeeping, left out of task listings unless
        they ask for the type; ``lane``: run by a worker loop of its own, so that these
        tasks and the others never wait behind each other."""
        self._handlers[task_type] = handler
        if on_failure is not None:
            self._on_failure[task_type] = on_failure
        if attempts is not None:
            self._attempts[task_type] = attempts
        if not listed:
            self._unlisted.add(task_type)
        if lane is not None:
            self._lanes.setdefault(lane, set()).add(task_type)

    @property
    def lanes(self) -> list[str | None]:
        """The worker loops a process runs: ``None`` for every type without a lane."""
        return [None, *self._lanes]

    async def submit(
        self,
        owner: str,
        task_type: str,
        task_input: dict[str, Any],
        artifact_id: str | None = None,
        *,
        request_id: str | None = None,
        user_id: str | None = None,
    ) -> Task:
        """A task for any process to run; ``request_id`` and ``user_id`` as in ``new``."""
        task = self.new(
            owner, task_type, task_input, artifact_id, request_id=request_id, user_id=user_id
        )
        await self._database.write(queries.insert_task, task)
        return task

    def new(
        self,
        owner: str,
        task_type: str,
        task_input: dict[str, Any],
        artifact_id: str | None = None,
        message: str = "",
        *,
        request_id: str | None = None,
        user_id: str | None = None,
    ) -> Task:
        """A task to insert in the caller's own transaction (``db.tasks.insert_task``);
        ``request_id`` and ``user_id`` say which request, and whose, made it: a caller's
        task is recorded with both, as Glance's are (the server's own with neither)."""
        assert task_type in self._handlers, task_type
        moment = self._clock.now()
        return Task(
            id=str(uuid.uuid4()),
            type=task_type,
            status=TaskStatus.PENDING,
            owner=owner,
            input=task_input,
            created_at=moment,
            updated_at=moment,
            artifact_id=artifact_id,
            message=message,
            request_id=request_id,
            user_id=user_id,
        )

    async def run_here(
        self,
        owner: str,
        task_type: str,
        task_input: dict[str, Any],
        work: Handler,
        artifact_id: str | None = None,
        *,
        request_id: str | None = None,
        user_id: str | None = None,
    ) -> Task:
        """Run ``work`` now, in this request, as a task others can follow: it is recorded
        as a task already claimed by this process and ends as tasks end. Should the
        process die meanwhile, the lease runs out and the handler registered for
        ``task_type`` gets it (to say it was cut off, and clean up). ``request_id`` and
        ``user_id`` as in ``new``."""
        token = uuid.uuid4().hex
        task = self.new(
            owner, task_type, task_input, artifact_id, request_id=request_id, user_id=user_id
        )
        task.status, task.attempts = TaskStatus.PROCESSING, 1
        await self._database.write(queries.insert_claimed, task, token, self._lease_until())
        async with anyio.create_task_group() as heartbeat:
            # The work reports as data comes; a client that pauses must not lose the lease.
            heartbeat.start_soon(self._keep_lease, task, token)
            await self._execute(task, token, work)
            heartbeat.cancel_scope.cancel()
        return task

    async def _keep_lease(self, task: Task, token: str) -> None:
        while True:
            await anyio.sleep(self._settings.task_lease / 3)
            try:
                await self.renew(task, token)
            except LeaseLost:
                return

    async def get(self, caller: Caller, task_id: str) -> Task:
        """A task of the caller's project (any, for admins); NotFound otherwise."""
        caller.require("get_task")
        task = await self._database.read(queries.fetch_task, task_id)
        if task is None or not may_see(caller, task):
            raise NotFound(f"no task with id {task_id}")
        return task

    async def list_page(
        self,
        caller: Caller,
        *,
        status: str | None = None,
        task_type: str | None = None,
        limit: int = 25,
        marker: str | None = None,
    ) -> list[Task]:
        caller.require("get_tasks")
        before = None
        if marker is not None:
            try:
                before = await self.get(caller, marker)
            except NotFound:
                raise BadRequest(f"marker {marker} is not a task you can see") from None
        return await self._database.read(
            queries.list_tasks, self._clock.now(), _owner(caller), None, status, task_type,
            limit, before, self._unlisted,
        )  # fmt: skip

    async def of_artifact(self, caller: Caller, artifact: Artifact) -> list[Task]:
        """The tasks of an artifact (as the catalogue gave it to the caller) that the
        caller may see, the newest first: as Glance's ``tasks_get_by_image``, another
        project sees none of the owner's tasks, even of a public artifact, since a task's
        input, result and message may hold URLs."""
        return await self._database.read(
            queries.list_tasks, self._clock.now(), _owner(caller), artifact.id, limit=100
        )

    async def backlog(self) -> dict[str, int]:
        return await self._database.read(queries.backlog)

    async def run_forever(self, lane: str | None = None) -> None:
        """A worker loop: claim and run the tasks of ``lane``, one at a time."""
        while True:
            try:
                ran = await self.run_one(lane)
            except CatalogueUnavailable:  # logged where it is met; wait for it to return
                ran = False
            except Exception:  # nothing must end the loop
                log.exception("the task loop failed; trying again")
                ran = False
            if not ran:
                await anyio.sleep(self._settings.task_poll_interval)

    async def run_one(self, lane: str | None = None) -> bool:
        """Claim one task of ``lane`` and run it; False when none was waiting."""
        token = uuid.uuid4().hex
        if lane is None:  # every type but those of the lanes (and unknown ones, to fail them)
            types, among = {kind for kinds in self._lanes.values() for kind in kinds}, False
        else:
            types, among = self._lanes[lane], True
        task = await self._database.write(
            queries.claim, token, self._lease_until(), self._clock.now(), types, among
        )
        if task is None:
            return False
        if task.attempts > self._attempts.get(task.type, self._settings.task_attempts):
            # Each attempt ended with its process (a crash, a kill): say so, once.
            log.warning(
                "task %s (%s) dropped: %d attempts ended without finishing",
                task.id, task.type, task.attempts - 1,
            )  # fmt: skip
            await self._fail(task, token, f"gave up after {task.attempts - 1} attempts")
            return True
        handler = self._handlers.get(task.type)
        if handler is None:
            await self._fail(task, token, f"this server cannot run {task.type} tasks")
            return True
        await self._execute(task, token, handler)
        return True

    async def _execute(self, task: Task, token: str, handler: Handler) -> None:
        """Run a claimed task and record how it ended (``task`` ends up as recorded)."""
        try:
            result = await handler(task, Progress(task, self, token, self._clock))
        except LeaseLost:
            log.warning("task %s was taken over by another process", task.id)
            return
        except RetryLater as later:
            await self._postpone(task, token, later)
            return
        except CatalogueUnavailable:
            # Not the task's fault, and its failure could not be recorded anyway: the
            # lease runs out and the task is tried again (an attempt).
            raise
        except LadingError as exc:
            if isinstance(exc, StoreError):
                self._metrics.store_errors.labels(exc.code).inc()
            await self._fail(task, token, str(exc))
            return
        except Exception as exc:
            log.exception("task %s failed", task.id)
            await self._fail(task, token, f"internal error: {type(exc).__name__}")
            return

        def record(connection: Connection) -> None:
            moment = self._clock.now()
            if queries.finish(
                connection, task, token, TaskStatus.SUCCESS, result, task.message, moment,
                self._expiry(),
            ):  # fmt: skip
                ended = replace(task, status=TaskStatus.SUCCESS, result=result, updated_at=moment)
                self._events.task_finished(connection, ended)

        await self._database.write(record)
        task.status, task.result = TaskStatus.SUCCESS, result

    async def _postpone(self, task: Task, token: str, later: RetryLater) -> None:
        message = storable(later.message)
        not_before = self._clock.now() + timedelta(seconds=later.delay)
        with anyio.CancelScope(shield=True):
            if not await self._database.write(
                queries.postpone, task, token, not_before, message, self._clock.now()
            ):
                log.warning("task %s was taken over by another process", task.id)
                return
        task.status, task.message, task.not_before = TaskStatus.PENDING, message, not_before

    async def renew(self, task: Task, token: str) -> None:
        if not await self._database.write(
            queries.renew, task, token, self._lease_until(), self._clock.now()
        ):
            raise LeaseLost(task.id)

    async def _fail(self, task: Task, token: str, message: str) -> None:
        """Record the failure and undo what the task started, at once; a runner that lost
        the task to another process records and undoes nothing."""
        message = storable(message)
        undo = self._on_failure.get(task.type)

        def record(connection: Connection) -> tuple[bool, Any]:
            moment = self._clock.now()
            held = queries.finish(
                connection, task, token, TaskStatus.FAILURE, None, message, moment,
                self._expiry(),
            )  # fmt: skip
            if held:
                ended = replace(task, status=TaskStatus.FAILURE, message=message,
                                updated_at=moment)  # fmt: skip
                self._events.task_finished(connection, ended)
            return held, (undo.step(connection, task, moment) if held and undo else None)

        with anyio.CancelScope(shield=True):
            held, undone = await self._database.write(record)
            if not held:
                log.warning("task %s failed after another process took it over", task.id)
                return
            task.status, task.message = TaskStatus.FAILURE, message
            if undo is not None and undo.after is not None:
                try:
                    await undo.after(undone)
                except Exception:
                    log.exception("cleaning up after task %s failed", task.id)

    def _lease_until(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._settings.task_lease)

    def _expiry(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._settings.task_time_to_live)


def may_see(caller: Caller, task: Task) -> bool:
    """Whether the caller may know of the task at all (and then all of it, bar sealed
    secrets): the rule of every face that shows tasks."""
    return caller.is_admin or task.owner == caller.project


def _owner(caller: Caller) -> str | None:
    """The owner whose tasks a listing is kept to (None: any), as ``may_see`` has it."""
    return None if caller.is_admin else caller.project


class Sized(Protocol):
    @property
    def size(self) -> int | None: ...


async def reporting(
    chunks: AsyncIterable[bytes], progress: Progress, whole: Sized | None = None
) -> AsyncIterator[bytes]:
    """The chunks (of ``whole``, whose size may be known), reported as they pass (which
    also renews the task's lease)."""
    done, reported = 0, time.monotonic()
    async for chunk in chunks:
        done += len(chunk)
        if time.monotonic() - reported >= REPORT_EVERY:
            reported = time.monotonic()
            total = None if whole is None else whole.size
            await progress.report(done, total, f"Copied {done // MiB} MiB")
        yield chunk
    progress.task.done_bytes = done


def storable(text: str) -> str:
    """``text`` as UTF-8 can hold it: what a task tells may quote what a client sent."""
    return text.encode("utf-8", "backslashreplace").decode()
