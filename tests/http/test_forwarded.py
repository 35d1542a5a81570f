"""X-Forwarded-For and X-Forwarded-Proto: believed from server.trusted_proxies only, with
the right-most untrusted address as the client (uvicorn's rules); forged by anyone else,
they change nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from lading.app import create_app, create_registry_app
from lading.http.forwarded import ForwardedMiddleware, TrustedProxies
from lading.logs import ACCESS, FIELDS
from lading.settings import Settings
from tests.world import open_world

PROXY = ("10.0.0.2", 41000)
STRANGER = ("198.51.100.9", 41000)
TRUSTED = ["10.0.0.0/24", "2001:db8::/32"]


def seen(peer: tuple[str, int], headers: list[tuple[str, str]]) -> Scope:
    """The scope the app behind the middleware gets for a request from ``peer``."""
    got: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.append(scope)

    middleware = ForwardedMiddleware(app, TrustedProxies.of(TRUSTED))
    scope = {
        "type": "http", "scheme": "http", "client": peer, "method": "GET", "path": "/",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
    }  # fmt: skip

    async def nothing() -> dict[str, object]:
        return {}

    async def drop(message: object) -> None:
        pass

    anyio.run(middleware, scope, nothing, drop)
    return got[0]


def test_a_trusted_proxy_names_the_client_and_scheme() -> None:
    scope = seen(PROXY, [("X-Forwarded-For", "203.0.113.7"), ("X-Forwarded-Proto", "https")])
    assert scope["client"] == ("203.0.113.7", 0)
    assert scope["scheme"] == "https"


def test_forged_headers_from_an_untrusted_peer_change_nothing() -> None:
    forged = [("X-Forwarded-For", "10.0.0.3, 127.0.0.1"), ("X-Forwarded-Proto", "https")]
    scope = seen(STRANGER, forged)
    assert scope["client"] == STRANGER
    assert scope["scheme"] == "http"


@pytest.mark.parametrize(
    ("chain", "client"),
    [
        # What the client wrote is left of what the proxies appended: not believed.
        ("6.6.6.6, 203.0.113.7", "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7, 10.0.0.5", "203.0.113.7"),  # through two proxies
        ("10.0.0.7, 10.0.0.5", "10.0.0.7"),  # all trusted: the left-most
        ("[2001:db9::1]:5000, 2001:db8::4", "2001:db9::1"),
        ("203.0.113.7:5555", "203.0.113.7"),
        ("unknown", PROXY[0]),  # not an address: the proxy stays the client
        ("203.0.113.7\r\nforged line", PROXY[0]),
    ],
)
def test_the_client_is_the_right_most_untrusted_address(chain: str, client: str) -> None:
    assert seen(PROXY, [("X-Forwarded-For", chain)])["client"][0] == client


def test_several_headers_are_one_list() -> None:
    headers = [("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-For", "203.0.113.7")]
    assert seen(PROXY, headers)["client"] == ("203.0.113.7", 0)


def test_the_scheme_is_the_client_s_hop_or_the_only_one() -> None:
    hops = [("X-Forwarded-For", "203.0.113.7, 10.0.0.5"), ("X-Forwarded-Proto", "https, http")]
    assert seen(PROXY, hops)["scheme"] == "https"
    assert seen(PROXY, [("X-Forwarded-Proto", "HTTPS")])["scheme"] == "https"
    assert seen(PROXY, [("X-Forwarded-Proto", "gopher")])["scheme"] == "http"


def test_trusted_proxies_are_addresses_or_networks() -> None:
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(server={"trusted_proxies": ["proxy.example.org"]})


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path, allowed_hosts=["lading.test"], server={"trusted_proxies": TRUSTED}
    )
    with TestClient(create_app(settings), base_url="http://lading.test", client=PROXY) as client:
        yield client


def access_clients(caplog: pytest.LogCaptureFixture) -> list[str]:
    records = [record for record in caplog.records if record.name == ACCESS]
    return [getattr(record, FIELDS)["client"] for record in records]


def test_the_access_log_and_urls_are_the_client_s(
    behind_proxy: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    answer = behind_proxy.post(
        "/v2/images",
        json={"name": "behind", "disk_format": "raw", "container_format": "bare"},
        headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["location"].startswith("https://lading.test/v2/images/")
    versions = behind_proxy.get("/", headers={"X-Forwarded-Proto": "https"})
    assert versions.json()["versions"][0]["links"][0]["href"] == "https://lading.test/v2/"
    assert access_clients(caplog) == ["203.0.113.7", PROXY[0]]
    # Served over plain HTTP by lading itself: no Strict-Transport-Security from it.
    assert "strict-transport-security" not in versions.headers


def test_an_untrusted_peer_s_forged_headers_reach_neither_log_nor_urls(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS)
    settings = Settings(
        data_dir=tmp_path, allowed_hosts=["lading.test"], server={"trusted_proxies": TRUSTED}
    )
    forged = {"X-Forwarded-For": "10.0.0.3", "X-Forwarded-Proto": "https"}
    with TestClient(create_app(settings), base_url="http://lading.test", client=STRANGER) as client:
        versions = client.get("/", headers=forged)
    assert versions.json()["versions"][0]["links"][0]["href"] == "http://lading.test/v2/"
    assert access_clients(caplog) == [STRANGER[0]]


@pytest.mark.parametrize(
    ("peer", "realm", "client"),
    [(PROXY, "https://registry.test/v2/token", "203.0.113.7"),
     (STRANGER, "http://registry.test/v2/token", STRANGER[0])],
    ids=["trusted", "forged"],
)  # fmt: skip
def test_the_registry_s_token_realm_and_log_follow_a_trusted_proxy(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    peer: tuple[str, int],
    realm: str,
    client: str,
) -> None:
    """The registry's listener believes the proxies the API does: behind TLS ended at the
    proxy, clients are sent to an https realm for their token."""
    settings = Settings(data_dir=tmp_path, server={"trusted_proxies": TRUSTED})
    forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    # A token made (the world's): lading no longer runs open, and challenges.
    with (
        open_world(create_app(settings)),
        TestClient(
            create_registry_app(settings), base_url="http://registry.test", client=peer
        ) as registry,
    ):
        caplog.set_level(logging.INFO, logger=ACCESS)
        answer = registry.get("/v2/", headers=forwarded)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith(f'Bearer realm="{realm}"')
    assert access_clients(caplog) == [client]
