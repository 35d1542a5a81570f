"""The migrations build exactly the tables the code declares, on every engine."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from lading.db.engine import Database
from lading.db.models import for_dialect, metadata


def test_migrations_match_the_models(database_url: str) -> None:
    database = Database(database_url)
    database.upgrade()
    database.upgrade()  # applying twice is harmless
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": for_dialect(connection.dialect.name)}
        )
        differences = compare_metadata(context, metadata)
    database.dispose()
    assert differences == []
