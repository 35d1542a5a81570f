"""The transactions of an import: it starts, succeeds or fails together with its task.

Glance's ``os_glance_*`` properties say where an import stands: the task that holds the
image (``os_glance_import_task``), the stores it writes to, and the stores it failed on.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from lading.db.artifacts import set_properties, set_status
from lading.db.tasks import insert_task
from lading.domain import Status, Task

TASK = "os_glance_import_task"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"


def start(connection: Connection, task: Task, stores: list[str], now: datetime) -> bool:
    """queued -> importing, held by ``task``; False when the artifact is not queued."""
    assert task.artifact_id is not None
    if not set_status(connection, task.artifact_id, [Status.QUEUED], Status.IMPORTING,
                      updated_at=now):  # fmt: skip
        return False
    set_properties(
        connection,
        task.artifact_id,
        {TASK: task.id, IMPORTING_TO: ",".join(stores) or None, FAILED: None},
    )
    insert_task(connection, task)
    return True


def succeed(connection: Connection, artifact_id: str) -> None:
    set_properties(connection, artifact_id, {TASK: None, IMPORTING_TO: None, FAILED: None})


def fail(connection: Connection, artifact_id: str, stores: list[str], now: datetime) -> None:
    """importing -> queued (its partial data is dropped by the upload that failed)."""
    set_status(
        connection,
        artifact_id,
        [Status.IMPORTING],
        Status.QUEUED,
        upload_lease=None,
        lease_expires_at=None,
        updated_at=now,
    )
    set_properties(
        connection, artifact_id, {TASK: None, IMPORTING_TO: None, FAILED: ",".join(stores)}
    )
