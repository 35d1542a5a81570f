"""The world most API tests act in: the real app driven in-process, and lading tokens for
a few named identities, made on the app's own event loop (tests/portal.py).

The ``world`` fixture (tests/conftest.py) opens one on the ``settings`` of the test: a
module names other identities or settings by overriding the ``identities`` or
``world_settings`` fixture, and builds a world of its own with ``open_world`` when it needs
the app first (a task type registered, stores of its own). What only one module asks of
its world is a function of that module taking the world.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, TypeVarTuple

import httpx2
from starlette.applications import Starlette
from starlette.testclient import TestClient

from lading.services import Services
from lading.settings import Settings
from tests import portal

T = TypeVar("T")
Args = TypeVarTuple("Args")
BASE_URL = "http://lading.test"
# name -> (project, role)
IDENTITIES = {"owner": ("A", "member"), "other": ("B", "member"), "admin": ("ops", "admin")}
FINISHED = ("success", "failure")


@dataclass(frozen=True)
class World:
    client: TestClient
    tokens: dict[str, str]
    data_dir: Path

    @property
    def services(self) -> Services:
        return portal.services(self.client)

    @property
    def settings(self) -> Settings:
        settings: Settings = self.client.app.state.settings  # type: ignore[attr-defined]
        return settings

    def as_(self, who: str) -> dict[str, str]:
        """The headers of ``who``: none for ``"anonymous"``."""
        return {} if who == "anonymous" else {"x-auth-token": self.tokens[who]}

    def request(self, method: str, path: str, who: str = "owner", **kwargs: Any) -> httpx2.Response:
        headers = {**self.as_(who), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, who: str, path: str, **params: Any) -> httpx2.Response:
        return self.client.get(path, params=params, headers=self.as_(who))

    def call(self, function: Callable[[*Args], Awaitable[T]], *args: *Args) -> T:
        """``await function(*args)`` on the app's event loop (a service, a store)."""
        return portal.call(self.client, function, *args)

    def wait(self, task_id: str, who: str = "owner", within: float = 30.0) -> dict[str, Any]:
        """Task ``task_id`` once it has finished, as ``who`` sees it."""
        deadline = time.monotonic() + within
        while True:
            task: dict[str, Any] = self.get(who, f"/v2/tasks/{task_id}").json()
            if task["status"] in FINISHED:
                return task
            assert time.monotonic() < deadline, f"task {task_id} did not finish: {task}"
            time.sleep(0.02)

    def settled(self, within: float = 30.0) -> None:
        """Once no task waits or runs (the health check counts them)."""
        deadline = time.monotonic() + within
        while True:
            answer = self.client.get("/healthcheck", headers={"accept": "application/json"})
            if set(answer.json()["tasks"].values()) == {0}:
                return
            assert time.monotonic() < deadline, answer.json()
            time.sleep(0.02)

    def stored_files(self) -> list[Path]:
        """Every file under the data directory's filesystem stores."""
        return [path for path in (self.data_dir / "stores").rglob("*") if path.is_file()]


@contextlib.contextmanager
def open_world(
    app: Starlette, identities: Mapping[str, tuple[str, str]] = IDENTITIES
) -> Iterator[World]:
    """``app`` entered (its lifespan started) and a token for each of ``identities``."""
    with TestClient(app, base_url=BASE_URL) as client:
        tokens = {
            who: portal.new_token(client, project, role)
            for who, (project, role) in identities.items()
        }
        yield World(client, tokens, app.state.settings.data_dir)
