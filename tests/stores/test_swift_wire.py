"""The Swift store's bulk bytes over http.client (swift_wire): read-ahead, connections
kept and reused, a connection the server closed while idle, a download left half-way."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest

from lading.errors import StoreError
from lading.stores.swift_auth import http_errors
from lading.stores.swift_wire import Reading, Wire
from lading.tls import client_context
from tests.http_origin import served

pytestmark = pytest.mark.anyio
BODY = os.urandom(300_000)


class Handler(http.server.BaseHTTPRequestHandler):
    """GET: BODY; PUT: 201 with the body's length. With ``closes`` set on the server, each
    connection is closed after one answer without saying so (as a server whose idle
    timeout passed does), so that a kept connection is found dead when next used."""

    protocol_version = "HTTP/1.1"
    server: Server

    def do_GET(self) -> None:
        self.server.connections.add(self.client_address)
        self.send_response(200)
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
        self._maybe_close()

    def do_PUT(self) -> None:
        self.server.connections.add(self.client_address)
        received = self.rfile.read(int(self.headers["content-length"]))
        self.server.received.append(received)
        self.send_response(201)
        self.send_header("content-length", "0")
        self.end_headers()
        self._maybe_close()

    def _maybe_close(self) -> None:
        if self.server.closes:
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, closes: bool) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.closes = closes
        self.connections: set[tuple[str, int]] = set()
        self.received: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextlib.contextmanager
def serving(closes: bool = False) -> Iterator[Server]:
    server = Server(closes)
    with served(server):
        yield server


async def download(wire: Wire, url: str) -> bytes:
    async with wire.get(url, {}) as reading:
        assert reading.status == 200
        return b"".join([chunk async for chunk in reading.chunks(64 * 1024)])


async def test_a_connection_is_kept_and_reused() -> None:
    wire = Wire(10, client_context())
    with serving() as server:
        assert await download(wire, f"{server.url}/a") == BODY
        answer = await wire.put(f"{server.url}/b", {"content-length": "6"}, [b"abc", b"def"])
        assert answer.status == 201
        assert await download(wire, f"{server.url}/c") == BODY
    wire.close()
    assert server.received == [b"abcdef"]
    assert len(server.connections) == 1  # one client port: one connection for the three


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    wire = Wire(10, client_context())
    with serving(closes=True) as server:
        for number in range(3):
            assert await download(wire, f"{server.url}/{number}") == BODY
        for number in range(3):  # a buffered body is sent again, whole, on a new connection
            answer = await wire.put(f"{server.url}/p{number}", {"content-length": "3"}, [b"xyz"])
            assert answer.status == 201
    wire.close()
    assert server.received == [b"xyz"] * 3
    assert len(server.connections) == 6


async def test_a_download_left_half_way_closes_its_connection() -> None:
    wire = Wire(10, client_context())
    with serving() as server:
        async with wire.get(f"{server.url}/a", {}) as reading:
            async for _ in reading.chunks(1000):
                break  # the client went away after its first chunk
        assert wire._idle == []  # its answer was not read to the end: never reused
        assert await download(wire, f"{server.url}/b") == BODY
        assert len(wire._idle) == 1
    wire.close()


async def test_nobody_listening_is_a_store_error() -> None:
    with serving() as server:
        url = server.url
    wire = Wire(2, client_context())
    with (
        pytest.raises(StoreError, match="is unreachable") as failed,
        http_errors("s", "is unreachable"),
    ):
        await download(wire, f"{url}/a")
    assert isinstance(failed.value.__cause__, ConnectionRefusedError)
    wire.close()


class CountedResponse:
    """Stands for an http.client response: ``chunks`` chunks, each ``read`` counted."""

    status = 200
    headers: dict[str, str] = {}

    def __init__(self, chunks: int) -> None:
        self.left = chunks
        self.reads = 0
        self.read_started = threading.Condition()

    def read(self, size: int) -> bytes:
        with self.read_started:
            self.reads += 1
            self.read_started.notify_all()
        if not self.left:
            return b""
        self.left -= 1
        return b"x" * size

    def started(self, reads: int) -> bool:
        return self.reads >= reads

    def isclosed(self) -> bool:
        return not self.left

    def close(self) -> None:
        pass


async def test_the_next_chunk_is_read_while_one_is_sent() -> None:
    response = CountedResponse(chunks=3)
    got = 0
    with ThreadPoolExecutor(2) as threads:
        reading = Reading(response, threads)  # type: ignore[arg-type]
        async for _ in reading.chunks(10):
            got += 1
            # The chunk is in the consumer's hands (being sent): the read of the next
            # has started without it asking, on a thread.
            with response.read_started:
                assert response.read_started.wait_for(partial(response.started, got + 1), 5)
        await reading.settle()
    assert (got, response.reads) == (3, 4)  # the fourth read found the end
