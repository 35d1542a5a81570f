"""A migrated catalogue of the test's own, on SQLite, then on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lading.db.engine import Database


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()
