"""Requests handed to the app as an ASGI server hands them over, bytes that HTTP clients
refuse to send included (control characters, 64 KiB paths, invalid UTF-8, CR/LF in
header values).

The path is percent-decoded from the raw target with invalid UTF-8 replaced (U+FFFD),
as granian does; the app runs on the portal of a Starlette TestClient that has entered
its lifespan, so that it shares the event loop its background tasks run on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import anyio
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message

from tests.portal import call

HOST = b"lading.test"
TIMEOUT = 60  # seconds: an app that never answers fails the request, not the whole run


@dataclass(frozen=True, slots=True)
class RawAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    received: int = 0  # body bytes the app asked for before its answer began

    def header(self, name: str) -> str | None:
        wanted = name.lower().encode()
        return next((v.decode("latin-1") for k, v in self.headers if k == wanted), None)


def send(
    client: TestClient,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes | Iterable[bytes] = b"",
    host: bytes = HOST,
) -> RawAnswer:
    """``method target`` (a raw request target: path and query) to the client's app.

    A ``body`` of pieces is sent one piece each time the app asks, as by a client that
    stops sending once the answer begins (the rest is never made)."""
    raw_path, _, query = target.partition(b"?")
    scope: dict[str, object] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": unquote_to_bytes(raw_path).decode("utf-8", "replace"),
        "raw_path": raw_path, "query_string": query, "root_path": "",
        "headers": [(b"host", host), *((k.lower(), v) for k, v in headers or [])],
        "client": ("127.0.0.1", 50000), "server": (HOST.decode(), 80), "state": {},
    }  # fmt: skip
    return call(client, _exchange, client.app, scope, body)


async def _exchange(
    app: ASGIApp, scope: dict[str, object], body: bytes | Iterable[bytes]
) -> RawAnswer:
    status, headers, chunks = 0, [], []
    answered = anyio.Event()
    pieces = None if isinstance(body, bytes) else iter(body)
    delivered, received = False, 0

    async def receive() -> Message:
        nonlocal delivered, received
        if pieces is None and not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        if pieces is not None and not delivered and not status:
            piece = next(pieces, None)
            delivered = piece is None
            received += len(piece or b"")
            return {"type": "http.request", "body": piece or b"", "more_body": not delivered}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    try:
        with anyio.fail_after(TIMEOUT):
            await app(scope, receive, send)
    except Exception:
        if not status:  # no answer at all; Starlette re-raises what it answered 500 for
            raise
    finally:
        answered.set()
    return RawAnswer(status, headers, b"".join(chunks), received)
