"""The transactions of an import: it starts, succeeds or fails together with its task.

Glance's ``os_glance_*`` properties say where an import stands: the task that holds the
image (``os_glance_import_task``), the stores it writes to, and the stores it failed on.
A copy-image leaves the last two on the image, empty when nothing is left to copy or
nothing failed, as Glance does: Tempest's waiter takes a missing
``os_glance_importing_to_stores`` for a copy not started yet, and waits for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from lading.db import blobs
from lading.db.artifacts import WITHOUT_DATA, refuse_if_gone, set_properties, set_status
from lading.db.models import artifact_properties, artifacts, locations
from lading.db.tasks import insert_task
from lading.domain import Digests, Status, Task
from lading.errors import Gone

TASK = "os_glance_import_task"
IMPORTING_TO = "os_glance_importing_to_stores"
FAILED = "os_glance_failed_import"


def start(
    connection: Connection, task: Task, source: Status, stores: list[str], now: datetime
) -> bool:
    """``source`` (queued, or uploading once staged) -> importing, held by ``task``;
    False when the artifact is not in ``source``, or still receiving its stage; NotFound
    when it was deleted since the caller looked at it."""
    assert task.artifact_id is not None
    started = connection.execute(
        update(artifacts)
        .where(
            artifacts.c.id == task.artifact_id,
            artifacts.c.status == source,
            artifacts.c.upload_lease.is_(None),
        )
        .values(status=Status.IMPORTING, updated_at=now)
    )
    if started.rowcount != 1:
        refuse_if_gone(connection, task.artifact_id)
        return False
    set_properties(
        connection,
        task.artifact_id,
        {TASK: task.id, IMPORTING_TO: ",".join(stores) or None, FAILED: None},
    )
    insert_task(connection, task)
    return True


def add_copy(
    connection: Connection, blob_id: int, artifact_id: str, received: Digests
) -> blobs.Blob | None:
    """Reference a copy of the artifact's data in another store (copy-image), if the
    artifact still has data; returns a blob whose bytes turned out redundant."""
    status = connection.execute(
        select(artifacts.c.status).where(artifacts.c.id == artifact_id)
    ).scalar()
    if status not in (Status.ACTIVE, Status.DEACTIVATED, Status.IMPORTING):
        raise Gone(f"image {artifact_id} was deleted during the copy")
    return blobs.commit(
        connection, blob_id, artifact_id, received.size, received.md5, received.sha256
    )


def blob_ids(connection: Connection, artifact_id: str) -> list[int]:
    """The blobs the artifact's data lies in."""
    query = select(locations.c.blob_id).where(locations.c.artifact_id == artifact_id)
    return list(connection.execute(query).scalars())


def converted(
    connection: Connection, artifact_id: str, replaced: list[int], disk_format: str
) -> list[blobs.Blob]:
    """In the transaction that keeps an import's converted data: the data it replaces is
    released and the artifact says its new format; returns the blobs nobody references."""
    connection.execute(
        update(artifacts).where(artifacts.c.id == artifact_id).values(disk_format=disk_format)
    )
    return blobs.release_ids(connection, artifact_id, replaced)


def remove_copy(connection: Connection, artifact_id: str, store: str) -> list[blobs.Blob]:
    """Drop the artifact's data in one store (a copy that must be undone)."""
    return blobs.release_in(connection, artifact_id, store)


def activate(
    connection: Connection, artifact_id: str, task_id: str, failed: list[str], now: datetime
) -> bool:
    """importing -> active once its data is in place, if ``task_id`` holds the artifact;
    ``failed``: the stores the import could not write to."""
    if not held_by(connection, artifact_id, task_id) or not set_status(
        connection, artifact_id, [Status.IMPORTING], Status.ACTIVE, updated_at=now
    ):
        return False
    set_properties(
        connection, artifact_id, {TASK: None, IMPORTING_TO: None, FAILED: ",".join(failed) or None}
    )
    return True


def describe(
    connection: Connection,
    artifact_id: str,
    disk_format: str | None,
    container_format: str | None,
    properties: dict[str, str],
) -> None:
    """What a glance-download takes from the other region: formats and properties."""
    connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact_id)
        .values(disk_format=disk_format, container_format=container_format)
    )
    set_properties(connection, artifact_id, properties)


def start_copy(connection: Connection, task: Task, stores: list[str], now: datetime) -> bool:
    """copy-image: the active image, held by ``task`` while it stays active; False when it
    is not active or another import holds it."""
    assert task.artifact_id is not None
    status = connection.execute(
        select(artifacts.c.status).where(artifacts.c.id == task.artifact_id)
    ).scalar()
    holder = connection.execute(
        select(artifact_properties.c.value).where(
            artifact_properties.c.artifact_id == task.artifact_id,
            artifact_properties.c.name == TASK,
        )
    ).scalar()
    if status != Status.ACTIVE or holder is not None:
        return False
    set_properties(
        connection, task.artifact_id, {TASK: task.id, IMPORTING_TO: ",".join(stores), FAILED: ""}
    )
    connection.execute(
        update(artifacts).where(artifacts.c.id == task.artifact_id).values(updated_at=now)
    )
    insert_task(connection, task)
    return True


def copying(
    connection: Connection, artifact_id: str, remaining: list[str], failed: list[str]
) -> None:
    """The stores still to come and those that failed, as the copies go (empty: none)."""
    set_properties(
        connection, artifact_id, {IMPORTING_TO: ",".join(remaining), FAILED: ",".join(failed)}
    )


def succeed_copy(connection: Connection, artifact_id: str, failed: list[str]) -> None:
    set_properties(
        connection, artifact_id, {TASK: None, IMPORTING_TO: "", FAILED: ",".join(failed)}
    )


def end_copy(connection: Connection, artifact_id: str, task_id: str, stores: list[str]) -> None:
    """A failed copy-image: the image stays as it was, saying where copying failed."""
    if held_by(connection, artifact_id, task_id):
        set_properties(
            connection, artifact_id, {TASK: None, IMPORTING_TO: "", FAILED: ",".join(stores)}
        )


def held_by(connection: Connection, artifact_id: str, task_id: str) -> bool:
    """Whether the import ``task_id`` is the one holding the artifact."""
    holder = connection.execute(
        select(artifact_properties.c.value).where(
            artifact_properties.c.artifact_id == artifact_id, artifact_properties.c.name == TASK
        )
    ).scalar()
    return bool(holder == task_id)


def fail(
    connection: Connection,
    artifact_id: str,
    task_id: str,
    stores: list[str],
    now: datetime,
    failed: Status = Status.QUEUED,
) -> list[blobs.Blob]:
    """importing -> queued (or ``failed``: killed, for Glance v1's copy-from). Staged
    data goes too (a failed fetch's upload has dropped its partial data already);
    returns the blobs nothing references now. Another import's image is left alone."""
    if not held_by(connection, artifact_id, task_id):
        return []
    if not set_status(
        connection,
        artifact_id,
        [Status.IMPORTING],
        failed,
        upload_lease=None,
        lease_expires_at=None,
        upload_holder=None,
        updated_at=now,
        **WITHOUT_DATA,
    ):
        return []  # deleted, or active: nothing of this import to undo
    doomed = blobs.release(connection, artifact_id)
    set_properties(
        connection, artifact_id, {TASK: None, IMPORTING_TO: None, FAILED: ",".join(stores)}
    )
    return doomed
