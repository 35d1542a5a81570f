"""The redirect listener's app, in-process: where each request is sent, and what is
refused. (tests/clients/test_https.py runs it as lading serve does.)"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.types import Message, Scope

from lading.http.https import RedirectToHttps
from lading.settings import Settings
from lading.sites import Sites


def redirect(
    method: str = "GET",
    raw_path: bytes = b"/v2/images",
    query: bytes = b"",
    host: str | None = "127.0.0.1:9080",
    server: tuple[str, int] = ("127.0.0.1", 9080),
    **settings: Any,
) -> tuple[int, str | None]:
    """The status and Location the app answers with."""
    configured = Settings(**settings)
    app = RedirectToHttps(Sites.from_settings(configured), 8443, configured.public_endpoint)
    headers = [] if host is None else [(b"host", host.encode())]
    scope: Scope = {
        "type": "http", "method": method, "path": raw_path.decode(), "raw_path": raw_path,
        "query_string": query, "headers": headers, "server": server,
    }  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    anyio.run(app, scope, receive, send)
    location = dict(sent[0]["headers"]).get(b"location")
    return sent[0]["status"], None if location is None else location.decode()


def test_get_and_head_are_301_others_308() -> None:
    assert redirect("GET") == (301, "https://127.0.0.1:8443/v2/images")
    assert redirect("HEAD")[0] == 301
    for method in ("PUT", "POST", "PATCH", "DELETE", "OPTIONS"):
        assert redirect(method) == (308, "https://127.0.0.1:8443/v2/images")


def test_the_path_and_query_go_as_sent() -> None:
    raw = b"/v1/images/a%2Fb%20c"
    assert redirect(raw_path=raw, query=b"x=1&y=%20")[1] == (
        "https://127.0.0.1:8443/v1/images/a%2Fb%20c?x=1&y=%20"
    )
    # Not a path (OPTIONS *, an absolute URL): the root, never another host.
    assert redirect(raw_path=b"*")[1] == "https://127.0.0.1:8443/"
    assert redirect(raw_path=b"http://evil.example/x")[1] == "https://127.0.0.1:8443/"


def test_the_host_named_if_answered() -> None:
    assert redirect(host="[::1]:80")[1] == "https://[::1]:8443/v2/images"
    assert redirect(host="images.example.org", allowed_hosts=["images.example.org"])[1] == (
        "https://images.example.org:8443/v2/images"
    )
    assert redirect(host="evil.example") == (400, None)
    assert redirect(host="user@127.0.0.1") == (400, None)


def test_public_endpoint_over_https_wins() -> None:
    public: dict[str, Any] = {"public_endpoint": "https://images.example.org/"}
    assert redirect(**public) == (301, "https://images.example.org/v2/images")
    # One over http is not where HTTPS is: the Host is used.
    plain: dict[str, Any] = {"public_endpoint": "http://images.example.org"}
    assert redirect(**plain)[1] == "https://127.0.0.1:8443/v2/images"


@pytest.mark.parametrize(
    ("server", "expected"),
    [(("127.0.0.1", 80), "https://127.0.0.1:8443/v2/images"), (("0.0.0.0", 80), None)],
)
def test_without_a_host_the_address_reached(server: tuple[str, int], expected: str | None) -> None:
    assert redirect(host=None, server=server)[1] == expected
