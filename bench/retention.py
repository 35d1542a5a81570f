"""Retention benchmark: how long a plan and a run take over many artifacts, and what
recording downloads costs a download.

In-process (no server): the catalogue is filled with ``--count`` active artifacts of one
project (``--versions`` versions of each name, each with its own stored object, written
straight into the tables of ``lading.db.models``), under one policy that keeps the 3
newest versions of every name. Then it measures the plan (p50 of ``--runs``), the first
run (every retired artifact scheduled and hidden, one transaction each), ``served`` (what
a download pays: a dict look-up), and a flush of 1,000 noted downloads.

Usage (from the repository root):

    .venv/bin/python bench/retention.py                       # SQLite, 10,000 artifacts
    .venv/bin/python bench/retention.py --count 100000
    .venv/bin/python bench/retention.py --database postgresql+psycopg://lading:lading@127.0.0.1:5432/DB
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import timeit
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import anyio
from sqlalchemy import Connection, insert

from lading.db.engine import Database
from lading.db.models import artifacts, blobs, locations, metadata
from lading.services import Services
from lading.services.access import Caller
from lading.services.roles import MEMBER
from lading.settings import Settings
from lading.stores.memory import MemoryStore
from lading.stores.registry import StoreRegistry
from lading.version_order import version_key

PROJECT = "bench"


def fill(database: Database, count: int, versions: int) -> list[str]:
    """``count`` active artifacts, ``versions`` per name, each with a blob of its own."""
    now = datetime.now() - timedelta(days=30)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows, blob_rows, links = [], [], []
    for number, artifact_id in enumerate(ids):
        version = f"1.{number % versions}"
        rows.append({
            "id": artifact_id, "name": f"pkg-{number // versions}", "version": version,
            "version_key": version_key(version), "owner": PROJECT, "visibility": "private",
            "protected": False, "os_hidden": False, "status": "active", "size": 1000,
            "checksum": "0" * 32, "os_hash_algo": "sha256", "os_hash_value": f"{number:064x}",
            "published": True, "created_at": now + timedelta(seconds=number),
            "updated_at": now, "min_disk": 0, "min_ram": 0,
        })  # fmt: skip
        blob_rows.append({"id": number + 1, "store": "default", "key": f"k{number}",
                          "state": "ready", "size": 1000, "sha256": f"{number:064x}",
                          "refcount": 1, "updated_at": now})  # fmt: skip
        links.append({"artifact_id": artifact_id, "blob_id": number + 1})

    def write(connection: Connection) -> None:
        for table, values in ((artifacts, rows), (blobs, blob_rows), (locations, links)):
            for start in range(0, len(values), 1000):
                connection.execute(insert(table), values[start : start + 1000])

    database.run(True, write)
    return ids


def empty(connection: Connection) -> None:
    for table in reversed(metadata.sorted_tables):
        connection.execute(table.delete())


async def measure(services: Services, ids: list[str], runs: int) -> dict[str, str]:
    owner = Caller.with_role(PROJECT, MEMBER)
    await services.retention.create_policy(owner, {"keep_newest": 3})
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        plan = await services.retention.plan(PROJECT)
        times.append(time.perf_counter() - started)
    started = time.perf_counter()
    report = await services.retention.apply(PROJECT)
    applied = time.perf_counter() - started
    ledger = services.downloads
    calls = 100_000
    served = timeit.timeit(lambda: ledger.served(ids[0]), number=calls) / calls
    for artifact_id in ids[:1000]:
        ledger.served(artifact_id)
    started = time.perf_counter()
    written = await ledger.flush()
    flushed = time.perf_counter() - started
    return {
        "artifacts": f"{len(ids)}",
        "retired": f"{len(plan.steps)}",
        "plan p50": f"{statistics.median(times) * 1000:.0f} ms",
        "first run (schedule + hide each)": (
            f"{applied:.2f} s ({applied / max(len(report.hidden), 1) * 1000:.2f} ms/artifact)"
        ),
        "served() per download": f"{served * 1e9:.0f} ns",
        f"flush of {written} downloads": f"{flushed * 1000:.0f} ms",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database", help="A database URL (default: SQLite in a temp dir).")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        url = options.database or f"sqlite:///{Path(scratch) / 'bench.db'}"
        database = Database(url)
        database.upgrade()
        if options.database:  # a scratch database of the caller's: emptied first
            database.run(True, empty)
        ids = fill(database, options.count, options.versions)
        settings = Settings(data_dir=Path(scratch))
        stores = StoreRegistry({"default": MemoryStore("default")}, "default")
        services = Services.build(settings, database, stores)
        figures = anyio.run(measure, services, ids, options.runs)
        database.dispose()
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
