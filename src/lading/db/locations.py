"""Queries on an artifact's locations as Glance's clients edit them: in order, each with
its metadata (``PATCH /locations``)."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from lading.db import blobs
from lading.db.artifacts import WITHOUT_DATA, set_status, status_of
from lading.db.models import artifacts, locations
from lading.db.models import blobs as blob_table
from lading.domain import Status


@dataclass(frozen=True, slots=True)
class NewLocation:
    """An external location to reference: a URL the http store reads, its size as read."""

    store: str
    key: str
    size: int
    metadata: Mapping[str, Any]


class Refusal(enum.Enum):
    """Why a change of an artifact's locations was not made."""

    CHANGED = enum.auto()  # the artifact no longer has the status the change expects
    HAS_IT = enum.auto()  # it has one of the new locations already
    LAST = enum.auto()  # the location to remove is its last one


@dataclass(frozen=True, slots=True)
class Refused:
    """A change not made, and why: the service says it as an error, raised in the
    transaction so that what the change wrote before is undone."""

    why: Refusal
    key: str | None = None  # the location the artifact has already (HAS_IT)


def place(
    connection: Connection,
    artifact_id: str,
    expected: Status,
    added: Sequence[tuple[int, NewLocation]],
    activation: Mapping[str, Any],
    now: datetime,
    becomes: Status = Status.ACTIVE,
) -> list[blobs.Blob] | Refused:
    """Insert each new location at its index, in turn. The artifact must still be
    ``expected``; a queued one becomes ``becomes``, with ``activation``'s values (its
    size, digests the client gave), and loses what locations a failed hash left it.
    Returns the blobs nobody references now, or why nothing is to be written."""
    doomed: list[blobs.Blob] = []
    if expected is Status.QUEUED:
        if not set_status(connection, artifact_id, [Status.QUEUED], becomes, **activation,
                          updated_at=now):  # fmt: skip
            return Refused(Refusal.CHANGED)
        doomed = blobs.release(connection, artifact_id)
    elif not _hold(connection, artifact_id, expected, now):
        return Refused(Refusal.CHANGED)
    order = ordered(connection, artifact_id)
    for index, location in added:
        if any(key == location.key and store == location.store for _, store, key in order):
            return Refused(Refusal.HAS_IT, location.key)
        blobs.refer(connection, artifact_id, location.store, location.key, location.size, now)
        blob_id = connection.execute(
            select(blob_table.c.id).where(
                blob_table.c.store == location.store, blob_table.c.key == location.key
            )
        ).scalar_one()
        _set_metadata(connection, artifact_id, blob_id, location.metadata)
        order.insert(index, (blob_id, location.store, location.key))
    _number(connection, artifact_id, [blob_id for blob_id, _, _ in order])
    # A location that a failed hash left, given again, was released above and referred to
    # again: its bytes stay (an rbd store would delete the snapshot the image now reads).
    kept = {blob_id for blob_id, _, _ in order}
    return [blob for blob in doomed if blob.id not in kept]


def hashed(
    connection: Connection,
    artifact_id: str,
    expected: Sequence[Status],
    digests: Mapping[str, str],
    now: datetime,
) -> bool:
    """A location's data hashed (do_secure_hash): the digests set, and an importing image
    active; False if the image is no longer ``expected``."""
    status = status_of(connection, artifact_id)
    if status is None or status not in expected:
        return False
    new = Status.ACTIVE if status is Status.IMPORTING else status
    return set_status(connection, artifact_id, [status], new, **digests, updated_at=now)


def unhashed(connection: Connection, artifact_id: str) -> None:
    """An active location's data that could not be hashed: no algorithm without digests."""
    connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact_id, artifacts.c.os_hash_value.is_(None))
        .values(os_hash_algo=None)
    )


def unverified(connection: Connection, artifact_id: str, now: datetime) -> None:
    """A location's data that did not match its validation data: the image queued again,
    without size or digests (the location stays until another is added)."""
    set_status(connection, artifact_id, [Status.IMPORTING], Status.QUEUED, **WITHOUT_DATA,
               updated_at=now)  # fmt: skip


def rewrite(
    connection: Connection,
    artifact_id: str,
    metadata: Sequence[tuple[int, Mapping[str, Any]]],
    now: datetime,
) -> Refused | None:
    """The same locations (blob ids), in this order, with this metadata each; why not,
    if the artifact is no longer active."""
    if not _hold(connection, artifact_id, Status.ACTIVE, now):
        return Refused(Refusal.CHANGED)
    for blob_id, given in metadata:
        _set_metadata(connection, artifact_id, blob_id, given)
    _number(connection, artifact_id, [blob_id for blob_id, _ in metadata])
    return None


def remove(
    connection: Connection, artifact_id: str, blob_id: int, now: datetime
) -> list[blobs.Blob] | Refused:
    """Drop one location of an active artifact, never its last; returns the blobs nobody
    references now, or why none was dropped."""
    if not _hold(connection, artifact_id, Status.ACTIVE, now):
        return Refused(Refusal.CHANGED)
    if len(ordered(connection, artifact_id)) <= 1:
        return Refused(Refusal.LAST)
    return blobs.release_ids(connection, artifact_id, [blob_id])


def ordered(connection: Connection, artifact_id: str) -> list[tuple[int, str, str]]:
    """(blob id, store, key) of each location, in the order the image shows them."""
    rows = connection.execute(
        select(locations.c.blob_id, blob_table.c.store, blob_table.c.key)
        .join(blob_table, blob_table.c.id == locations.c.blob_id)
        .where(locations.c.artifact_id == artifact_id)
        .order_by(func.coalesce(locations.c.position, -1), blob_table.c.store)
    )
    return [(int(row.blob_id), row.store, row.key) for row in rows]


def _hold(connection: Connection, artifact_id: str, status: Status, now: datetime) -> bool:
    """Write the artifact's row first, if it still has this status (whether it has): on
    PostgreSQL two edits of its locations then wait for each other."""
    written = connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact_id, artifacts.c.status == status)
        .values(updated_at=now)
    )
    return written.rowcount == 1


def _set_metadata(
    connection: Connection, artifact_id: str, blob_id: int, metadata: Mapping[str, Any]
) -> None:
    connection.execute(
        update(locations)
        .where(locations.c.artifact_id == artifact_id, locations.c.blob_id == blob_id)
        .values(metadata=json.dumps(dict(metadata)))
    )


def _number(connection: Connection, artifact_id: str, blob_ids: Sequence[int]) -> None:
    for position, blob_id in enumerate(blob_ids):
        connection.execute(
            update(locations)
            .where(locations.c.artifact_id == artifact_id, locations.c.blob_id == blob_id)
            .values(position=position)
        )
