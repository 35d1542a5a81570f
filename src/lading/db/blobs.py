"""Queries on blobs: stored objects shared by reference between artifacts.

A blob is ``pending`` while its bytes are written, ``ready`` once committed (then
unique per store and sha256), and ``doomed`` when its last reference went away and
its bytes wait to be removed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from lading.db import holders
from lading.db.models import blobs, locations
from lading.errors import Conflict
from lading.processes import Holder

PENDING, READY, DOOMED = "pending", "ready", "doomed"


@dataclass(frozen=True, slots=True)
class Blob:
    id: int
    store: str
    key: str


def new_key() -> str:
    """A fresh object key, spread over 256 folders by its first two characters."""
    name = uuid.uuid4().hex
    return f"{name[:2]}/{name}"


def reserve(
    connection: Connection, store: str, key: str, now: datetime, holder: Holder | None = None
) -> int:
    """Record an object about to be written by ``holder``, so that a crash cannot orphan
    it. The holder beats with it: one not yet registered would be judged dead."""
    if holder is not None:
        holders.beat(connection, holder, now)
    result = connection.execute(
        insert(blobs).values(
            store=store,
            key=key,
            state=PENDING,
            refcount=0,
            updated_at=now,
            holder=None if holder is None else holder.id,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def commit(
    connection: Connection,
    blob_id: int,
    artifact_id: str,
    size: int,
    checksum: str,
    sha256: str,
) -> Blob | None:
    """Make a pending blob ready and reference it from ``artifact_id``.

    When the store already holds the same bytes, the existing blob gains the
    reference instead, and the pending one is doomed and returned so that the
    caller removes its now redundant bytes.
    """
    settled = settle(connection, blob_id, size, checksum, sha256)
    connection.execute(insert(locations).values(artifact_id=artifact_id, blob_id=settled.kept))
    return settled.redundant


@dataclass(frozen=True, slots=True)
class Settled:
    """A pending blob made ready: the blob that holds the bytes now (``kept``), and the
    pending one when it turned out redundant (its bytes to remove)."""

    kept: int
    redundant: Blob | None


def settle(connection: Connection, blob_id: int, size: int, checksum: str, sha256: str) -> Settled:
    """Make a pending blob ready with one reference, for the caller to record; or, when
    the store already holds the same bytes, give that blob the reference instead and doom
    the pending one (``commit``, without the artifact's location)."""
    pending = connection.execute(
        select(blobs).where(blobs.c.id == blob_id, blobs.c.state == PENDING)
    ).first()
    if pending is None:
        raise Conflict("the upload was given up as stuck and its bytes removed")
    shared = _share(connection, pending.store, sha256)
    if shared is None:
        try:
            with connection.begin_nested():
                connection.execute(
                    update(blobs)
                    .where(blobs.c.id == blob_id)
                    .values(state=READY, size=size, checksum=checksum, sha256=sha256, refcount=1)
                )
        except IntegrityError:
            # A concurrent upload of the same bytes committed first: share its blob.
            shared = _share(connection, pending.store, sha256)
            if shared is None:
                raise
    if shared is None:
        return Settled(blob_id, None)
    # Doomed rather than deleted: its bytes must go before its record does.
    connection.execute(update(blobs).where(blobs.c.id == blob_id).values(state=DOOMED))
    return Settled(shared, Blob(pending.id, pending.store, pending.key))


def add_reference(connection: Connection, blob_id: int) -> bool:
    """One more reference to a live blob (a registry's cross-repository mount); False
    when it is no longer live."""
    result = connection.execute(
        update(blobs)
        .where(blobs.c.id == blob_id, blobs.c.state == READY, blobs.c.refcount > 0)
        .values(refcount=blobs.c.refcount + 1)
    )
    return result.rowcount > 0


def drop_references(connection: Connection, blob_ids: list[int]) -> list[Blob]:
    """One reference fewer to each blob (ids may repeat); the blobs nobody references
    now, doomed, for their bytes to be removed."""
    for blob_id in blob_ids:
        connection.execute(
            update(blobs).where(blobs.c.id == blob_id).values(refcount=blobs.c.refcount - 1)
        )
    doomed = connection.execute(
        update(blobs)
        .where(blobs.c.id.in_(blob_ids), blobs.c.refcount <= 0, blobs.c.state == READY)
        .values(state=DOOMED)
        .returning(blobs.c.id, blobs.c.store, blobs.c.key)
    )
    return [Blob(row.id, row.store, row.key) for row in doomed]


def doom_pending(connection: Connection, blob_ids: list[int]) -> list[Blob]:
    """Doom pending blobs (an abandoned upload's parts), for their bytes to be removed."""
    if not blob_ids:
        return []
    doomed = connection.execute(
        update(blobs)
        .where(blobs.c.id.in_(blob_ids), blobs.c.state == PENDING)
        .values(state=DOOMED)
        .returning(blobs.c.id, blobs.c.store, blobs.c.key)
    )
    return [Blob(row.id, row.store, row.key) for row in doomed]


def refer(
    connection: Connection, artifact_id: str, store: str, key: str, size: int, now: datetime
) -> None:
    """Reference bytes lading did not write (an external location): one blob per URL,
    shared by every artifact registered at it, as long as the size it had holds."""
    for _ in range(2):  # a concurrent first registration of the URL: share its blob
        shared = connection.execute(
            update(blobs)
            .where(blobs.c.store == store, blobs.c.key == key)
            .values(state=READY, refcount=blobs.c.refcount + 1)
            .returning(blobs.c.id, blobs.c.size, blobs.c.refcount)
        ).first()
        if shared is not None:
            if shared.size != size and shared.refcount > 1:
                raise Conflict(
                    f"{key} now holds {size} bytes, and images registered there before hold "
                    f"{shared.size}: register it again once they are gone"
                )
            if shared.size != size:  # nobody used the old size: the blob was doomed
                connection.execute(update(blobs).where(blobs.c.id == shared.id).values(size=size))
            blob_id = int(shared.id)
            break
        values = {"store": store, "key": key, "state": READY, "size": size, "refcount": 1}
        try:
            with connection.begin_nested():
                result = connection.execute(insert(blobs).values(**values, updated_at=now))
        except IntegrityError:
            continue
        blob_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        break
    else:
        raise Conflict(f"{key} is being registered by another request; try again")
    connection.execute(insert(locations).values(artifact_id=artifact_id, blob_id=blob_id))


def _share(connection: Connection, store: str, sha256: str) -> int | None:
    """Add a reference to the live blob holding these bytes, if there is one."""
    row = connection.execute(
        update(blobs)
        .where(
            blobs.c.store == store,
            blobs.c.sha256 == sha256,
            blobs.c.state == READY,
            blobs.c.refcount > 0,
        )
        .values(refcount=blobs.c.refcount + 1)
        .returning(blobs.c.id)
    ).first()
    return None if row is None else int(row.id)


def sole(connection: Connection, artifact_id: str) -> list[Blob]:
    """The artifact's blobs that no other artifact references: those its deletion frees."""
    rows = connection.execute(
        select(blobs.c.id, blobs.c.store, blobs.c.key)
        .join(locations, locations.c.blob_id == blobs.c.id)
        .where(locations.c.artifact_id == artifact_id, blobs.c.refcount <= 1)
    )
    return [Blob(row.id, row.store, row.key) for row in rows]


def release(connection: Connection, artifact_id: str) -> list[Blob]:
    """Drop an artifact's references; return the blobs that nobody references now."""
    return release_in(connection, artifact_id, None)


def release_in(connection: Connection, artifact_id: str, store: str | None) -> list[Blob]:
    """As ``release``, for the artifact's data in one store only (None: in all)."""
    query = select(locations.c.blob_id).where(locations.c.artifact_id == artifact_id)
    if store is not None:
        query = query.join(blobs, blobs.c.id == locations.c.blob_id).where(blobs.c.store == store)
    return release_ids(connection, artifact_id, list(connection.execute(query).scalars()))


def release_ids(connection: Connection, artifact_id: str, blob_ids: list[int]) -> list[Blob]:
    """As ``release``, for the artifact's references to these blobs only."""
    if not blob_ids:
        return []
    connection.execute(
        delete(locations).where(
            locations.c.artifact_id == artifact_id, locations.c.blob_id.in_(blob_ids)
        )
    )
    connection.execute(
        update(blobs).where(blobs.c.id.in_(blob_ids)).values(refcount=blobs.c.refcount - 1)
    )
    doomed = connection.execute(
        update(blobs)
        .where(blobs.c.id.in_(blob_ids), blobs.c.refcount <= 0)
        .values(state=DOOMED)
        .returning(blobs.c.id, blobs.c.store, blobs.c.key)
    )
    return [Blob(row.id, row.store, row.key) for row in doomed]


def sizes(connection: Connection, blob_ids: list[int]) -> int:
    """The bytes these blobs hold, together."""
    if not blob_ids:
        return 0
    total = connection.execute(
        select(func.coalesce(func.sum(blobs.c.size), 0)).where(blobs.c.id.in_(blob_ids))
    ).scalar()
    return int(total or 0)


def touch(connection: Connection, blob_id: int, now: datetime) -> None:
    """Mark a pending blob as still being written."""
    connection.execute(update(blobs).where(blobs.c.id == blob_id).values(updated_at=now))


def forget(connection: Connection, blob_id: int) -> None:
    """Remove a blob's record once its bytes are gone."""
    connection.execute(delete(blobs).where(blobs.c.id == blob_id, blobs.c.refcount <= 0))


def doom_dead(connection: Connection, beaten_since: datetime, gone: Collection[str]) -> list[Blob]:
    """Doom the pending blobs whose holder died (``holders.is_dead``) and return them, for
    their bytes to be removed. Doomed first: a holder wrongly thought dead (one that froze
    and woke) then fails to commit its blob rather than commit bytes being removed."""
    doomed = connection.execute(
        update(blobs)
        .where(
            blobs.c.state == PENDING,
            blobs.c.refcount <= 0,
            holders.is_dead(blobs.c.holder, beaten_since, gone),
        )
        .values(state=DOOMED)
        .returning(blobs.c.id, blobs.c.store, blobs.c.key)
    )
    return [Blob(row.id, row.store, row.key) for row in doomed]


def abandoned(connection: Connection, pending_before: datetime) -> list[Blob]:
    """Blobs whose bytes should go: doomed ones, and pending ones left by a crash."""
    rows = connection.execute(
        select(blobs.c.id, blobs.c.store, blobs.c.key).where(
            blobs.c.refcount <= 0,
            or_(
                blobs.c.state == DOOMED,
                and_(blobs.c.state == PENDING, blobs.c.updated_at < pending_before),
            ),
        )
    )
    return [Blob(row.id, row.store, row.key) for row in rows]
