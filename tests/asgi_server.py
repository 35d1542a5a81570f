"""Small ASGI apps the tests need as real HTTP servers on loopback, run by granian."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.clients.conftest import free_port, stop

GRANIAN = Path(sys.executable).with_name("granian")


@contextmanager
def running_asgi(app: str, cwd: Path, ready_path: str) -> Iterator[str]:
    """Serve ``app`` ("module:attribute", importable from ``cwd``); yield its base URL once
    ``ready_path`` answers anything."""
    port = free_port()
    process = subprocess.Popen(
        [str(GRANIAN), "--interface", "asgi", "--host", "127.0.0.1", "--port", str(port), app],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.head(f"{url}{ready_path}")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{app} did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(process)
