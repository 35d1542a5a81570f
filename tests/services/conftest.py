"""Services wired to a real SQLite catalogue and an in-memory store."""

from __future__ import annotations

from pathlib import Path

import pytest

from lading.db.engine import Database
from lading.services import Services
from lading.services.access import Caller
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.stores.faulty import FaultyStore


@pytest.fixture
def store() -> FaultyStore:
    return FaultyStore("default")


@pytest.fixture
def database(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'catalogue.db'}")
    database.upgrade()
    return database


@pytest.fixture
def services(tmp_path: Path, database: Database, store: FaultyStore) -> Services:
    settings = Settings(data_dir=tmp_path, upload_stuck_after=60)
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"))


@pytest.fixture
def admin() -> Caller:
    return Caller.open_admin("project")
