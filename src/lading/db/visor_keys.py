"""Queries on VISoR's access keys. Every function takes the ``Connection`` of its
transaction."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, exists, insert, select, update

from lading.db.models import visor_keys


@dataclass(frozen=True, slots=True)
class VisorKeyRecord:
    access_key: str
    project: str
    role: str
    description: str
    created_at: datetime
    revoked_at: datetime | None


COLUMNS = [visor_keys.c[field.name] for field in fields(VisorKeyRecord)]


@dataclass(frozen=True, slots=True)
class SealedKey:
    record: VisorKeyRecord
    sealed_secret: str


def insert_key(connection: Connection, record: VisorKeyRecord, sealed_secret: str) -> None:
    values = {column.name: getattr(record, column.name) for column in COLUMNS}
    connection.execute(insert(visor_keys).values(**values, sealed_secret=sealed_secret))


def find_key(connection: Connection, access_key: str) -> SealedKey | None:
    row = connection.execute(
        select(*COLUMNS, visor_keys.c.sealed_secret).where(visor_keys.c.access_key == access_key)
    ).first()
    if row is None:
        return None
    values = dict(row._mapping)
    sealed = values.pop("sealed_secret")
    return SealedKey(VisorKeyRecord(**values), sealed)


def any_key(connection: Connection) -> bool:
    """Whether a key was ever made: like a token, it closes an open server for good."""
    return bool(connection.execute(select(exists().select_from(visor_keys))).scalar())


def list_keys(connection: Connection) -> list[VisorKeyRecord]:
    rows = connection.execute(select(*COLUMNS).order_by(visor_keys.c.created_at))
    return [VisorKeyRecord(**row._mapping) for row in rows]


def revoke(connection: Connection, access_key: str, now: datetime) -> VisorKeyRecord | None:
    """Revoke the key; None when there is none."""
    match = visor_keys.c.access_key == access_key
    connection.execute(
        update(visor_keys).where(match, visor_keys.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    row = connection.execute(select(*COLUMNS).where(match)).first()
    return None if row is None else VisorKeyRecord(**row._mapping)
