"""Two worker processes on one database share a queue of 50 tasks: each runs exactly once.
(On PostgreSQL their claims skip each other's locked rows; on SQLite they take turns.)"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from lading.db.engine import Database
from lading.domain import Task
from lading.services.tasks import Progress, Tasks
from lading.settings import Settings

pytestmark = pytest.mark.server  # worker processes of its own

WORKER = """
import sys
import anyio
from lading.db.engine import Database
from lading.services.tasks import Tasks
from lading.settings import Settings

url, out, scratch = sys.argv[1:4]
database = Database(url)
tasks = Tasks(Settings(data_dir=scratch), database)

async def record(task, progress):
    with open(out, "a") as file:
        file.write(task.id + "\\n")
    await anyio.sleep(0.005)

tasks.register("record", record)

async def drain():
    idle = 0
    while idle < 25:  # half a second with nothing left to claim
        if await tasks.run_one():
            idle = 0
        else:
            idle += 1
            await anyio.sleep(0.02)

anyio.run(drain)
database.dispose()
"""


def test_two_processes_run_each_task_once(database_url: str, tmp_path: Path) -> None:
    database = Database(database_url)
    database.upgrade()
    tasks = Tasks(Settings(data_dir=tmp_path), database)

    async def unused(task: Task, progress: Progress) -> None:
        raise AssertionError("the parent submits; the workers run")

    async def submit_all() -> list[str]:
        return [(await tasks.submit("p", "record", {"i": i})).id for i in range(50)]

    tasks.register("record", unused)
    submitted = anyio.run(submit_all)
    outputs = [tmp_path / f"worker-{n}.txt" for n in range(2)]
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, database_url, str(out), str(tmp_path)])
        for out in outputs
    ]
    for worker in workers:
        assert worker.wait(60) == 0
    runs = Counter(line for out in outputs if out.exists() for line in out.read_text().split())
    assert runs == Counter(submitted)  # every task, once
    database.dispose()
