"""Queries on API tokens. Every function takes the ``Connection`` of its transaction."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import Connection, exists, insert, or_, select, update

from lading.db.models import api_tokens


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: str
    project: str
    role: str
    description: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


COLUMNS = [api_tokens.c[field.name] for field in fields(TokenRecord)]


def insert_token(connection: Connection, record: TokenRecord, digest: str) -> None:
    values = {column.name: getattr(record, column.name) for column in COLUMNS}
    connection.execute(insert(api_tokens).values(**values, digest=digest))


def find_by_digest(connection: Connection, digest: str) -> TokenRecord | None:
    row = connection.execute(select(*COLUMNS).where(api_tokens.c.digest == digest)).first()
    return None if row is None else TokenRecord(**row._mapping)


def any_token(connection: Connection) -> bool:
    """Whether a token was ever created: from then on, every request needs one."""
    return bool(connection.execute(select(exists().select_from(api_tokens))).scalar())


def list_tokens(connection: Connection) -> list[TokenRecord]:
    rows = connection.execute(select(*COLUMNS).order_by(api_tokens.c.created_at))
    return [TokenRecord(**row._mapping) for row in rows]


def revoke(connection: Connection, id_or_digest: str, now: datetime) -> TokenRecord | None:
    """Revoke the token with this id or digest; None when there is none."""
    match = or_(api_tokens.c.id == id_or_digest, api_tokens.c.digest == id_or_digest)
    connection.execute(
        update(api_tokens).where(match, api_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    row = connection.execute(select(*COLUMNS).where(match)).first()
    return None if row is None else TokenRecord(**row._mapping)
