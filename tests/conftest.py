"""Fixtures shared by the suite: settings in a temporary directory, the app in-process.

Tests that take ``database_url`` (through ``settings`` or ``database``) run twice: on
SQLite and on PostgreSQL. The PostgreSQL server comes from ``scripts/services.sh``
(``make test`` starts it when it can); without it those runs are skipped, saying why,
unless ``LADING_REQUIRE_SERVICES`` is set (CI), which makes them fail instead.

The apps driven in-process are reached at ``http://lading.test`` or ``http://testserver``
(the test clients' default): ``LADING_ALLOWED_HOSTS`` lets them answer those names, as an
operator's settings would, and nothing else (tests of the host rule name others).

Every test is in one of two tiers. ``make check`` runs the fast one: in-process tests that
need nothing but this checkout (SQLite, memory and temporary directories). ``make test``
runs everything. A test leaves the fast tier through a marker (registered in
pyproject.toml), set here by what it uses, so that nobody has to remember it:

- ``services``: a real server of scripts/services.sh (PostgreSQL, Swift and its S3 API,
  Keystone, Ceph): the fixtures in ``SERVICE_FIXTURES``, or a parameter that names one
  (``postgresql`` of ``database_url``, a store on Swift, S3 or Ceph: ``pytest.param(...,
  marks=SERVICES)``);
- ``server``: a server process the test starts (``lading serve``, granian): the fixtures in
  ``SERVER_FIXTURES``, every test under tests/clients and tests/resilience;
- ``clients``: the real glance CLI, openstacksdk, curl or a browser (tests/clients);
- ``fuzz``, ``soak``, ``kills``: set by hand on those tests;
- ``heavy``: set by hand on the few in-process tests that take seconds by design (hundreds
  of MiB through an import, archive bombs, a timeout waited out).

A test of the fast tier that reaches a service fixture anyway (through
``request.getfixturevalue``) fails, naming the marker it needs: the fast tier stays
runnable without the services.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.testclient import TestClient

from lading.app import create_app
from lading.db.engine import Database
from lading.db.models import metadata
from lading.settings import Settings
from tests.ceph_server import CephPool, session_pool
from tests.object_servers import Bucket, session_bucket, session_containers
from tests.services_required import SERVICES, unavailable
from tests.world import IDENTITIES, World, open_world

POSTGRES_URL_VARIABLE = "LADING_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://lading:lading@127.0.0.1:5432/postgres"
DROP_ATTEMPTS = 20  # half a second apart
KEYSTONE_URL_VARIABLE = "LADING_TEST_KEYSTONE_URL"
DEFAULT_KEYSTONE_URL = "http://127.0.0.1:5000/v3"
# Tests of tens of seconds each (fuzzing, faults) go first, and the heavy ones, so that
# none of them starts on a worker while the others run out of tests: the suite ends on
# short ones.
SLOW_FIRST = ("tests/api/test_fuzz.py", "tests/resilience/")
TEST_HOSTS = '["lading.test", "testserver"]'
SERVICE_FIXTURES = frozenset({"postgres_url", "s3_bucket", "swift_container", "ceph_pool",
                              "keystone_url"})  # fmt: skip
SERVER_FIXTURES = frozenset({"lading_server", "deployment", "files_server", "keystone_v3"})
SERVER_DIRECTORIES = ("tests/clients/", "tests/resilience/")
# A test with any of these is out of the fast tier (pyproject.toml registers them).
TIER_MARKERS = ("services", "server", "clients", "fuzz", "soak", "kills", "heavy")
CLIENT_DIRECTORIES = ("tests/clients/",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        mark_tier(item)
    items.sort(key=lambda item: not slow(item))  # stable


def slow(item: pytest.Item) -> bool:
    return item.nodeid.startswith(SLOW_FIRST) or item.get_closest_marker("heavy") is not None


def mark_tier(item: pytest.Item) -> None:
    """Take ``item`` out of the fast tier by what it uses (see the module's docstring)."""
    used = set(getattr(item, "fixturenames", ()))
    if used & SERVICE_FIXTURES:
        item.add_marker(SERVICES)
    if used & SERVER_FIXTURES or item.nodeid.startswith(SERVER_DIRECTORIES):
        item.add_marker(pytest.mark.server)
    if item.nodeid.startswith(CLIENT_DIRECTORIES):
        item.add_marker(pytest.mark.clients)


@pytest.fixture(autouse=True)
def tier_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test of the fast tier that reached a service (through
    ``request.getfixturevalue``, which collection cannot see) without its ``services``
    marker: the fast tier would need the service."""
    yield
    reached = SERVICE_FIXTURES.intersection(request.fixturenames)
    if reached and not any(request.node.get_closest_marker(name) for name in TIER_MARKERS):
        pytest.fail(
            f"{request.node.nodeid} uses {sorted(reached)} without the services marker: give "
            "the parameter that reaches it marks=SERVICES (tests/conftest.py)"
        )


@pytest.fixture(scope="session", autouse=True)
def test_hosts() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LADING_ALLOWED_HOSTS", TEST_HOSTS)
        yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def s3_bucket() -> Iterator[Bucket]:
    """A bucket of this session's own on Swift's S3 API."""
    yield from session_bucket()


@pytest.fixture(scope="session")
def swift_container() -> Iterator[str]:
    """A container of this session's own (and its segments container) on Swift."""
    name = f"lading-test-{uuid.uuid4().hex[:12]}"
    with session_containers(name, f"{name}_segments"):
        yield name


@pytest.fixture(scope="session")
def ceph_pool() -> Iterator[CephPool]:
    """The Ceph pool of scripts/services.sh, with an image name prefix of this session's own."""
    yield from session_pool()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this test session's own on the PostgreSQL server, migrated."""
    with scratch_database("lading_test") as url:
        yield url


@pytest.fixture(scope="session")
def keystone_url() -> str:
    """The identity v3 endpoint of the Keystone that scripts/services.sh starts."""
    url = os.environ.get(KEYSTONE_URL_VARIABLE, DEFAULT_KEYSTONE_URL)
    try:
        httpx.get(url, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        unavailable(f"Keystone is not reachable at {url!r}: {exc}")
    return url


@contextlib.contextmanager
def scratch_database(prefix: str, migrated: bool = True) -> Iterator[str]:
    """A new database named ``prefix`` and a unique suffix, migrated unless told not to
    (lading then migrates it itself); dropped afterwards."""
    server_url = make_url(os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL))
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with server.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
            # A commit returns before its WAL is flushed to disk, as SQLite's WAL with
            # synchronous=NORMAL does: durable across a crash of lading, not of the
            # machine, which no test causes. Each commit no longer waits on an fsync
            # (2 to 14 ms each on a busy disk, against under 1 ms).
            connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    except OperationalError as exc:
        server.dispose()
        unavailable(f"PostgreSQL is not reachable at {server_url!r}: {exc.orig}")
    url = server_url.set(database=name).render_as_string(hide_password=False)
    if migrated:
        database = Database(url)
        database.upgrade()
        database.dispose()
    try:
        yield url
    finally:
        try:
            _drop(server, name)
        finally:
            server.dispose()


@contextlib.contextmanager
def unmigrated_database(kind: str, tmp_path: Path, prefix: str) -> Iterator[str]:
    """An empty SQLite or PostgreSQL database, for a test to build an old schema in."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    with scratch_database(prefix, migrated=False) as url:
        yield url


def _drop(server: Engine, name: str) -> None:
    """Drop the database, its sessions ended first. A backend this role may not end
    (autovacuum, busy in a database that just had much work) is waited for, a while."""
    for attempt in range(DROP_ATTEMPTS):
        try:
            with server.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if attempt == DROP_ATTEMPTS - 1:
                raise
            time.sleep(0.5)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite catalogue migrated once a session, which tests copy: migrating costs
    more than a tenth of a second, and most tests start an app on a new catalogue."""
    path = tmp_path_factory.mktemp("template") / "catalogue.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()
    return path


# What empties the session's PostgreSQL catalogue before each test, sent as one batch: a
# round trip per table (35) took 30 ms a test, 12 ms of it CPU; this takes 18 ms and 5 ms.
# DELETE, not TRUNCATE: on tables this small it is ten times faster.
EMPTY_CATALOGUE = "".join(
    f'DELETE FROM "{table.name}";' for table in reversed(metadata.sorted_tables)
) + (  # every sequence back to its start, as ALTER SEQUENCE .. RESTART does
    "SELECT setval((quote_ident(schemaname) || '.' || quote_ident(sequencename))::regclass,"
    " start_value, false) FROM pg_sequences;"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=SERVICES)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "catalogue.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    with engine.begin() as connection:  # every test starts from an empty catalogue
        connection.exec_driver_sql(EMPTY_CATALOGUE)
    engine.dispose()
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    """Who the ``world`` has tokens for: name -> (project, role). A module may override it."""
    return IDENTITIES


@pytest.fixture
def world_settings(settings: Settings) -> Settings:
    """The settings of the ``world``; a module may override it."""
    return settings


@pytest.fixture
def world(world_settings: Settings, identities: Mapping[str, tuple[str, str]]) -> Iterator[World]:
    """The app driven in-process, with a token for each of ``identities`` (tests/world.py)."""
    with open_world(create_app(world_settings), identities) as opened:
        yield opened


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real application, driven in-process over ASGI, lifespan included."""
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client
