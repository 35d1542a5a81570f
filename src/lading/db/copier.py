"""Copying a catalogue to another database (SQLite to PostgreSQL, so that a trial becomes
production), then checking that the copy holds what the source holds.

Every table goes in foreign-key order, read in one transaction of the source (one
snapshot) and written in one transaction of the target (a failed copy leaves the target
as empty as it was), in batches: memory stays the same whatever the rows. The bytes stay
in their stores: locations name a store and a key, which the copy keeps.

The check reads both again, table by table: the number of rows and a digest of their
contents. The digest is a sum of each row's SHA-256, so it does not depend on the order
rows come in (SQLite and PostgreSQL sort text differently), and it is taken of the
values as SQLAlchemy reads them (a SQLite date string and a PostgreSQL timestamp are one
datetime): a row that differs in any value, or is missing, changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    String,
    Table,
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.engine import URL, Row
from sqlalchemy.exc import DBAPIError

from lading.db.engine import HEAD, Database, revision_of
from lading.db.models import holders, metadata
from lading.processes import Holder, ThisProcess

BATCH = 2000  # rows a round trip: past a thousand, bigger batches gain little
DIGEST_MODULUS = 2**256
VERSION_TABLE = "alembic_version"
# Tables the migrations fill themselves (0010: Glance's resource types; each migration's
# phase): a target that holds only their rows is empty, and the copy replaces them with
# the source's.
SEEDED = frozenset({"metadef_resource_types", "migration_phases"})


class CopyRefused(Exception):
    """The copy cannot start, and nothing was written: one line saying why."""


@dataclass(frozen=True)
class TableCheck:
    """One table as found in the source and in the target after the copy."""

    name: str
    source_rows: int
    target_rows: int
    source_digest: str
    target_digest: str

    @property
    def matches(self) -> bool:
        return (self.source_rows, self.source_digest) == (self.target_rows, self.target_digest)


@dataclass(frozen=True)
class CopyReport:
    revision: str
    tables: list[TableCheck]

    @property
    def matches(self) -> bool:
        return all(table.matches for table in self.tables)

    @property
    def rows(self) -> int:
        return sum(table.source_rows for table in self.tables)


class Copier:
    """Copies the catalogue at ``source_url`` to ``target_url`` (``copy``), then compares
    them (``check``). ``progress`` hears of each table as its rows go."""

    def __init__(
        self,
        source_url: str,
        target_url: str,
        batch: int = BATCH,
        progress: Callable[[str, int], None] | None = None,
    ) -> None:
        if _same(make_url(source_url), make_url(target_url)):
            raise CopyRefused("the source and the target are the same database")
        _existing(make_url(source_url))
        self.source = Database(source_url)
        self.target = Database(target_url)
        self._batch = batch
        self._progress = progress or (lambda _table, _rows: None)

    def close(self) -> None:
        self.source.dispose()
        self.target.dispose()

    def prepare(self, replace: bool, alive_since: datetime) -> None:
        """Refuse, before anything is written, a source that is not at this lading's head
        or that a server still writes, and a target that is not a catalogue or not empty
        (unless ``replace``); then migrate the target to the head, contract steps
        included."""
        with self.source.engine.connect() as connection:
            revision = revision_of(connection)
            if revision is None:
                raise CopyRefused(f"{_shown(self.source)} is not a lading catalogue")
            if revision != HEAD:
                raise CopyRefused(
                    f"{_shown(self.source)} is at migration {revision}, this lading's is "
                    f"{HEAD}: "
                    + (
                        "run lading db upgrade on it first"
                        if revision < HEAD
                        else "copy it with the lading that migrated it"
                    )
                )
            live = _live(connection, alive_since)
        if live:
            holder, beat_at = live[0]
            raise CopyRefused(
                f"a server still writes to {_shown(self.source)} (process {holder.pid} on "
                f"{(holder.host or 'another host').partition('/')[0]}, last seen "
                f"{beat_at:%Y-%m-%d %H:%M:%S} UTC): stop every server first; one that died "
                "elsewhere counts as stopped once upload_heartbeat has passed"
            )
        with self.target.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            found = revision_of(connection)
        if tables and found is None:
            raise CopyRefused(
                f"{_shown(self.target)} holds tables but is not a lading catalogue: "
                f"{', '.join(sorted(tables)[:5])}"
            )
        if found is not None and found > HEAD:
            raise CopyRefused(f"{_shown(self.target)} is at migration {found}, newer than {HEAD}")
        if not replace:  # before migrating it: a catalogue in use is left as it was
            with self.target.engine.connect() as connection:
                filled = [
                    table.name
                    for table in metadata.sorted_tables
                    if table.name in tables
                    and table.name not in SEEDED
                    and _any_row(connection, table)
                ]
            if filled:
                raise CopyRefused(
                    f"{_shown(self.target)} is not empty (rows in {', '.join(filled[:5])}): "
                    "copy to an empty database, or pass --replace to replace its catalogue"
                )
        self.target.upgrade("head")

    def copy(self) -> None:
        """Every row of the source into the target, which loses what it held; one
        transaction each, so that the target has all of it or none."""
        with (
            _reading(self.source) as source,
            self.target.engine.connect() as target,
            target.begin(),
        ):
            _empty(target)
            for table in metadata.sorted_tables:
                copied = 0
                for rows in _batches(source, table, self._batch):
                    try:
                        _insert(target, table, rows)
                    except DBAPIError as exc:
                        raise CopyRefused(_refused(table, exc.orig)) from exc
                    except Exception as exc:  # psycopg's own, from COPY
                        if type(exc).__module__.split(".")[0] != "psycopg":
                            raise
                        raise CopyRefused(_refused(table, exc)) from exc
                    copied += len(rows)
                self._progress(table.name, copied)
            _carry_counters(source, target)

    def check(self) -> CopyReport:
        """Each table's rows and digest in the source and in the target, read afresh."""
        checks = []
        with _reading(self.source) as source, _reading(self.target) as target:
            for table in [*metadata.sorted_tables, _version_table()]:
                source_rows, source_digest = digest(source, table)
                target_rows, target_digest = digest(target, table)
                checks.append(
                    TableCheck(table.name, source_rows, target_rows, source_digest, target_digest)
                )
            revision = revision_of(target) or "none"
        return CopyReport(revision, checks)


def digest(connection: Connection, table: Table, batch: int = BATCH) -> tuple[int, str]:
    """How many rows ``table`` has, and a digest of their contents in any order."""
    rows, total = 0, 0
    for chunk in _batches(connection, table, batch):
        for row in chunk:
            total += int.from_bytes(hashlib.sha256(_canonical(row)).digest())
        rows += len(chunk)
    return rows, f"{total % DIGEST_MODULUS:064x}"


def _canonical(values: Iterable[Any]) -> bytes:
    """The row's values as bytes that tell every value and type apart."""
    parts = []
    for value in values:
        match value:
            case None:
                encoded = b"n"
            case bool():
                encoded = b"t" if value else b"f"
            case int():
                encoded = b"i" + str(value).encode()
            case str():
                encoded = b"s" + value.encode("utf-8", "surrogatepass")
            case bytes() | memoryview():
                encoded = b"b" + bytes(value)
            case datetime():
                encoded = b"d" + value.isoformat().encode()
            case float():
                encoded = b"f" + repr(value).encode()
            case _:
                raise TypeError(f"no canonical form for {type(value).__name__}")
        parts.append(len(encoded).to_bytes(8) + encoded)
    return b"".join(parts)


def _batches(connection: Connection, table: Table, size: int) -> Iterator[list[Row[Any]]]:
    """The rows of ``table``, ``size`` at a time, streamed (a server-side cursor on
    PostgreSQL): never the whole table in memory."""
    query = select(*table.columns)
    result = connection.execution_options(yield_per=size).execute(query)
    for partition in result.partitions():
        yield list(partition)


def _insert(target: Connection, table: Table, rows: Sequence[Sequence[Any]]) -> None:
    """Write ``rows`` into ``table``: on PostgreSQL with COPY, three times as fast as
    psycopg's pipelined INSERTs (the values are already Python's: psycopg adapts them)."""
    if target.dialect.name != "postgresql":
        keys = [column.key for column in table.columns]
        target.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])
        return
    names = ", ".join(f'"{column.name}"' for column in table.columns)
    raw: Any = target.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row(row)


def _refused(table: Table, error: object) -> str:
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"{table.name}: the target refused a row: {first}"


def _reading(database: Database) -> _Snapshot:
    return _Snapshot(database.engine)


class _Snapshot:
    """A connection in one read transaction: what it reads is one moment's catalogue."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> Connection:
        options: dict[str, Any] = {"lading_write": False}
        if self._engine.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        self._connection = self._engine.connect().execution_options(**options)
        self._transaction = self._connection.begin()
        return self._connection

    def __exit__(self, *exc: object) -> None:
        self._transaction.rollback()
        self._connection.close()


def _version_table() -> Table:
    """Alembic's table: the copy's migration, compared like the others."""
    return Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), primary_key=True))


def _any_row(connection: Connection, table: Table) -> bool:
    return connection.execute(select(1).select_from(table).limit(1)).first() is not None


def _empty(target: Connection) -> None:
    tables = list(reversed(metadata.sorted_tables))
    if target.dialect.name == "postgresql":  # one statement, whatever the rows
        names = ", ".join(f'"{table.name}"' for table in tables)
        target.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        return
    for table in tables:
        target.execute(table.delete())


def last_ids(connection: Connection) -> dict[str, int]:
    """The last id each table with generated ids gave, by table: more than its largest id
    when the newest rows were deleted. Ids are never reused (blobs: an upload that outlived
    its lease must not reach a newer blob by its id), so the copy carries these over."""
    given: dict[str, int] = {}
    for table in metadata.sorted_tables:
        column = table.autoincrement_column
        if column is None:
            continue
        largest = connection.execute(select(func.max(column))).scalar() or 0
        given[table.name] = max(largest, _last_given(connection, table.name, column.name))
    return given


def _last_given(connection: Connection, table: str, column: str) -> int:
    if connection.dialect.name == "sqlite":
        if "sqlite_sequence" not in inspect(connection).get_table_names():
            return 0
        found = connection.execute(
            text("SELECT seq FROM sqlite_sequence WHERE name = :table"), {"table": table}
        ).scalar()
        return int(found or 0)
    sequence = connection.execute(
        text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table, "column": column}
    ).scalar()
    if sequence is None:
        return 0
    last, called = connection.execute(text(f"SELECT last_value, is_called FROM {sequence}")).one()
    return int(last) if called else int(last) - 1


def _carry_counters(source: Connection, target: Connection) -> None:
    for table, last in last_ids(source).items():
        column = metadata.tables[table].autoincrement_column
        assert column is not None
        if target.dialect.name == "postgresql":
            # setval(.., n, false): the next id is n, so a table that never gave one starts at 1.
            target.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, :column), :next, false)"),
                {"table": table, "column": column.name, "next": last + 1},
            )
        elif last:
            target.execute(
                text("DELETE FROM sqlite_sequence WHERE name = :table"), {"table": table}
            )
            target.execute(
                text("INSERT INTO sqlite_sequence (name, seq) VALUES (:table, :last)"),
                {"table": table, "last": last},
            )


def _live(connection: Connection, since: datetime) -> list[tuple[Holder, datetime]]:
    """The server processes that have beaten since ``since`` and still run, as far as
    this host can tell (lading.processes)."""
    rows = connection.execute(select(holders).where(holders.c.beat_at >= since))
    here = ThisProcess()
    found = [(Holder(row.id, row.host, row.pid, row.started), row.beat_at) for row in rows]
    return [(holder, beat_at) for holder, beat_at in found if not here.outlived(holder)]


def _existing(url: URL) -> None:
    """Refuse a SQLite source that does not exist, rather than open a new, empty one."""
    database = url.database or ":memory:"
    if (
        url.get_backend_name() == "sqlite"
        and database != ":memory:"
        and not Path(database).is_file()
    ):
        raise CopyRefused(f"no catalogue at {database}")


def _same(first: URL, second: URL) -> bool:
    if first.get_backend_name() == second.get_backend_name() == "sqlite":
        return Path(first.database or "").resolve() == Path(second.database or "").resolve()
    keys: Sequence[str] = ("host", "port", "database")
    return first.get_backend_name() == second.get_backend_name() and all(
        getattr(first, key) == getattr(second, key) for key in keys
    )


def _shown(database: Database) -> str:
    return database.url.render_as_string(hide_password=True)


def alive_since(now: datetime, heartbeat: float) -> datetime:
    """Since when a server that still runs has beaten: one heartbeat ago."""
    return now - timedelta(seconds=heartbeat)
