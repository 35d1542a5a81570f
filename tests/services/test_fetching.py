"""Fetching URLs: the address rules (on the URL, each redirect, and the connection itself),
and resuming a transfer the server cut."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lading.services.fetching import Fetch, FetchFailed, UrlRefused, UrlRules
from lading.settings import FetchSettings

pytestmark = pytest.mark.anyio
DATA = os.urandom(3 * 1024 * 1024 + 5)
ETAG = '"' + hashlib.md5(DATA).hexdigest() + '"'


class Origin(ThreadingHTTPServer):
    """Serves DATA at /data (with /plain: no validators), cutting the first answer halfway
    when ``cut`` is set; /redirect?to=URL redirects."""

    cut = False
    ranges: list[str]


class Handler(BaseHTTPRequestHandler):
    server: Origin

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("location", self.path.partition("=")[2])
            self.send_header("content-length", "0")
            self.end_headers()
            return
        start = 0
        if "range" in self.headers:
            self.server.ranges.append(self.headers["range"])
            start = int(self.headers["range"].removeprefix("bytes=").rstrip("-"))
        self.send_response(206 if start else 200)
        if self.path == "/data":
            self.send_header("etag", ETAG)
        if start:
            self.send_header("content-range", f"bytes {start}-{len(DATA) - 1}/{len(DATA)}")
        self.send_header("content-length", str(len(DATA) - start))
        self.end_headers()
        body = DATA[start:]
        if self.server.cut and not start:
            self.server.cut = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = Origin(("127.0.0.1", 0), Handler)
    server.ranges = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


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
