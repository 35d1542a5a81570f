"""Queries on tasks. Every function takes the ``Connection`` of its transaction.

Claiming is a compare-and-set: on PostgreSQL the candidate row is locked with ``FOR
UPDATE SKIP LOCKED`` so that processes claim different tasks at once; SQLite has one
writer at a time (``BEGIN IMMEDIATE``), so its claims never race. A pending task with a
``not_before`` in the future (one to be tried again later) is not claimable until then.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping

from lading.db.models import tasks
from lading.domain import Task, TaskStatus

COLUMNS = [column for column in tasks.c if column.name not in ("lease_token", "lease_expires_at")]


def insert_task(connection: Connection, task: Task) -> None:
    connection.execute(insert(tasks).values(_row(task)))


def insert_claimed(connection: Connection, task: Task, token: str, lease_until: datetime) -> None:
    """A task that its submitter runs at once, holding the lease as a claim would."""
    row = _row(task) | {"lease_token": token, "lease_expires_at": lease_until}
    connection.execute(insert(tasks).values(row))


def fetch_task(connection: Connection, task_id: str) -> Task | None:
    row = connection.execute(select(*COLUMNS).where(tasks.c.id == task_id)).mappings().first()
    return None if row is None else _task(row)


def list_tasks(
    connection: Connection,
    now: datetime,
    owner: str | None = None,
    artifact_id: str | None = None,
    status: str | None = None,
    task_type: str | None = None,
    limit: int = 25,
    before: Task | None = None,
    unlisted: Collection[str] = (),
) -> list[Task]:
    """Unexpired tasks, the newest first; ``before``: the page after that task. Tasks of
    the ``unlisted`` types are left out unless ``task_type`` asks for them."""
    query = select(*COLUMNS).where(or_(tasks.c.expires_at.is_(None), tasks.c.expires_at > now))
    if task_type is None and unlisted:
        query = query.where(tasks.c.type.not_in(list(unlisted)))
    for column, value in (
        (tasks.c.owner, owner),
        (tasks.c.artifact_id, artifact_id),
        (tasks.c.status, status),
        (tasks.c.type, task_type),
    ):
        if value is not None:
            query = query.where(column == value)
    if before is not None:
        query = query.where(
            or_(
                tasks.c.created_at < before.created_at,
                and_(tasks.c.created_at == before.created_at, tasks.c.id < before.id),
            )
        )
    query = query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit)
    return [_task(row) for row in connection.execute(query).mappings()]


def claim(
    connection: Connection,
    token: str,
    lease_until: datetime,
    now: datetime,
    types: Collection[str] = (),
    among: bool = False,
) -> Task | None:
    """Take the oldest task waiting (and due), or one whose runner's lease ran out, under a
    lease: one of ``types`` if ``among``, else one of any other type."""
    claimable = or_(
        and_(
            tasks.c.status == TaskStatus.PENDING.value,
            or_(tasks.c.not_before.is_(None), tasks.c.not_before <= now),
        ),
        and_(tasks.c.status == TaskStatus.PROCESSING.value, tasks.c.lease_expires_at < now),
    )
    if among:
        claimable = and_(claimable, tasks.c.type.in_(types))
    elif types:
        claimable = and_(claimable, tasks.c.type.not_in(types))
    candidate = select(tasks.c.id).where(claimable).order_by(tasks.c.created_at).limit(1)
    if connection.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    task_id = connection.execute(candidate).scalar()
    if task_id is None:
        return None
    taken = connection.execute(
        update(tasks)
        .where(tasks.c.id == task_id, claimable)
        .values(
            status=TaskStatus.PROCESSING.value,
            lease_token=token,
            lease_expires_at=lease_until,
            attempts=tasks.c.attempts + 1,
            updated_at=now,
        )
    )
    return fetch_task(connection, task_id) if taken.rowcount == 1 else None


def renew(
    connection: Connection, task: Task, token: str, lease_until: datetime, now: datetime
) -> bool:
    """Extend the lease and record the task's progress; False when the lease was lost."""
    return _update_held(
        connection,
        task.id,
        token,
        lease_expires_at=lease_until,
        done_bytes=task.done_bytes,
        total_bytes=task.total_bytes,
        message=task.message,
        events=_events(task),
        updated_at=now,
    )


def finish(
    connection: Connection,
    task: Task,
    token: str,
    status: TaskStatus,
    result: dict[str, Any] | None,
    message: str,
    now: datetime,
    expires_at: datetime,
) -> bool:
    """success or failure, if the lease is still this runner's."""
    return _update_held(
        connection,
        task.id,
        token,
        status=status.value,
        result=None if result is None else json.dumps(result),
        message=message,
        events=_events(task),
        lease_token=None,
        lease_expires_at=None,
        updated_at=now,
        expires_at=expires_at,
    )


def postpone(
    connection: Connection,
    task: Task,
    token: str,
    not_before: datetime,
    message: str,
    now: datetime,
) -> bool:
    """Back to pending, to be claimed again from ``not_before`` (its attempts kept), if the
    lease is still this runner's."""
    return _update_held(
        connection,
        task.id,
        token,
        status=TaskStatus.PENDING.value,
        not_before=not_before,
        message=message,
        events=_events(task),
        lease_token=None,
        lease_expires_at=None,
        updated_at=now,
    )


def _update_held(connection: Connection, task_id: str, token: str, **values: Any) -> bool:
    """Update the task if the runner with ``token`` still holds it."""
    result = connection.execute(
        update(tasks).where(tasks.c.id == task_id, tasks.c.lease_token == token).values(**values)
    )
    return result.rowcount == 1


def forget_expired(connection: Connection, now: datetime) -> int:
    """Remove finished tasks whose time to be listed is over; returns how many."""
    result = connection.execute(delete(tasks).where(tasks.c.expires_at < now))
    return int(result.rowcount)


def backlog(connection: Connection) -> dict[str, int]:
    """How many tasks wait, and how many run."""
    waiting = [TaskStatus.PENDING.value, TaskStatus.PROCESSING.value]
    rows = connection.execute(
        select(tasks.c.status, func.count())
        .where(tasks.c.status.in_(waiting))
        .group_by(tasks.c.status)
    )
    return {status: 0 for status in waiting} | {str(status): int(n) for status, n in rows}


def _row(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "artifact_id": task.artifact_id,
        "input": json.dumps(task.input),
        "result": None if task.result is None else json.dumps(task.result),
        "message": task.message,
        "done_bytes": task.done_bytes,
        "total_bytes": task.total_bytes,
        "attempts": task.attempts,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "expires_at": task.expires_at,
        "events": _events(task),
        "not_before": task.not_before,
        "request_id": task.request_id,
        "user_id": task.user_id,
    }


def _events(task: Task) -> str | None:
    return json.dumps(task.events) if task.events else None


def _task(row: RowMapping) -> Task:
    values = dict(row)
    values["status"] = TaskStatus(values["status"])
    values["input"] = json.loads(values["input"])
    values["result"] = None if values["result"] is None else json.loads(values["result"])
    values["events"] = json.loads(values["events"]) if values["events"] else []
    return Task(**values)
