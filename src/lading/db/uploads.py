"""The transactions of an upload, each guarded by the upload's lease.

An upload holds a ``saving`` artifact through a lease: a random token and an expiry
that the upload renews while bytes flow. Every write of the upload checks the token,
so an upload that recovery gave up on cannot disturb the one that came after it, and
editing metadata meanwhile (which changes ``updated_at``) does not break the upload.

The lease also names its holder, the process running the upload (db.holders): an
upload whose holder died is recovered at once, without waiting for its expiry, which
only bounds how long a live upload may go without receiving a byte.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, update

from lading.db import blobs, holders
from lading.db.artifacts import WITHOUT_DATA, refuse_if_gone, set_status
from lading.db.models import artifacts
from lading.domain import GONE, HASH_ALGO, Digests, Status
from lading.errors import Conflict
from lading.processes import Holder


@dataclass(slots=True)
class Lease:
    artifact_id: str
    token: str
    store: str
    key: str
    blob_id: int | None = None
    # saving for an upload, uploading for a stage (glance-direct), importing for an import
    # (which its task holds already)
    status: Status = Status.SAVING
    # where a failed upload leaves the artifact: queued (v2), or killed (Glance v1)
    failed: Status = Status.QUEUED
    holder: Holder | None = None  # the process running the upload; None: only the expiry


RECEIVING = (Status.SAVING, Status.UPLOADING)  # what recovery takes back (imports: tasks)


def begin(connection: Connection, lease: Lease, expires_at: datetime, now: datetime) -> int:
    """queued -> saving (an import: importing -> importing) under ``lease``; reserve the
    blob the bytes go to, and return its id."""
    source = Status.IMPORTING if lease.status is Status.IMPORTING else Status.QUEUED
    holder = None if lease.holder is None else lease.holder.id
    if not set_status(
        connection,
        lease.artifact_id,
        [source],
        lease.status,
        upload_lease=lease.token,
        lease_expires_at=expires_at,
        upload_holder=holder,
    ):
        refuse_if_gone(connection, lease.artifact_id)
        raise Conflict(f"artifact {lease.artifact_id} is no longer {source}")
    # The holder beats with the reservation: one whose first beat failed would seem dead.
    return blobs.reserve(connection, lease.store, lease.key, now, lease.holder)


class Lost(enum.Enum):
    """Why an upload no longer holds its artifact (the service says it as an error)."""

    DELETED = enum.auto()  # the artifact was deleted during the upload
    GIVEN_UP = enum.auto()  # recovery gave the upload up as stuck, or its process as dead


def renew(connection: Connection, lease: Lease, expires_at: datetime, now: datetime) -> Lost | None:
    """Push the lease's expiry back; why not, when the upload no longer holds it."""
    result = connection.execute(
        update(artifacts)
        .where(artifacts.c.id == lease.artifact_id, artifacts.c.upload_lease == lease.token)
        .values(lease_expires_at=expires_at)
    )
    if result.rowcount != 1:
        return _lost(connection, lease)
    assert lease.blob_id is not None
    blobs.touch(connection, lease.blob_id, now)
    return None


def check_held(connection: Connection, lease: Lease) -> Lost | None:
    """Why the upload no longer holds its artifact, if it does not."""
    held = connection.execute(
        select(artifacts.c.id).where(
            artifacts.c.id == lease.artifact_id, artifacts.c.upload_lease == lease.token
        )
    ).first()
    return _lost(connection, lease) if held is None else None


def activate(
    connection: Connection,
    lease: Lease,
    received: Digests,
    now: datetime,
    final: Status = Status.ACTIVE,
    virtual_size: int | None = None,
) -> blobs.Blob | Lost | None:
    """saving -> active (a stage: uploading, until imported) with the received bytes and
    the virtual size their inspection found.

    Returns a blob whose bytes turned out to duplicate stored ones, for removal; or why
    the upload no longer holds the artifact (what this wrote is then to be undone).
    """
    assert lease.blob_id is not None
    redundant = blobs.commit(
        connection, lease.blob_id, lease.artifact_id, received.size, received.md5,
        received.sha256,
    )  # fmt: skip
    if not _end(
        connection,
        lease,
        final,
        size=received.size,
        checksum=received.md5,
        os_hash_algo=HASH_ALGO,
        os_hash_value=received.sha256,
        virtual_size=virtual_size,
        updated_at=now,
    ):
        return _lost(connection, lease)
    return redundant


def register(
    connection: Connection,
    artifact_id: str,
    store: str,
    key: str,
    size: int,
    checksum: str | None,
    now: datetime,
) -> None:
    """queued -> active with bytes served elsewhere (an external location): no upload,
    no lease; the checksum is the client's word, when given."""
    if not set_status(
        connection, artifact_id, [Status.QUEUED], Status.ACTIVE, size=size, checksum=checksum,
        updated_at=now,
    ):  # fmt: skip
        raise Conflict(f"artifact {artifact_id} is no longer queued")
    blobs.refer(connection, artifact_id, store, key, size, now)


def abandon(connection: Connection, lease: Lease) -> None:
    """saving or uploading -> the lease's ``failed`` status (queued, as the artifact was
    before, unless the face says killed), if the lease holds. An import stays importing:
    its task fails (and undoes) or is taken over and goes on."""
    _end(connection, lease, Status.IMPORTING if lease.status is Status.IMPORTING else lease.failed)


def expire(connection: Connection, now: datetime) -> int:
    """Put every upload or stage whose lease ran out back to queued; return how many."""
    result = connection.execute(
        update(artifacts)
        .where(artifacts.c.status.in_(RECEIVING), artifacts.c.lease_expires_at < now)
        .values(status=Status.QUEUED, upload_lease=None, lease_expires_at=None, upload_holder=None)
    )
    return int(result.rowcount)


def recover_dead(connection: Connection, beaten_since: datetime, gone: Collection[str]) -> int:
    """Put every upload or stage whose holder died (``holders.is_dead``) back to queued,
    however long its lease had to run; return how many."""
    result = connection.execute(
        update(artifacts)
        .where(
            artifacts.c.status.in_(RECEIVING),
            artifacts.c.upload_lease.is_not(None),
            holders.is_dead(artifacts.c.upload_holder, beaten_since, gone),
        )
        .values(status=Status.QUEUED, upload_lease=None, lease_expires_at=None, upload_holder=None)
    )
    return int(result.rowcount)


def expire_stages(connection: Connection, staged_before: datetime, now: datetime) -> list[str]:
    """Put images whose staged data waited for an import since ``staged_before`` back to
    queued, the data released; return their ids (their blobs are doomed by then)."""
    stale = connection.execute(
        select(artifacts.c.id).where(
            artifacts.c.status == Status.UPLOADING,
            artifacts.c.upload_lease.is_(None),  # done receiving
            artifacts.c.updated_at < staged_before,
        )
    ).scalars()
    expired = []
    for artifact_id in stale.all():
        if set_status(
            connection, artifact_id, [Status.UPLOADING], Status.QUEUED, updated_at=now,
            **WITHOUT_DATA,
        ):  # fmt: skip
            blobs.release(connection, artifact_id)
            expired.append(artifact_id)
    return expired


def _lost(connection: Connection, lease: Lease) -> Lost:
    """Why the upload no longer holds its artifact: deleted, or given up."""
    status = connection.execute(
        select(artifacts.c.status).where(artifacts.c.id == lease.artifact_id)
    ).scalar()
    return Lost.DELETED if status in GONE else Lost.GIVEN_UP


def _end(connection: Connection, lease: Lease, new: Status, **values: object) -> bool:
    result = connection.execute(
        update(artifacts)
        .where(
            artifacts.c.id == lease.artifact_id,
            artifacts.c.status == lease.status,
            artifacts.c.upload_lease == lease.token,
        )
        .values(status=new, upload_lease=None, lease_expires_at=None, upload_holder=None, **values)
    )
    return result.rowcount == 1
