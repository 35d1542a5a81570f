"""Queries on holders: the server processes that write uploads and blobs.

A holder is alive while it beats (``beat``, every third of ``upload_heartbeat``). One
that has not beaten since a cutoff is dead, and so is one missing (forgotten): what it
held is recovered. The test is a subquery (``alive``) evaluated by the statement that
recovers, so that a process that registered a moment ago is seen alive by it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Select, Table, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PostgresInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from lading.db.models import holders
from lading.processes import Holder


def beat(connection: Connection, holder: Holder, now: datetime) -> None:
    """Record that ``holder`` lives, registering it on its first beat (or again, if
    recovery forgot it while it froze). One statement: a process beats from its upload
    and from its heartbeat at once."""
    upsert = _insert_for(connection.dialect.name)(holders).values(
        id=holder.id, host=holder.host, pid=holder.pid, started=holder.started, beat_at=now
    )
    connection.execute(
        upsert.on_conflict_do_update(index_elements=[holders.c.id], set_={"beat_at": now})
    )


def on_host(connection: Connection, host: str) -> list[Holder]:
    """The holders recorded on ``host``, where this process can judge them."""
    rows = connection.execute(select(holders).where(holders.c.host == host))
    return [Holder(row.id, row.host, row.pid, row.started) for row in rows]


def alive(beaten_since: datetime) -> Select[tuple[str]]:
    """The ids of holders that have beaten since ``beaten_since``, as a subquery."""
    return select(holders.c.id).where(holders.c.beat_at >= beaten_since)


def is_dead(
    column: ColumnElement[str | None], beaten_since: datetime, gone: Collection[str]
) -> ColumnElement[bool]:
    """``column`` names a dead holder: silent since ``beaten_since``, forgotten, or one
    of ``gone`` (processes of this host that no longer run)."""
    return column.is_not(None) & or_(column.not_in(alive(beaten_since)), column.in_(gone))


def forget(connection: Connection, beaten_before: datetime, gone: Collection[str]) -> int:
    """Drop the records of dead holders (what they held is recovered by then: a holder
    missing is dead all the same); returns how many."""
    result = connection.execute(
        delete(holders).where(or_(holders.c.beat_at < beaten_before, holders.c.id.in_(gone)))
    )
    return int(result.rowcount)


def withdraw(connection: Connection, holder_id: str) -> None:
    """Drop ``holder_id``'s record: its process stops serving, so what it still holds is
    recovered at once, and it no longer counts as a server that writes (lading db copy)."""
    connection.execute(delete(holders).where(holders.c.id == holder_id))


def _insert_for(dialect: str) -> Callable[[Table], PostgresInsert | SqliteInsert]:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert
