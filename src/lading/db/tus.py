"""Queries on resumable uploads (tus): their records, offsets, parts and claims.

Every change to an upload's offset is a compare-and-set on the PATCH's claim (``writer``),
so two PATCHes to one upload cannot both append: the second is refused before it writes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from lading.db import holders
from lading.db.models import tus_upload_parts, tus_uploads

RECEIVING, FINISHING, DONE = "receiving", "finishing", "done"
# Forgotten, its parts still on the store: the record stays until they are gone, so that
# a delete that failed is tried again (recovery's sweep) and no part is left unrecorded.
REMOVING = "removing"


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    project: str
    user_id: str | None
    store: str
    key: str
    length: int | None
    offset: int
    parts: int
    metadata: str
    purpose: str
    artifact_id: str | None
    made_artifact: bool
    state: str
    expires_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Part:
    number: int
    offset: int
    size: int


def insert_upload(connection: Connection, upload: Upload) -> None:
    connection.execute(
        insert(tus_uploads).values(
            id=upload.id,
            project=upload.project,
            user_id=upload.user_id,
            store=upload.store,
            key=upload.key,
            length=upload.length,
            offset=upload.offset,
            parts=upload.parts,
            metadata=upload.metadata,
            purpose=upload.purpose,
            artifact_id=upload.artifact_id,
            made_artifact=upload.made_artifact,
            state=upload.state,
            expires_at=upload.expires_at,
            created_at=upload.created_at,
            updated_at=upload.created_at,
        )
    )


def find(connection: Connection, upload_id: str) -> Upload | None:
    row = connection.execute(select(tus_uploads).where(tus_uploads.c.id == upload_id)).first()
    if row is None:
        return None
    return Upload(
        row.id, row.project, row.user_id, row.store, row.key, row.length, row.offset,
        row.parts, row.metadata, row.purpose, row.artifact_id, bool(row.made_artifact),
        row.state, row.expires_at, row.created_at,
    )  # fmt: skip


def parts(connection: Connection, upload_id: str) -> list[Part]:
    rows = connection.execute(
        select(tus_upload_parts.c.number, tus_upload_parts.c.offset, tus_upload_parts.c.size)
        .where(tus_upload_parts.c.upload_id == upload_id)
        .order_by(tus_upload_parts.c.number)
    )
    return [Part(row.number, row.offset, row.size) for row in rows]


def claim(
    connection: Connection,
    upload_id: str,
    offset: int,
    token: str,
    holder: str,
    until: datetime,
    now: datetime,
) -> bool:
    """The upload held by one PATCH at ``offset``, unless another holds it (its claim
    still good) or the offset moved meanwhile."""
    result = connection.execute(
        update(tus_uploads)
        .where(
            tus_uploads.c.id == upload_id,
            tus_uploads.c.state == RECEIVING,
            tus_uploads.c.offset == offset,
            or_(tus_uploads.c.writer.is_(None), tus_uploads.c.writer_until < now),
        )
        .values(writer=token, writer_holder=holder, writer_until=until)
    )
    return result.rowcount == 1


def renew(connection: Connection, upload_id: str, token: str, until: datetime) -> bool:
    result = connection.execute(
        update(tus_uploads)
        .where(tus_uploads.c.id == upload_id, tus_uploads.c.writer == token)
        .values(writer_until=until)
    )
    return result.rowcount == 1


def release(connection: Connection, upload_id: str, token: str) -> None:
    connection.execute(
        update(tus_uploads)
        .where(tus_uploads.c.id == upload_id, tus_uploads.c.writer == token)
        .values(writer=None, writer_holder=None, writer_until=None)
    )


def add_part(
    connection: Connection,
    upload_id: str,
    token: str,
    part: Part,
    length: int | None,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """The part recorded and the offset moved past it, the claim released, in one step;
    False when the PATCH no longer held the upload (nothing recorded)."""
    values: dict[str, object] = {
        "offset": part.offset + part.size,
        "parts": part.number + (1 if part.size else 0),
        "writer": None,
        "writer_holder": None,
        "writer_until": None,
        "expires_at": expires_at,
        "updated_at": now,
    }
    if length is not None:
        values["length"] = length
    result = connection.execute(
        update(tus_uploads)
        .where(
            tus_uploads.c.id == upload_id,
            tus_uploads.c.writer == token,
            tus_uploads.c.offset == part.offset,
        )
        .values(**values)
    )
    if result.rowcount != 1:
        return False
    if part.size:
        connection.execute(
            insert(tus_upload_parts).values(
                upload_id=upload_id, number=part.number, offset=part.offset, size=part.size
            )
        )
    return True


def set_length(connection: Connection, upload_id: str, token: str, length: int) -> bool:
    """A deferred length, stated once (creation-defer-length)."""
    result = connection.execute(
        update(tus_uploads)
        .where(
            tus_uploads.c.id == upload_id,
            tus_uploads.c.writer == token,
            tus_uploads.c.length.is_(None),
        )
        .values(length=length)
    )
    return result.rowcount == 1


def set_state(
    connection: Connection,
    upload_id: str,
    expected: str,
    new: str,
    now: datetime,
    artifact_id: str | None = None,
    expires_at: datetime | None = None,
) -> bool:
    values: dict[str, object] = {"state": new, "updated_at": now}
    if artifact_id is not None:
        values["artifact_id"] = artifact_id
    if expires_at is not None:
        values["expires_at"] = expires_at
    result = connection.execute(
        update(tus_uploads)
        .where(tus_uploads.c.id == upload_id, tus_uploads.c.state == expected)
        .values(**values)
    )
    return result.rowcount == 1


def begin_removal(
    connection: Connection, upload_id: str, states: Collection[str], now: datetime
) -> Upload | None:
    """The upload set to be removed (``REMOVING``: no request sees it any more), if it is
    in one of ``states`` and no PATCH holds it; the record it had, for its bytes (and
    artifact) to be removed. The records go once its parts are gone (``remove``)."""
    found = find(connection, upload_id)
    if found is None or found.state not in states:
        return None
    claimed = connection.execute(
        select(tus_uploads.c.id).where(
            tus_uploads.c.id == upload_id,
            tus_uploads.c.writer.is_not(None),
            tus_uploads.c.writer_until >= now,
        )
    ).first()
    if claimed is not None and found.state != FINISHING:
        return None
    result = connection.execute(
        update(tus_uploads)
        .where(tus_uploads.c.id == upload_id, tus_uploads.c.state == found.state)
        .values(state=REMOVING, updated_at=now)
    )
    return found if result.rowcount == 1 else None


def remove(connection: Connection, upload_id: str) -> None:
    """The records of an upload being removed, once its parts are gone from the store."""
    connection.execute(delete(tus_upload_parts).where(tus_upload_parts.c.upload_id == upload_id))
    connection.execute(
        delete(tus_uploads).where(tus_uploads.c.id == upload_id, tus_uploads.c.state == REMOVING)
    )


def removing(connection: Connection, limit: int) -> list[Upload]:
    """Uploads whose parts are still to be removed (a delete failed), oldest first."""
    rows = connection.execute(
        select(tus_uploads.c.id)
        .where(tus_uploads.c.state == REMOVING)
        .order_by(tus_uploads.c.updated_at)
        .limit(limit)
    )
    found = [find(connection, row.id) for row in rows]
    return [upload for upload in found if upload is not None]


def expired(connection: Connection, now: datetime, limit: int) -> list[str]:
    """Uploads past their expiry that no PATCH holds (a finishing one is never taken)."""
    rows = connection.execute(
        select(tus_uploads.c.id)
        .where(
            tus_uploads.c.expires_at < now,
            tus_uploads.c.state.not_in((FINISHING, REMOVING)),
            or_(tus_uploads.c.writer.is_(None), tus_uploads.c.writer_until < now),
        )
        .order_by(tus_uploads.c.expires_at)
        .limit(limit)
    )
    return [row.id for row in rows]


def release_dead(connection: Connection, beaten_since: datetime, gone: Collection[str]) -> int:
    """Claims of PATCHes whose process died released at once (their bytes past the offset
    are not the upload's), and finishes they were running put back to receiving."""
    dead = and_(
        tus_uploads.c.writer.is_not(None),
        holders.is_dead(tus_uploads.c.writer_holder, beaten_since, gone),
    )
    connection.execute(
        update(tus_uploads).where(dead, tus_uploads.c.state == FINISHING).values(state=RECEIVING)
    )
    result = connection.execute(
        update(tus_uploads).where(dead).values(writer=None, writer_holder=None, writer_until=None)
    )
    return int(result.rowcount)
