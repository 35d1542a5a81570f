"""The migrations build exactly the tables the code declares, on every engine."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from lading.db.engine import HEAD, MIGRATIONS, Database
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


def test_the_head_lading_checks_at_start_is_alembics() -> None:
    """A start compares the catalogue with HEAD, found from file names without alembic:
    that holds while each revision is named by its file's number, one after another."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == [HEAD]
    for script in scripts.walk_revisions():
        assert Path(script.path).name.startswith(f"{script.revision}_")
        assert script.down_revision in (None, f"{int(script.revision) - 1:04d}")
