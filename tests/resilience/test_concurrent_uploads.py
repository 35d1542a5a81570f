"""50 clients upload different data to one queued image at the same moment: exactly one
gets 204, the 49 others 409 with an error body, and the image holds the winner's bytes.

The losers are answered before their bodies are read. Each must still read its 409, not
a reset: with small bodies, with bodies of 8 MiB (which the server reads and drops before
answering), and with one far past what it drops (which it answers, then keeps reading
while the client sends, so that closing does not wipe the answer)."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import httpx
import pytest

from tests.api.helpers import assert_error
from tests.clients.support import create_image
from tests.resilience.conftest import Deployment
from tests.resilience.invariants import Catalogue, wait_until_settled
from tests.resilience.server import LiveServer

CLIENTS = 50
KiB = 1024
MiB = 1024 * KiB
CHUNK = MiB


@dataclass(frozen=True)
class Payload:
    """A body made of a client's own first chunk and a block every client shares, sent as
    it is read (50 bodies of 8 MiB need not be in memory at once)."""

    first: bytes
    shared: bytes
    size: int

    def chunks(self) -> Iterator[bytes]:
        yield self.first
        sent = len(self.first)
        while sent < self.size:
            piece = self.shared[: min(CHUNK, self.size - sent)]
            sent += len(piece)
            yield piece

    def sha256(self) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


def payloads(size: int) -> list[Payload]:
    shared = bytes(range(256)) * (CHUNK // 256)
    return [Payload(f"client {n:03} ".encode() * 4096, shared, size) for n in range(CLIENTS)]


@dataclass
class Outcome:
    """What one raw client saw: the answer, and the socket error met on the way, if any
    (a broken pipe or a reset: the server closed with the body unread)."""

    answer: httpx.Response | None = None
    error: str = ""


def upload(url: str, image_id: str, payload: Payload) -> Outcome:
    """The whole body sent on a connection of its own, then the answer read, as clients
    that upload a file do (the glance CLI and openstacksdk announce its length)."""
    address = urlsplit(url)
    outcome = Outcome()
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        http = h11.Connection(h11.CLIENT)
        headers = [("host", address.netloc), ("content-length", str(payload.size)),
                   ("content-type", "application/octet-stream")]  # fmt: skip
        request = h11.Request(method="PUT", target=f"/v2/images/{image_id}/file", headers=headers)
        try:
            sock.sendall(http.send(request) or b"")
            for chunk in payload.chunks():
                sock.sendall(http.send(h11.Data(data=chunk)) or b"")
            sock.sendall(http.send(h11.EndOfMessage()) or b"")
        except OSError as exc:
            outcome.error = f"sending: {exc!r}"
        try:
            outcome.answer = read_answer(sock, http)
            if outcome.answer.headers.get("connection") == "close" and sock.recv(1) != b"":
                outcome.error = "more after an answer that said it closes"
        except OSError as exc:
            outcome.error += f" reading: {exc!r}"
    return outcome


def read_answer(sock: socket.socket, http: h11.Connection) -> httpx.Response:
    response, body = None, b""
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            http.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert response is not None
            headers = [(name.decode(), value.decode()) for name, value in response.headers]
            return httpx.Response(response.status_code, headers=headers, content=body)
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionAbortedError("closed before the answer was whole")


@pytest.mark.parametrize(
    ("deployment", "size"),
    [("sqlite-filesystem", 512 * KiB), ("postgresql-swift", 512 * KiB),
     ("sqlite-filesystem", 8 * MiB), ("postgresql-swift", 8 * MiB)],
    indirect=["deployment"],
)  # fmt: skip
def test_one_upload_wins(deployment: Deployment, size: int) -> None:
    server = LiveServer(deployment.root, deployment.settings)
    server.start()
    catalogue = Catalogue(deployment.database_url)
    sent = payloads(size)
    start = threading.Barrier(CLIENTS)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as api:
            image_id = create_image(api, "contested")["id"]

            def contend(payload: Payload) -> Outcome:
                start.wait()
                return upload(server.url, image_id, payload)

            with ThreadPoolExecutor(CLIENTS) as pool:
                outcomes = list(pool.map(contend, sent))
            assert [o.error for o in outcomes if o.error] == []  # no reset, no broken pipe
            answers = [o.answer for o in outcomes if o.answer is not None]
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [204] + [409] * (CLIENTS - 1), statuses
            for answer in answers:
                if answer.status_code == 409:
                    assert_error(answer, 409)
                    assert "conflict" in answer.json()
                    # Read and dropped before the answer: the connection serves on.
                    assert "connection" not in answer.headers
            (winner,) = [payload for payload, a in zip(sent, answers, strict=True)
                         if a.status_code == 204]  # fmt: skip
            image = api.get(f"/v2/images/{image_id}").json()
            assert image["status"] == "active"
            assert image["size"] == size
            assert image["os_hash_value"] == winner.sha256()
            downloaded = hashlib.sha256()
            with api.stream("GET", f"/v2/images/{image_id}/file") as download:
                for chunk in download.iter_bytes():
                    downloaded.update(chunk)
            assert downloaded.hexdigest() == winner.sha256()
        wait_until_settled(catalogue, deployment.store, 10)
        assert catalogue.problems(deployment.store) == []  # the losers left no bytes
    finally:
        catalogue.close()
        server.stop()


@pytest.mark.parametrize("deployment", ["sqlite-filesystem"], indirect=True)
def test_a_refusal_past_what_is_dropped_still_reaches_the_client(deployment: Deployment) -> None:
    """100 MiB to an image already active: more than the server reads and drops before
    answering (64 MiB), so the 409 goes out first, with ``Connection: close``, and the
    server reads what follows until the body ends, then closes without a reset."""
    server = LiveServer(deployment.root, deployment.settings)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as api:
            image_id = create_image(api, "taken", b"first")["id"]
            outcome = upload(server.url, image_id, payloads(100 * MiB)[0])
            assert outcome.error == ""
            assert outcome.answer is not None
            assert_error(outcome.answer, 409)
            assert outcome.answer.headers["connection"] == "close"
            assert api.get(f"/v2/images/{image_id}").json()["size"] == len(b"first")
    finally:
        server.stop()
