"""The database: an engine, transactions on worker threads, and migrations."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from anyio import CapacityLimiter, to_thread
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    insert,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)

from lading.db.models import migration_phases
from lading.errors import BadRequest, CatalogueUnavailable

MIGRATIONS = Path(__file__).with_name("migrations")
# Revisions are numbered in order, one after another: the last file names the head.
HEAD = max(path.name[:4] for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
# Each migration says whether nodes of the previous release can serve on what it leaves
# (expand: it only adds) or not (contract: it drops, renames or tightens what they use).
EXPAND, CONTRACT = "expand", "contract"
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
        """Whether the catalogue exists at this release's head, or newer: nothing for a
        start to migrate (``upgrade`` then needs no alembic)."""
        sqlite = self.url.get_backend_name() == "sqlite" and self.url.database
        if sqlite and not Path(str(self.url.database)).exists():
            return False  # not made here: upgrade makes it, with its folder
        found = self.revision()
        return found is not None and found >= HEAD

    def upgrade(self, revision: str | None = None) -> str | None:
        """Apply the migrations not applied yet, up to ``revision`` ("head": all of them);
        returns the revision reached.

        By default, what a starting server or command applies by itself: every migration
        to a new catalogue, but to one in use only the expand steps (``expand``), which
        nodes of the previous release keep serving on; the contract steps wait for
        ``contract`` (lading db contract), once every node runs this release.
        """
        if self.url.get_backend_name() == "sqlite" and self.url.database:
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        with self.engine.begin() as connection:
            found = revision_of(connection)
            if found == HEAD and revision in (None, "head", HEAD):
                return found  # every start but the first, without importing alembic (0.2 s)
            if found is not None and found > HEAD:
                if revision is not None:  # asked to migrate: this lading cannot
                    raise MigrationRefused(
                        f"the catalogue is at migration {found}, newer than this lading's "
                        f"{HEAD}: migrate it with the lading that migrated it"
                    )
                return _newer(connection, found)  # a start: serve on, if it may
            chain = migrations()
            if revision is None:
                revision = "head" if found is None else last_expand(chain, found)
            if revision != found:
                _alembic_upgrade(connection, revision)
                _record_phases(connection, chain)
            return revision_of(connection)

    def expand(self) -> str | None:
        """Apply the pending migrations up to the last expand step (and the contract steps
        before it, of the release before): the catalogue then serves this release's nodes
        and the previous release's at once. Returns the revision reached."""
        return self.upgrade(last_expand(migrations(), self.revision()))

    def contract(self) -> str | None:
        """Apply the remaining migrations, the contract steps that nodes of the previous
        release could not serve on; refused while expand steps are pending (run
        ``expand``, then upgrade every node, then contract)."""
        found = self.revision()
        if last_expand(migrations(), found) != (found or "0000"):
            raise MigrationRefused(
                "expand steps are pending: run lading db expand, upgrade every node, then "
                "lading db contract"
            )
        return self.upgrade("head")

    def pending(self) -> list[Migration]:
        """The migrations not applied yet, in order."""
        found = self.revision() or "0000"
        return [migration for migration in migrations() if migration.revision > found]

    def revision(self) -> str | None:
        """The catalogue's migration revision; None while it holds no catalogue."""
        with self.engine.connect() as connection:
            return revision_of(connection)

    def dispose(self) -> None:
        self.engine.dispose()


def revision_of(connection: Connection) -> str | None:
    """The catalogue's migration revision; None before the first."""
    if "alembic_version" not in inspect(connection).get_table_names():
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


class MigrationRefused(Exception):
    """Migrations that must not run: the catalogue is newer than this lading, or a step
    is asked out of the order expand, upgrade every node, contract."""


@dataclass(frozen=True)
class Migration:
    revision: str
    phase: str  # EXPAND or CONTRACT: the migration module's ``phase``
    title: str


def migrations() -> list[Migration]:
    """Every migration, oldest first (imports alembic and the migrations: 0.2 s)."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(_alembic_config())
    return [
        # A migration that does not say is taken as destructive: it waits for contract.
        Migration(script.revision, getattr(script.module, "phase", CONTRACT), script.doc)
        for script in reversed(list(scripts.walk_revisions()))
    ]


def last_expand(chain: list[Migration], found: str | None) -> str:
    """The revision ``expand`` migrates to from ``found``: the last expand step of the
    chain (the contract steps after it wait), or ``found`` if that is later."""
    expands = [migration.revision for migration in chain if migration.phase == EXPAND]
    return max([found or "0000", *expands[-1:]])


def _newer(connection: Connection, found: str) -> str:
    """A catalogue that a newer release migrated: this node serves on it when every step
    past its own head only expanded it (a rolling upgrade), as migration_phases says."""
    newer: dict[str, str] = {}
    if migration_phases.name in inspect(connection).get_table_names():
        query = select(migration_phases.c.revision, migration_phases.c.phase)
        newer = dict(connection.execute(query.where(migration_phases.c.revision > HEAD)).all())
    steps = [f"{number:04d}" for number in range(int(HEAD) + 1, int(found) + 1)]
    contracted = [step for step in steps if newer.get(step, CONTRACT) != EXPAND]
    if contracted:
        raise MigrationRefused(
            f"the catalogue is at migration {found}, newer than this lading's {HEAD}, and "
            f"more than expanded since ({', '.join(contracted)}): run the lading that "
            "migrated it"
        )
    log.warning(
        "the catalogue is at migration %s, newer than this lading's %s; its newer steps only "
        "expand it, so this node serves on (upgrade it: a rolling upgrade is under way)",
        found, HEAD,
    )  # fmt: skip
    return found


def _record_phases(connection: Connection, chain: list[Migration]) -> None:
    """Note the phase of each migration applied, once migration_phases exists (0021)."""
    reached = revision_of(connection)
    if reached is None or migration_phases.name not in inspect(connection).get_table_names():
        return
    known = set(connection.execute(select(migration_phases.c.revision)).scalars())
    rows = [
        {"revision": migration.revision, "phase": migration.phase}
        for migration in chain
        if migration.revision <= reached and migration.revision not in known
    ]
    if rows:
        connection.execute(insert(migration_phases), rows)


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _alembic_upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    config = _alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


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
