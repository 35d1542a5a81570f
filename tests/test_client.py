"""The client's translation of answers into the project's errors, over httpx's mock
transport (the commands over a live server are in tests/clients/test_lading_cli.py)."""

from __future__ import annotations

import httpx
import pytest

from lading import errors
from lading.client import Client

ID = "00000000-0000-0000-0000-000000000000"


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
