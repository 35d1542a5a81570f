"""A real ``lading serve --workers 1`` on its defaults (SQLite, one filesystem store) keeps
each worker under 100 MiB resident once it has answered a few requests: what it does
not use is not imported (lading.lazy; tests/test_lazy_imports.py is the exact guard,
this one the figure, docs/performance.md)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from tests.clients.conftest import LADING, free_port, stop, wait_healthy

pytestmark = pytest.mark.server

MiB = 1024 * 1024
WORKER_RSS_LIMIT = 100 * MiB
# Shared libraries of features a default server has no use for: none is mapped.
UNUSED_LIBRARIES = ("libicu", "/icu/", "cryptography", "obstore", "librados", "librbd")
PATHS = ("/versions", "/healthcheck", "/v2/images", "/v2/schemas/image", "/v1/images",
         "/packages", "/ui/")  # fmt: skip


def test_an_idle_worker_stays_under_100_mib(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
    env["LADING_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(LADING), "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, url, log)
        with httpx.Client(base_url=url, timeout=10.0) as client:
            for _ in range(3):
                for path in PATHS:
                    assert client.get(path).status_code < 400, path
        workers = psutil.Process(process.pid).children()
        assert len(workers) == 1, workers
        worker = workers[0]
        rss, main_rss = worker.memory_info().rss, psutil.Process(process.pid).memory_info().rss
        mapped = {region.path for region in worker.memory_maps(grouped=True)}
        assert rss < WORKER_RSS_LIMIT, (
            f"worker {rss / MiB:.1f} MiB (main process {main_rss / MiB:.1f} MiB)"
        )
        unused = sorted(path for path in mapped if any(name in path for name in UNUSED_LIBRARIES))
        assert unused == []
    finally:
        stop(process)
