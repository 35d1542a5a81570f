"""Services wired to a real catalogue (SQLite, then PostgreSQL) and an in-memory store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lading.db.engine import Database
from lading.services import Services
from lading.services.access import Caller
from lading.services.roles import ADMIN
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
from tests.stores.faulty import FaultyStore


@pytest.fixture
def store() -> FaultyStore:
    return FaultyStore("default")


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def services(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> Services:
    settings = Settings(data_dir=tmp_path, upload_stuck_after=60)
    registry = StoreRegistry({"default": store}, "default")
    return Services.build(settings, database, registry, clock)


@pytest.fixture
def admin() -> Caller:
    return Caller.with_role("project", ADMIN)
