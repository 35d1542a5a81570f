"""An answer given before the body was read leaves a kept-alive connection usable, or
says it closes: a pooled client never sends into a connection the server dropped."""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import h11
import httpx
import pytest

from tests.clients.support import create_image, unique

MiB = 1024 * 1024


class Connection:
    """One HTTP/1.1 connection, written by hand so that a body can arrive late."""

    def __init__(self, url: str, token: str) -> None:
        address = urlsplit(url)
        self.socket = socket.create_connection((address.hostname, address.port), timeout=30)
        self.http = h11.Connection(h11.CLIENT)
        self.headers = [("host", address.netloc), ("x-auth-token", token)]

    def start(self, method: str, target: str, length: int = 0) -> None:
        headers = [*self.headers, ("content-length", str(length))]
        if length:
            headers.append(("content-type", "application/octet-stream"))
        self.write(h11.Request(method=method, target=target, headers=headers))

    def write(self, event: h11.Event) -> None:
        self.socket.sendall(self.http.send(event) or b"")

    def answer(self) -> tuple[h11.Response, bytes]:
        response, body = None, b""
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                self.http.receive_data(self.socket.recv(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return response, body

    def readable(self, seconds: float) -> bool:
        return bool(select.select([self.socket], [], [], seconds)[0])

    def closed_by_server(self) -> bool:
        """Closed in time, and cleanly: a reset (some of our body unread) would raise."""
        return self.readable(10) and self.socket.recv(1) == b""

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def upload_to_active(
    api: httpx.Client, server_url: str, api_token: str
) -> Iterator[tuple[Connection, str]]:
    """A connection of its own, and the path of an upload that will be refused (409)."""
    image_id = create_image(api, unique("kept-alive"), b"x")["id"]
    connection = Connection(server_url, api_token)
    yield connection, f"/v2/images/{image_id}"
    connection.close()


def test_a_late_small_body_is_dropped_and_the_connection_serves_on(
    upload_to_active: tuple[Connection, str],
) -> None:
    connection, image = upload_to_active
    length = 300_000
    connection.start("PUT", f"{image}/file", length)
    # The 409 is due before the body arrives; it waits for the body to be dropped.
    assert not connection.readable(0.3), "answered before the body was read"
    connection.write(h11.Data(data=b"a" * length))
    connection.write(h11.EndOfMessage())
    response, body = connection.answer()
    assert response.status_code == 409, body
    assert (b"connection", b"close") not in response.headers
    connection.http.start_next_cycle()
    connection.start("GET", image)
    response, body = connection.answer()
    assert response.status_code == 200, body


def test_a_large_body_gets_its_answer_with_connection_close(
    upload_to_active: tuple[Connection, str],
) -> None:
    """Past what is dropped before answering (server.drain_bytes, 64 MiB), the answer goes
    out at once; the server reads on while the body comes, and closes once the client
    has been silent for server.linger_timeout (5 s), without a reset."""
    connection, image = upload_to_active
    connection.start("PUT", f"{image}/file", 100 * MiB)
    connection.write(h11.Data(data=b"a" * 100_000))
    response, body = connection.answer()
    assert response.status_code == 409, body
    assert (b"connection", b"close") in response.headers
    connection.write(h11.Data(data=b"a" * 4 * MiB))  # still read: no broken pipe
    assert connection.closed_by_server()
