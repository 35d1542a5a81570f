"""The client's translation of answers into the project's errors, over httpx's mock
transport (the commands over a live server are in tests/clients/test_lading_cli.py)."""

from __future__ import annotations

import importlib.resources
import inspect

import httpx
import pytest

import lading.client
from lading import errors
from lading.client import Client

ID = "00000000-0000-0000-0000-000000000000"
# The client's public API: a name leaves it, or joins it, on purpose (and in docs/).
PUBLIC = ["CHUNK", "Artifact", "Client", "Progress", "Task", "raise_for"]


def test_the_public_api_is_what_all_names() -> None:
    assert lading.client.__all__ == PUBLIC  # sorted, as ruff keeps it
    namespace: dict[str, object] = {}
    exec("from lading.client import *", namespace)  # what a user's star import gets
    assert sorted(name for name in namespace if name != "__builtins__") == sorted(PUBLIC)
    for name in PUBLIC:
        value = getattr(lading.client, name)
        if inspect.isclass(value):  # defined here, not re-exported from a private module
            assert value.__module__ == "lading.client", name
            assert value.__doc__, f"{name} is public: it says what it is"


def test_the_package_says_it_is_typed() -> None:
    """PEP 561: a user's mypy reads lading.client's annotations only with py.typed."""
    assert importlib.resources.files("lading").joinpath("py.typed").is_file()


def answering(status: int, body: object = None, text: str = "") -> Client:
    def handle(request: httpx.Request) -> httpx.Response:
        if body is not None:
            return httpx.Response(status, json=body)
        return httpx.Response(status, text=text)

    return Client("http://lading.test", "token", transport=httpx.MockTransport(handle))


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "itemNotFound", errors.NotFound),
        (409, "conflict", errors.Conflict),
        (401, "unauthorized", errors.Unauthorized),
        (416, "rangeNotSatisfiable", errors.RangeNotSatisfiable),
        (503, "storeUnavailable", errors.StoreError),
        (507, "insufficientStorage", errors.StoreFull),
        (500, "internalError", errors.LadingError),
        (418, "somethingNew", errors.BadRequest),  # an unknown code: the status decides
        (502, "somethingNew", errors.LadingError),
    ],
)
def test_errors_are_the_class_of_their_code(
    status: int, code: str, expected: type[errors.LadingError]
) -> None:
    body = {code: {"code": status, "title": "t", "message": "what went wrong"}}
    with pytest.raises(errors.LadingError) as raised, answering(status, body) as client:
        client.show(ID)
    assert type(raised.value) is expected
    assert raised.value.message == "what went wrong"


def test_an_answer_that_is_not_json_keeps_its_text() -> None:
    with pytest.raises(errors.LadingError) as raised, answering(502, text="bad gateway") as client:
        client.show(ID)
    assert raised.value.message == "502 bad gateway"


def test_a_server_that_cannot_be_reached_is_server_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = Client("http://lading.test", transport=httpx.MockTransport(refuse))
    with pytest.raises(errors.ServerUnreachable, match="connection refused"):
        client.show(ID)


def test_the_token_goes_in_x_auth_token() -> None:
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("x-auth-token"))
        return httpx.Response(200, json={"images": []})

    with Client("http://lading.test", "secret", transport=httpx.MockTransport(handle)) as client:
        assert list(client.artifacts({"name": "x"})) == []
    assert seen == ["secret"]
