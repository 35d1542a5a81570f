"""OCI registry garbage collection and quota benchmark, in-process (the registry service,
no HTTP): how long a collection takes over many links, and what the quota's usage query
costs a push.

Seeds ``--repositories`` repositories of ``--blobs`` small blobs each through the
registry service (a memory store), a manifest naming half of each repository's blobs;
then, past the grace (a clock moved on), times a dry run, the collection (which unlinks
the other half and frees their bytes), a second collection (nothing left to do), and the
quota's usage query of the project holding them all.

    .venv/bin/python bench/oci_gc.py                                  # SQLite
    .venv/bin/python bench/oci_gc.py --database-url postgresql+psycopg://lading:lading@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import anyio

from lading.clock import Clock
from lading.db import oci as queries
from lading.db.engine import Database
from lading.services import Services
from lading.services.access import Caller
from lading.services.oci import OCI_MANIFEST, Access
from lading.services.roles import MEMBER
from lading.settings import Settings
from lading.stores.memory import MemoryStore
from lading.stores.registry import StoreRegistry

OWNER = Access(Caller.with_role("bench", MEMBER))


class Later(Clock):
    """The system's clock, moved on by ``ahead`` once the seeding is done."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def now(self) -> datetime:
        return super().now() + self.ahead


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def seed(services: Services, repositories: int, blobs: int) -> None:
    for r in range(repositories):
        name = f"bench/r{r}"
        named = []
        for b in range(blobs):
            data = f"{r}-{b}".encode() * 8
            await services.registry.upload(OWNER, name, digest(data), one(data), len(data))
            if b % 2 == 0:
                named.append({"mediaType": "application/octet-stream", "digest": digest(data),
                              "size": len(data)})  # fmt: skip
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": named[0], "layers": named[1:]}).encode()  # fmt: skip
        await services.registry.put_manifest(OWNER, name, "v1", OCI_MANIFEST, manifest)


async def run(options: argparse.Namespace, data_dir: Path) -> None:
    url = options.database_url or f"sqlite:///{data_dir / 'bench.db'}"
    database = Database(url)
    database.upgrade()
    clock = Later()
    settings = Settings(data_dir=data_dir, database_url=url)
    stores = StoreRegistry({"default": MemoryStore("default")}, "default")
    services = Services.build(settings, database, stores, clock)
    total = options.repositories * options.blobs
    started = time.perf_counter()
    await seed(services, options.repositories, options.blobs)
    seeded = time.perf_counter() - started
    print(f"{database.engine.dialect.name}: {total} links in {options.repositories} "
          f"repositories, pushed in {seeded:.1f} s ({total / seeded:.0f} pushes/s)")  # fmt: skip
    clock.ahead = timedelta(seconds=settings.oci.gc_grace + 1)
    for label, dry in (("dry run", True), ("collection", False), ("again", False)):
        started = time.perf_counter()
        collected = await services.registry_gc.collect(dry)
        took = time.perf_counter() - started
        print(f"  {label:10} {len(collected.unlinked):6} unlinked, {collected.freed:6} freed "
              f"in {took * 1000:8.1f} ms")  # fmt: skip
    runs = []
    for _ in range(20):
        started = time.perf_counter()
        await database.read(queries.project_bytes, "bench")
        runs.append(time.perf_counter() - started)
    runs.sort()
    print(f"  quota usage query, median of 20: {runs[10] * 1000:.2f} ms")
    database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--repositories", type=int, default=20)
    parser.add_argument("--blobs", type=int, default=250)
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: SQLite)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lading-bench-") as scratch:
        anyio.run(run, options, Path(scratch))


if __name__ == "__main__":
    main()
