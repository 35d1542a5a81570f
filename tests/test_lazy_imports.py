"""What a server on its defaults (SQLite, one filesystem store) never imports: the drivers
of stores it does not have and the libraries of features nobody configured (lading.lazy).
Each is megabytes of every worker's memory (docs/performance.md, idle memory)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# A module -> why a default server has no use for it.
UNUSED = {
    "lading.stores.s3": "no S3 store",
    "lading.stores.swift": "no Swift store",
    "lading.stores.http": "no http store",
    "botocore": "no S3 store",
    "obstore": "no S3 store",
    "rados": "no rbd store",
    "rbd": "no rbd store",
    "lading.services.keystone": "no Keystone",
    "keystoneauth1": "no Keystone",
    "requests": "no Keystone, no http: policy check",
    "httpx": "nothing fetched yet",
    "httpcore": "nothing fetched yet",
    "trio": "nothing fetched yet (httpcore imports it)",
    "rich": "nothing fetched yet (httpx imports it)",
    "icu": "no package name checked yet",
    "cryptography": "no secret sealed, no TLS, no image inspected yet",
    "oslo_utils.imageutils.format_inspector": "no image inspected yet",
    "psycopg": "SQLite",
    "alembic": "the catalogue migrated in a child process",
}

# Builds the app as a worker of ``lading serve`` does, answers a few requests through it
# (ASGI, no client library), and prints the modules then loaded.
PROBE = """
import asyncio, json, sys
import gc
from lading.cli.launch import Launch, worker_app
from lading.cli.server import upgrade_apart

launch = Launch()
upgrade_apart(launch.settings().resolved_database_url)
app = worker_app(launch)
frozen = gc.get_freeze_count()

async def get(path):
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 9292), "extensions": {},
             "headers": [(b"host", b"127.0.0.1:9292")]}
    sent = []
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent[0]["status"]

async def main():
    lifespan = asyncio.Queue()
    await lifespan.put({"type": "lifespan.startup"})
    done = asyncio.Event()
    async def send(message):
        if message["type"].startswith("lifespan.startup"):
            done.set()
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                   lifespan.get, send))
    await done.wait()
    statuses = [await get(path) for path in ("/versions", "/v2/images", "/v1/images",
                                            "/packages", "/healthcheck")]
    await lifespan.put({"type": "lifespan.shutdown"})
    await task
    return statuses

statuses = asyncio.run(main())
print(json.dumps({"statuses": statuses, "modules": sorted(sys.modules), "frozen": frozen}))
"""


def test_a_default_server_imports_no_unconfigured_driver(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"LADING_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["statuses"] == [200] * 5
    assert found["frozen"] > 10_000  # start-up's objects, out of the full collections' way
    loaded = set(found["modules"])
    imported = {name: why for name, why in UNUSED.items() if name in loaded}
    assert imported == {}, "imported although a default server needs them not"
