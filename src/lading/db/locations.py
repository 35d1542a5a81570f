"""Queries on an artifact's locations as Glance's clients edit them: in order, each with
its metadata (``PATCH /locations``)."""

from __future__ import annotations

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
from lading.errors import BadRequest, Conflict


@dataclass(frozen=True, slots=True)
class NewLocation:
    """An external location to reference: a URL the http store reads, its size as read."""

    store: str
    key: str
    size: int
    metadata: Mapping[str, Any]


def place(
    connection: Connection,
    artifact_id: str,
    expected: Status,
    added: Sequence[tuple[int, NewLocation]],
    activation: Mapping[str, Any],
    now: datetime,
    becomes: Status = Status.ACTIVE,
) -> list[blobs.Blob]:
    """Insert each new location at its index, in turn. The artifact must still be
    ``expected``; a queued one becomes ``becomes``, with ``activation``'s values (its
    size, digests the client gave), and loses what locations a failed hash left it.
    Returns the blobs nobody references now."""
    doomed: list[blobs.Blob] = []
    if expected is Status.QUEUED:
        if not set_status(connection, artifact_id, [Status.QUEUED], becomes, **activation,
                          updated_at=now):  # fmt: skip
            raise Conflict(f"image {artifact_id} is no longer queued")
        doomed = blobs.release(connection, artifact_id)
    else:
        _hold(connection, artifact_id, expected, now)
    order = ordered(connection, artifact_id)
    for index, location in added:
        if any(key == location.key and store == location.store for _, store, key in order):
            raise BadRequest(f"the image already has the location {location.key}")
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
) -> None:
    """The same locations (blob ids), in this order, with this metadata each."""
    _hold(connection, artifact_id, Status.ACTIVE, now)
    for blob_id, given in metadata:
        _set_metadata(connection, artifact_id, blob_id, given)
    _number(connection, artifact_id, [blob_id for blob_id, _ in metadata])


def remove(
    connection: Connection, artifact_id: str, blob_id: int, now: datetime
) -> list[blobs.Blob]:
    """Drop one location of an active artifact, never its last; returns the blobs nobody
    references now."""
    _hold(connection, artifact_id, Status.ACTIVE, now)
    if len(ordered(connection, artifact_id)) <= 1:
        raise Conflict("the image changed meanwhile: its last location cannot be removed")
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


def _hold(connection: Connection, artifact_id: str, status: Status, now: datetime) -> None:
    """Write the artifact's row first, if it still has this status: on PostgreSQL two
    edits of its locations then wait for each other."""
    written = connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact_id, artifacts.c.status == status)
        .values(updated_at=now)
    )
    if written.rowcount != 1:
        raise Conflict(f"image {artifact_id} is no longer {status}")


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
