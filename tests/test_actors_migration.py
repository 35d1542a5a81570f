"""A catalogue from before tasks kept their request and user in columns (they were in the
input JSON, under ``_origin``) keeps them after the migration, out of the input; and
artifacts made before it say nobody made them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from lading.db.engine import MIGRATIONS, Database
from lading.db.tasks import fetch_task
from tests.conftest import unmigrated_database
from tests.services_required import SERVICES

AT = datetime(2026, 12, 1)
ID = "00000000-0000-0000-0000-00000000000"
IMPORT_INPUT = {"method": "web-download", "uri": "https://example.org/a.img", "stores": []}
# (id, input as revision 0008 stored it)
TASKS = [
    (f"{ID}1", IMPORT_INPUT | {"_origin": {"request_id": "req-1", "user_id": "u-1"}}),
    (f"{ID}2", IMPORT_INPUT | {"_origin": {"request_id": "req-2"}}),  # a lading token: no user
    (f"{ID}3", {"source": "upload", "filename": "_origin", "role": "member"}),  # only a value
    (f"{ID}4", {"webhook": "ci", "body": '{"note": "\\"_origin\\""}'}),  # inside a string
]  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=SERVICES)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with unmigrated_database(request.param, tmp_path, "actors") as url:
        yield url


def rows(database: Database, query: str) -> list[dict[str, Any]]:
    with database.engine.connect() as connection:
        return [dict(row) for row in connection.execute(text(query)).mappings()]


def test_a_tasks_request_and_user_move_from_its_input_to_columns(empty_url: str) -> None:
    database = Database(empty_url)
    database.upgrade("0008")
    with database.engine.begin() as connection:
        for task_id, task_input in TASKS:
            connection.execute(
                text(
                    "INSERT INTO tasks (id, type, status, owner, input, message, done_bytes, "
                    "attempts, created_at, updated_at) VALUES (:id, 'api_image_import', "
                    "'pending', 'p', :input, '', 0, 0, :at, :at)"
                ),
                {"id": task_id, "input": json.dumps(task_input), "at": AT},
            )
        connection.execute(
            text(
                "INSERT INTO artifacts (id, owner, visibility, protected, os_hidden, status, "
                "min_disk, min_ram, published, created_at, updated_at) VALUES (:id, 'p', "
                "'private', false, false, 'queued', 0, 0, true, :at, :at)"
            ),
            {"id": f"{ID}9", "at": AT},
        )
    database.upgrade()

    found = {row["id"]: row for row in rows(database, "SELECT * FROM tasks")}
    assert [(found[task_id]["request_id"], found[task_id]["user_id"]) for task_id, _ in TASKS] == [
        ("req-1", "u-1"), ("req-2", None), (None, None), (None, None)
    ]  # fmt: skip
    assert json.loads(found[TASKS[0][0]]["input"]) == IMPORT_INPUT
    assert json.loads(found[TASKS[1][0]]["input"]) == IMPORT_INPUT
    for task_id, task_input in TASKS[2:]:  # the key's name in a value is left alone
        assert json.loads(found[task_id]["input"]) == task_input
    with database.engine.connect() as connection:
        task = fetch_task(connection, TASKS[0][0])
    assert task is not None and task.input == IMPORT_INPUT
    assert (task.request_id, task.user_id) == ("req-1", "u-1")
    (artifact,) = rows(database, "SELECT created_by, created_by_project FROM artifacts")
    assert artifact == {"created_by": None, "created_by_project": None}

    # And back: the columns go, their values into the input as before.
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    inputs = {row["id"]: json.loads(row["input"]) for row in rows(database, "SELECT * FROM tasks")}
    database.dispose()
    assert inputs == dict(TASKS)
