"""Queries on the projects an artifact is shared with. Each takes its transaction's
``Connection``."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from lading.db.models import artifact_members
from lading.domain import Member, MemberStatus
from lading.errors import Conflict

COLUMNS = (
    artifact_members.c.artifact_id,
    artifact_members.c.member,
    artifact_members.c.status,
    artifact_members.c.created_at,
    artifact_members.c.updated_at,
)


def _where(artifact_id: str, member: str) -> ColumnElement[bool]:
    return and_(artifact_members.c.artifact_id == artifact_id, artifact_members.c.member == member)


def find(connection: Connection, artifact_id: str, member: str) -> Member | None:
    row = connection.execute(select(*COLUMNS).where(_where(artifact_id, member))).first()
    return None if row is None else _member(row._mapping)


def list_members(connection: Connection, artifact_id: str) -> list[Member]:
    rows = connection.execute(
        select(*COLUMNS)
        .where(artifact_members.c.artifact_id == artifact_id)
        .order_by(artifact_members.c.created_at, artifact_members.c.member)
    )
    return [_member(row._mapping) for row in rows]


def _member(row: RowMapping) -> Member:
    return Member(**{**row, "status": MemberStatus(row["status"])})


def add(connection: Connection, member: Member) -> None:
    try:
        with connection.begin_nested():
            connection.execute(insert(artifact_members).values(**asdict(member)))
    except IntegrityError:
        raise Conflict(f"{member.member} is already a member of {member.artifact_id}") from None


def set_status(
    connection: Connection, artifact_id: str, member: str, status: MemberStatus, now: datetime
) -> bool:
    changed = connection.execute(
        update(artifact_members)
        .where(_where(artifact_id, member))
        .values(status=status, updated_at=now)
    )
    return changed.rowcount == 1


def remove(connection: Connection, artifact_id: str, member: str) -> bool:
    removed = connection.execute(delete(artifact_members).where(_where(artifact_id, member)))
    return removed.rowcount == 1
