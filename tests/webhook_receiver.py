"""A webhook receiver on loopback: it checks every delivery's signature with the code of
docs/examples/webhook_receiver.py (so the documented recipe is the one tested), keeps
each delivery, and fails on demand."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.http_origin import served

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "webhook_receiver.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_example()


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float  # time.monotonic() when it came
    answered: int

    @property
    def event(self) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(self.body)
        return event


class Receiver(ThreadingHTTPServer):
    """Takes deliveries at /<path>, each checked with ``secrets[path]``. A path in
    ``failing`` answers 500 that many times before it answers 204 (-1: always 500)."""

    secrets: dict[str, str]
    failing: dict[str, int]
    deliveries: list[Delivery]
    lock: threading.Lock

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def to(self, path: str) -> list[Delivery]:
        with self.lock:
            return [delivery for delivery in self.deliveries if delivery.path == path]

    def wait_for(self, path: str, count: int, within: float = 30.0) -> list[Delivery]:
        """The deliveries to ``path`` once there are ``count`` of them."""
        deadline = time.monotonic() + within
        while len(found := self.to(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(found)} of {count} deliveries to {path} came")
            time.sleep(0.02)
        return found


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        verified = example.verify(self.server.secrets.get(self.path, ""), self.headers, body)
        with self.server.lock:
            left = self.server.failing.get(self.path, 0)
            if left > 0:
                self.server.failing[self.path] = left - 1
            status = 500 if left else 204
            self.server.deliveries.append(
                Delivery(self.path, dict(self.headers), body, verified, time.monotonic(), status)
            )
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


@contextlib.contextmanager
def receiving(secrets: dict[str, str], failing: dict[str, int] | None = None) -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), Handler)
    server.secrets, server.failing = secrets, dict(failing or {})
    server.deliveries, server.lock = [], threading.Lock()
    with served(server):
        yield server
