"""Service calls beside requests, on the event loop of the app a TestClient drives.

A ``TestClient`` that has entered its lifespan runs the app on an event loop of its own
thread and exposes it as ``client.portal``. Calls a test makes to the app's services (a
token, a task, a store's ``put``) go through that portal: they run where the requests run,
as they would in a server, instead of on a second event loop beside it that the services'
locks and limiters would have to be safe for.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple

from starlette.testclient import TestClient

from lading.services import Services

T = TypeVar("T")
Args = TypeVarTuple("Args")


def call(client: TestClient, function: Callable[[*Args], Awaitable[T]], *args: *Args) -> T:
    """``await function(*args)`` on the app's own event loop."""
    assert client.portal is not None, "the TestClient must have entered (with TestClient(...))"
    return client.portal.call(function, *args)


def services(client: TestClient) -> Services:
    """The services of the app ``client`` drives (``create_app`` keeps them in its state)."""
    built: Services = client.app.state.services  # type: ignore[attr-defined]
    return built


def new_token(client: TestClient, project: str, role: str) -> str:
    """A lading token of ``role`` in ``project``, made as ``lading token create`` makes one."""
    return call(client, services(client).identities.create, project, role).token
