"""The database: an engine, transactions on worker threads, and migrations."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy import Connection, Engine, create_engine, event, inspect, make_url, text
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)

from lading.errors import BadRequest, CatalogueUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")
# Revisions are numbered in order, one after another: the last file names the head.
HEAD = max(path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
WRITE_OPTION = "lading_write"
CONNECT_TIMEOUT = 5  # seconds to open a PostgreSQL connection; psycopg's own is 130
# SQLite's primary result codes that mean "not now" rather than a bad statement: BUSY,
# LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL. Its other operational errors
# (SQLITE_ERROR: no such table, a syntax error) are bugs, and stay 500s.
SQLITE_UNAVAILABLE = frozenset({5, 6, 7, 8, 10, 13, 14, 15})

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """Runs query functions in a transaction on a worker thread.

    Query functions take a ``Connection`` first; ``read`` and ``write`` run one in a
    transaction of its own and return its result, so the event loop never waits on
    SQL. On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so that two
    writers queue on the lock instead of failing when one upgrades from reading.
    """

    def __init__(self, url: str, threads: int = 2) -> None:
        self.url = make_url(url)
        self.engine = _create_engine(url)
        self._outage = Outage()
        # Few threads on purpose: queries are mostly Python work under the GIL, and many
        # threads fighting for it cost far more than they overlap. The limiter serves one
        # event loop at a time: a server's, a CLI command's anyio.run, a test's TestClient
        # (whose portal every service call of a test goes through, tests/portal.py).
        self._threads = CapacityLimiter(threads)

    async def read(
        self, query: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await to_thread.run_sync(
            lambda: self.run(False, query, *args, **kwargs), limiter=self._threads
        )

    async def write(
        self, query: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return await to_thread.run_sync(
            lambda: self.run(True, query, *args, **kwargs), limiter=self._threads
        )

    def run(
        self,
        write: bool,
        query: Callable[Concatenate[Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``query`` in a transaction on the calling thread.

        On PostgreSQL a read sees one snapshot for all its statements (REPEATABLE READ:
        an artifact and its locations as they were together); a read-only transaction
        there never fails for it.

        A database that cannot be reached, or that refuses work for now, is
        ``CatalogueUnavailable`` (503): nothing here waits for it to come back, and the
        next call tries again (the pool checks a connection before it lends it).
        """
        options: dict[str, Any] = {WRITE_OPTION: write}
        if not write and self.engine.dialect.name == "postgresql":
            options["isolation_level"] = "REPEATABLE READ"
        try:
            with (
                self.engine.connect().execution_options(**options) as connection,
                connection.begin(),
            ):
                result = query(connection, *args, **kwargs)
        except DataError as exc:  # a value from a request that the database cannot hold
            raise BadRequest(f"a value the catalogue cannot hold: {exc.orig}") from exc
        except (OperationalError, InterfaceError, DisconnectionError) as exc:
            if not self._unavailable(exc):
                raise
            self._outage.began(exc)
            raise CatalogueUnavailable("the catalogue is unavailable; try again shortly") from exc
        self._outage.ended()
        return result

    def _unavailable(self, exc: OperationalError | InterfaceError | DisconnectionError) -> bool:
        if self.engine.dialect.name != "sqlite" or not isinstance(exc, DBAPIError):
            return True  # PostgreSQL's operational errors: connections, restarts, locks
        code = getattr(exc.orig, "sqlite_errorcode", None)
        return code is not None and code & 0xFF in SQLITE_UNAVAILABLE

    def current(self) -> bool:
        """Whether the catalogue exists and has every migration of this release."""
        sqlite = self.url.get_backend_name() == "sqlite" and self.url.database
        if sqlite and not Path(str(self.url.database)).exists():
            return False  # not made here: upgrade makes it, with its folder
        with self.engine.connect() as connection:
            return _revision(connection) == HEAD

    def upgrade(self, revision: str = "head") -> None:
        """Apply every migration (up to ``revision``) that has not been applied yet."""
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        with self.engine.begin() as connection:
            if revision == "head" and _revision(connection) == HEAD:
                return  # every start but the first, without importing alembic (0.2 s)
            from alembic import command
            from alembic.config import Config

            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def dispose(self) -> None:
        self.engine.dispose()


def _revision(connection: Connection) -> str | None:
    """The catalogue's migration revision; None before the first."""
    if "alembic_version" not in inspect(connection).get_table_names():
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


class Outage:
    """Logs when the catalogue stops answering and when it answers again: two lines an
    outage, however many requests fail meanwhile. Called from the worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None

    def began(self, cause: Exception) -> None:
        with self._lock:
            if self._since is None:
                self._since = time.monotonic()
                reason = getattr(cause, "orig", None) or cause
                log.warning("the catalogue is unavailable: %s", str(reason).strip())

    def ended(self) -> None:
        if self._since is None:  # the usual case, without taking the lock
            return
        with self._lock:
            if self._since is not None:
                lasted, self._since = time.monotonic() - self._since, None
                log.warning("the catalogue answers again, after %.1f s", lasted)


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A host that drops packets, rather than refusing them, would hold each request
        # that opens a connection for psycopg's 130 s before its 503. The URL may say
        # otherwise.
        timeout = {} if "connect_timeout" in parsed.query else {"connect_timeout": CONNECT_TIMEOUT}
        return create_engine(url, pool_pre_ping=True, connect_args=timeout)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, True)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine
