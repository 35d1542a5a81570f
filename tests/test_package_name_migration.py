"""A catalogue from before package names had owners keeps working after the migration:
the project with the oldest live version owns each name, failed uploads let go of their
file names, and ``lading db check`` lists the names that several projects published."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from lading.cli import main
from lading.db.engine import Database
from lading.settings import CONFIG_FILE_VARIABLE
from tests.conftest import unmigrated_database
from tests.services_required import SERVICES

START = datetime(2026, 1, 1)
ID = "00000000-0000-0000-0000-00000000000"
# (id, name, version, file name, owner, status, checksum, days after START)
ROWS = [
    (f"{ID}1", "tool", "1.0", "tool-1.0.tgz", "b", "deleted", "c1", 0),
    (f"{ID}2", "tool", "1.1", "tool-1.1.tgz", "a", "active", "c2", 1),
    (f"{ID}3", "Tool", "2.0", "Tool-2.0.tgz", "b", "active", "c3", 2),
    (f"{ID}4", "tool", "3.0", "tool-3.0.tgz", "c", "killed", None, 3),
    (f"{ID}5", "tool", "3.1", "tool-3.1.tgz", "c", "deleted", None, 4),
    (f"{ID}6", "solo", "1.0", "solo-1.0.tgz", "c", "active", "c6", 5),
    (f"{ID}7", "image", None, None, "d", "active", "c7", 6),
]  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=SERVICES)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with unmigrated_database(request.param, tmp_path, "names") as url:
        yield url


def test_shared_names_get_their_oldest_owner_and_are_listed(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = Database(empty_url)
    database.upgrade("0006")
    with database.engine.begin() as connection:
        for row_id, name, version, filename, owner, status, checksum, days in ROWS:
            moment = START + timedelta(days=days)
            connection.execute(
                text(
                    "INSERT INTO artifacts (id, name, version, filename, owner, visibility, "
                    "protected, os_hidden, status, checksum, min_disk, min_ram, published, "
                    "created_at, updated_at) VALUES (:id, :name, :version, :filename, :owner, "
                    "'private', false, false, :status, :checksum, 0, 0, true, :at, :at)"
                ),
                {"id": row_id, "name": name, "version": version, "filename": filename,
                 "owner": owner, "status": status, "checksum": checksum, "at": moment},
            )  # fmt: skip
    database.upgrade()
    with database.engine.connect() as connection:
        owners = connection.execute(
            text("SELECT key, name, owner FROM package_names ORDER BY key")
        ).all()
        files: dict[str, str] = dict(
            connection.execute(text("SELECT id, filename FROM artifacts")).all()
        )
    database.dispose()
    # The oldest live version's project: a (b's older one is deleted); Tool is tool.
    assert [tuple(row) for row in owners] == [("solo", "solo", "c"), ("tool", "tool", "a")]
    # Failed attempts (never any data) let go of their file name; the rest keep theirs.
    assert files[ROWS[3][0]] is None and files[ROWS[4][0]] is None
    assert files[ROWS[0][0]] == "tool-1.0.tgz" and files[ROWS[2][0]] == "Tool-2.0.tgz"

    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\ndatabase_url = "{empty_url}"\n')
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(config))
    result = CliRunner().invoke(main, ["db", "check"])
    assert result.exit_code == 1, (result.output, result.exception)
    assert result.stdout.splitlines() == ["tool: owned by a; also published by b (1)"]
