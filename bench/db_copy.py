"""``lading db copy`` of a large SQLite catalogue into PostgreSQL: its time and its
memory, which should not grow with the rows.

    .venv/bin/python bench/db_copy.py [--artifacts 200000] [--properties 4]
        [--postgres postgresql+psycopg://lading:lading@127.0.0.1:5432/postgres]

It makes a catalogue of ``artifacts`` images with ``properties`` properties and one tag
each (1 million rows by default), copies it into a new PostgreSQL database with the
``lading`` command in a process of its own, and prints the rows a second and the
command's peak RSS beside an empty copy's (the interpreter and its imports).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from lading.db.engine import Database
from lading.db.models import artifact_properties, artifact_tags, artifacts

BATCH = 10_000


def fill(url: str, count: int, properties: int) -> int:
    database = Database(url)
    database.upgrade()
    moment = datetime(2026, 1, 1)
    made = 0
    with database.engine.begin() as connection:
        for start in range(0, count, BATCH):
            ids = [str(uuid.UUID(int=n + 1)) for n in range(start, min(start + BATCH, count))]
            connection.execute(artifacts.insert(), [
                {"id": i, "name": f"image-{i[-8:]}", "owner": "A", "visibility": "private",
                 "status": "queued", "disk_format": "raw", "container_format": "bare",
                 "protected": False, "os_hidden": False, "min_disk": 0, "min_ram": 0,
                 "created_at": moment, "updated_at": moment}
                for i in ids
            ])  # fmt: skip
            connection.execute(artifact_properties.insert(), [
                {"artifact_id": i, "name": f"property_{p}", "value": f"value {p} of {i}"}
                for i in ids for p in range(properties)
            ])  # fmt: skip
            tags = [{"artifact_id": i, "tag": "t"} for i in ids]
            connection.execute(artifact_tags.insert(), tags)
            made += len(ids) * (2 + properties)
    database.dispose()
    return made


def copy(source: str, target: str) -> tuple[float, int, str]:
    """Seconds, peak RSS (KiB) and output of ``lading db copy`` in a process of its own."""
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("lading")), "db", "copy", "--from", source,
         "--to", target],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr + done.stdout
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak, done.stdout


def scratch(server_url: str) -> str:
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"lading_bench_copy_{uuid.uuid4().hex[:8]}"
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop(server_url: str, url: str) -> None:
    server = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)'))
    server.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=200_000)
    parser.add_argument("--properties", type=int, default=3)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://lading:lading@127.0.0.1:5432/postgres"
    )
    options = parser.parse_args()
    os.environ.pop("LADING_CONFIG", None)
    with tempfile.TemporaryDirectory() as directory:
        empty = f"sqlite:///{Path(directory) / 'empty.db'}"
        fill(empty, 0, 0)
        target = scratch(options.postgres)
        try:
            overhead, baseline, _ = copy(empty, target)
        finally:
            drop(options.postgres, target)
        source = f"sqlite:///{Path(directory) / 'large.db'}"
        started = time.monotonic()
        rows = fill(source, options.artifacts, options.properties)
        print(f"made {rows} rows in {time.monotonic() - started:.1f} s")
        target = scratch(options.postgres)
        try:
            elapsed, peak, output = copy(source, target)
        finally:
            drop(options.postgres, target)
        print(output.strip().splitlines()[-1])
        print(f"an empty catalogue's copy (start, migrations, checks): {overhead:.1f} s")
        print(f"copied and checked {rows} rows in {elapsed:.1f} s ({rows / elapsed:,.0f} rows/s); "
              f"peak RSS {peak / 1024:.0f} MiB (an empty catalogue's: "
              f"{baseline / 1024:.0f} MiB)")  # fmt: skip


if __name__ == "__main__":
    main()
