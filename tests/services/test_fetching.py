"""Fetching URLs: the address rules (on the URL, each redirect, and the connection itself),
and resuming a transfer the server cut."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from lading.services.fetching import Fetch, FetchFailed
from lading.settings import FetchSettings
from lading.url_rules import UrlRefused, UrlRules
from tests.http_origin import Origin, serving

pytestmark = pytest.mark.anyio
DATA = os.urandom(3 * 1024 * 1024 + 5)


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(DATA) as server:
        yield server


def rules(origin: Origin, **settings: Any) -> UrlRules:
    port = origin.server_address[1]
    allowed = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [port], "retries": 2}
    return UrlRules(FetchSettings(**(allowed | settings)))


def url(origin: Origin, path: str = "/data") -> str:
    return f"http://127.0.0.1:{origin.server_address[1]}{path}"


async def fetch_all(fetch: Fetch) -> bytes:
    return b"".join([chunk async for chunk in fetch.chunks()])


async def test_a_cut_transfer_resumes_with_range(origin: Origin) -> None:
    origin.cut = True
    fetch = Fetch(url(origin), rules(origin))
    assert await fetch_all(fetch) == DATA
    assert fetch.size == len(DATA)
    (resumed,) = origin.ranges  # from where the cut came: nothing fetched twice
    assert 0 < int(resumed.removeprefix("bytes=").rstrip("-")) <= len(DATA) // 2


async def test_without_a_validator_a_cut_transfer_fails(origin: Origin) -> None:
    origin.cut = True
    with pytest.raises(FetchFailed, match="failed"):
        await fetch_all(Fetch(url(origin, "/plain"), rules(origin)))


@pytest.mark.parametrize(
    ("target", "complaint"),
    [
        ("file:///etc/passwd", "scheme 'file'"),
        ("ftp://127.0.0.1/x", "scheme 'ftp'"),
        ("http://127.0.0.1:22/x", "port 22"),
        ("http://10.0.0.1/x", "not among the allowed hosts"),
        ("http://", "no host"),
    ],
)
async def test_refused_urls(origin: Origin, target: str, complaint: str) -> None:
    with pytest.raises(UrlRefused, match=complaint):
        await fetch_all(Fetch(target, rules(origin, allowed_ports=[80])))


async def test_every_redirect_hop_is_checked(origin: Origin) -> None:
    bounce = url(origin, "/redirect?to=http://169.254.169.254/latest/meta-data")
    with pytest.raises(UrlRefused, match=r"169\.254\.169\.254"):
        await fetch_all(Fetch(bounce, rules(origin, allowed_ports=[origin.server_address[1], 80])))
    followed = url(origin, f"/redirect?to={url(origin)}")
    assert await fetch_all(Fetch(followed, rules(origin))) == DATA


async def test_internal_addresses_are_refused_by_default(origin: Origin) -> None:
    port = origin.server_address[1]
    defaults = UrlRules(FetchSettings(allowed_ports=[port]))
    with pytest.raises(UrlRefused, match="internal address"):
        await fetch_all(Fetch(url(origin), defaults))
    # A name is checked where it resolves, when connecting.
    with pytest.raises(UrlRefused, match="internal address"):
        await fetch_all(Fetch(f"http://localhost:{port}/data", defaults))
    denied = UrlRules(FetchSettings(allowed_ports=[port], allow_internal=True,
                                    denied_hosts=["127.0.0.0/8", "::1"]))  # fmt: skip
    with pytest.raises(UrlRefused, match="denied"):
        await fetch_all(Fetch(f"http://localhost:{port}/data", denied))


async def test_ipv6_forms_of_internal_addresses_are_refused(origin: Origin) -> None:
    port = origin.server_address[1]
    denied = UrlRules(FetchSettings(allowed_ports=[port], allow_internal=True,
                                    denied_hosts=["127.0.0.0/8"]))  # fmt: skip
    with pytest.raises(UrlRefused, match="denied"):
        await fetch_all(Fetch(f"http://[::ffff:127.0.0.1]:{port}/data", denied))
    defaults = UrlRules(FetchSettings(allowed_ports=[port]))
    for host in ("[64:ff9b::7f00:1]", "[2002:7f00:1::]", "[::127.0.0.1]", "[::ffff:10.0.0.1]"):
        with pytest.raises(UrlRefused, match="internal address"):
            await fetch_all(Fetch(f"http://{host}:{port}/data", defaults))


async def test_invalid_names_are_refused(origin: Origin) -> None:
    with pytest.raises(UrlRefused, match="not a URL"):
        await fetch_all(Fetch("http://xn--/", rules(origin)))
