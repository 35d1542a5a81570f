"""Each migration's phase is true to what it does: an expand step only adds what nodes of
the previous release can ignore, every destructive change is a contract step; and
``expand`` stops before the contract steps that end the chain.

The schema before and after each migration is read back from the database (not from the
migration's text), on SQLite and PostgreSQL, so a change made by raw SQL counts as much
as one made through alembic's operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, TextClause, delete, insert, inspect, select, text, update
from starlette.testclient import TestClient

from lading.app import create_app
from lading.cli import main
from lading.db.engine import (
    CONTRACT,
    EXPAND,
    HEAD,
    MIGRATIONS,
    Database,
    Migration,
    MigrationRefused,
    last_expand,
    migrations,
)
from lading.db.models import migration_phases
from lading.settings import Settings
from tests.conftest import unmigrated_database
from tests.services_required import SERVICES


@dataclass
class TableShape:
    columns: dict[str, tuple[str, bool, Any]] = field(default_factory=dict)
    primary_key: tuple[str, ...] = ()
    unique: set[tuple[str, ...]] = field(default_factory=set)
    indexes: set[tuple[str | None, tuple[str, ...], bool]] = field(default_factory=set)
    foreign_keys: set[tuple[tuple[str, ...], str, tuple[str, ...]]] = field(default_factory=set)


def shape(connection: Connection) -> dict[str, TableShape]:
    """The schema as the database reports it."""
    found = inspect(connection)
    tables = {}
    for name in found.get_table_names():
        table = TableShape()
        for column in found.get_columns(name):
            table.columns[column["name"]] = (
                str(column["type"]),
                column["nullable"],
                column.get("default"),
            )
        table.primary_key = tuple(found.get_pk_constraint(name)["constrained_columns"])
        table.unique = {tuple(u["column_names"]) for u in found.get_unique_constraints(name)}
        table.indexes = {
            (index["name"], tuple(str(c) for c in index["column_names"]), bool(index["unique"]))
            for index in found.get_indexes(name)
        }
        table.foreign_keys = {
            (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
            for fk in found.get_foreign_keys(name)
        }
        tables[name] = table
    return tables


def destructive(before: dict[str, TableShape], after: dict[str, TableShape]) -> list[str]:
    """What in going from ``before`` to ``after`` a node of the previous release could trip
    on: anything dropped, renamed or changed, a new column it would not fill (NOT NULL
    without a default), a new rule its writes could break (unique, foreign key, NOT NULL)
    on a table it writes. New tables, nullable or defaulted columns and plain indexes are
    what an expand step may add."""
    problems = []
    for name, old in before.items():
        new = after.get(name)
        if new is None:
            problems.append(f"drops table {name}")
            continue
        for column, (kind, nullable, _default) in old.columns.items():
            now = new.columns.get(column)
            if now is None:
                problems.append(f"drops column {name}.{column}")
            elif now[0] != kind:
                problems.append(f"changes the type of {name}.{column}: {kind} -> {now[0]}")
            elif nullable and not now[1]:
                problems.append(f"makes {name}.{column} NOT NULL")
        for column, (_kind, nullable, default) in new.columns.items():
            if column not in old.columns and not nullable and default is None:
                problems.append(f"adds {name}.{column}, NOT NULL without a default")
        if new.primary_key != old.primary_key:
            problems.append(f"changes {name}'s primary key")
        for unique in old.unique - new.unique:
            problems.append(f"drops the unique constraint on {name}{unique}")
        for unique in new.unique - old.unique:
            problems.append(f"adds a unique constraint on {name}{unique}")
        for index in old.indexes - new.indexes:
            problems.append(f"drops or changes index {index[0]} on {name}")
        for index in new.indexes - old.indexes:
            if index[2]:
                problems.append(f"adds unique index {index[0]} on {name}")
        for key in old.foreign_keys - new.foreign_keys:
            problems.append(f"drops the foreign key {name}{key[0]} -> {key[1]}")
        for key in new.foreign_keys - old.foreign_keys:
            problems.append(f"adds a foreign key {name}{key[0]} -> {key[1]}")
    return problems


def test_every_migration_declares_its_phase() -> None:
    for path in sorted((MIGRATIONS / "versions").glob("0*.py")):
        text = path.read_text()
        assert 'phase = "expand"' in text or 'phase = "contract"' in text, path.name
    assert {migration.phase for migration in migrations()} <= {EXPAND, CONTRACT}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=SERVICES)])
def test_expand_steps_only_add(kind: str, tmp_path: Path) -> None:
    """Every migration declared expand leaves a schema that the previous one's code can
    use unchanged; what does not is declared contract."""
    wrong = []
    with unmigrated_database(kind, tmp_path, "lading_phases") as url:
        database = Database(url)
        with database.engine.connect() as connection:
            before = shape(connection)
        for migration in migrations():
            database.upgrade(migration.revision)
            with database.engine.connect() as connection:
                after = shape(connection)
            problems = destructive(before, after)
            if migration.phase == EXPAND and problems:
                wrong.append(f"{migration.revision} is declared expand but {'; '.join(problems)}")
            before = after
        database.dispose()
    assert wrong == []


def test_expand_stops_before_the_contract_steps_that_end_the_chain() -> None:
    chain = [
        Migration("0021", EXPAND, ""),
        Migration("0022", CONTRACT, ""),
        Migration("0023", EXPAND, ""),
        Migration("0024", EXPAND, ""),
        Migration("0025", CONTRACT, ""),
        Migration("0026", CONTRACT, ""),
    ]
    # The previous release's contract steps (0022) go with this release's expand steps.
    assert last_expand(chain, "0021") == "0024"
    assert last_expand(chain, "0024") == "0024"
    assert last_expand(chain, "0025") == "0025"  # never back
    assert last_expand(chain, None) == "0024"
    assert migrations()[-1].revision == HEAD


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=SERVICES)])
def test_every_applied_migration_has_its_phase_noted(kind: str, tmp_path: Path) -> None:
    with unmigrated_database(kind, tmp_path, "lading_noted") as url:
        database = Database(url)
        database.upgrade("0019")  # a catalogue from before the phases were noted
        database.upgrade()
        with database.engine.connect() as connection:
            noted: dict[str, str] = dict(connection.execute(select(migration_phases)).all())
        database.dispose()
    assert noted == {migration.revision: migration.phase for migration in migrations()}


def update_version(revision: str) -> TextClause:
    return text("UPDATE alembic_version SET version_num = :revision").bindparams(revision=revision)


def test_a_node_serves_on_a_catalogue_that_a_newer_release_only_expanded(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What the next release's expand leaves (simulated: its code is not written yet):
    this release's nodes start and serve on it; not once it is contracted."""
    newer = f"{int(HEAD) + 1:04d}"
    database = Database(database_url)
    with database.engine.begin() as connection:
        connection.execute(update_version(newer))
        connection.execute(insert(migration_phases).values(revision=newer, phase=EXPAND))
    try:
        served_until_contracted(database, database_url, newer, tmp_path, caplog)
    finally:  # PostgreSQL's catalogue is the session's: back to this release's
        with database.engine.begin() as connection:
            connection.execute(update_version(HEAD))
            connection.execute(delete(migration_phases).where(migration_phases.c.revision > HEAD))
        database.dispose()


def served_until_contracted(
    database: Database,
    database_url: str,
    newer: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert database.upgrade() == newer
    assert f"the catalogue is at migration {newer}, newer than this lading's" in caplog.text
    for migrate in (database.expand, database.contract):  # but it migrates nothing
        with pytest.raises(MigrationRefused, match="migrate it with the lading that migrated"):
            migrate()
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        body = {"name": "served", "disk_format": "raw", "container_format": "bare"}
        assert client.post("/v2/images", json=body).status_code == 201

    with database.engine.begin() as connection:
        connection.execute(update(migration_phases).values(phase=CONTRACT))
    with pytest.raises(MigrationRefused, match=f"more than expanded since \\({newer}\\)"):
        database.upgrade()
    with database.engine.begin() as connection:  # a release before the phases were noted
        connection.execute(delete(migration_phases))
    with pytest.raises(MigrationRefused, match=f"newer than this lading's {HEAD}"):
        database.upgrade()
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"LADING_DATABASE_URL": database_url})
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: the catalogue is at migration {newer}")


def test_db_expand_then_contract(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalogue.db'}"
    database = Database(url)
    database.upgrade("0019")
    database.dispose()
    environment = {"LADING_DATABASE_URL": url}
    refused = CliRunner().invoke(main, ["db", "contract"], env=environment)
    assert refused.exit_code == 1
    assert refused.output == (
        "Error: expand steps are pending: run lading db expand, upgrade every node, then "
        "lading db contract\n"
    )
    expanded = CliRunner().invoke(main, ["db", "expand"], env=environment)
    assert expanded.exit_code == 0, expanded.output
    last = max(m.revision for m in migrations() if m.phase == EXPAND)
    assert expanded.output.startswith(
        f"expanded to migration {last}: {tmp_path / 'catalogue.db'}\n"
    )
    waiting = [m.revision for m in migrations() if m.phase == CONTRACT and m.revision > last]
    assert ("contract steps waiting" in expanded.output) == bool(waiting)
    contracted = CliRunner().invoke(main, ["db", "contract"], env=environment)
    assert contracted.exit_code == 0, contracted.output
    assert contracted.output == f"contracted to migration {HEAD}: {tmp_path / 'catalogue.db'}\n"
