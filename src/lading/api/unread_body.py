"""Answers given before the request's body was read, kept reliable on kept-alive connections.

Many answers come before the body is read: a 409 for an upload to an artifact that is not
queued, a 401, a 413 on the announced size. granian (hyper) then drains what has already
arrived and, if the body is not all there, closes the connection after the answer, which
still said keep-alive. A client that reuses the connection (httpx, urllib3 pools) sends
its next request into a closed socket and gets "server disconnected" instead of an
answer. So before an answer starts, this middleware reads and drops what is left of a
small body, within a time limit; a body too large or too slow to drop gets the answer
with ``Connection: close``, which tells the client not to reuse the connection.
"""

from __future__ import annotations

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.settings import MiB

DRAIN_BYTES = 4 * MiB  # a few milliseconds on a LAN: cheaper than a new connection
DRAIN_SECONDS = 5.0
CONNECTION_CLOSE = (b"connection", b"close")


class UnreadBodyMiddleware:
    """Drops the unread rest of a small body before an answer starts, or closes after it.

    It wraps the whole application, Starlette's 500 layer included, so that no answer
    goes out around it.
    """

    def __init__(
        self, app: ASGIApp, limit: int = DRAIN_BYTES, seconds: float = DRAIN_SECONDS
    ) -> None:
        self.app = app
        self.limit = limit
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        announced = headers.get("content-length", "")
        # A client that waits for "100 Continue" has sent nothing yet: reading would
        # invite the body only to drop it.
        waits_to_send = headers.get("expect", "").lower() == "100-continue"
        read_all = "transfer-encoding" not in headers and announced in ("", "0")
        received, asked = 0, False

        async def tracking_receive() -> Message:
            nonlocal read_all, received, asked
            asked = True
            message = await receive()
            received += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                read_all = True
            return message

        async def draining_send(message: Message) -> None:
            nonlocal read_all
            if message["type"] == "http.response.start" and not read_all:
                left = int(announced) - received if announced.isdigit() else 0
                if left <= self.limit and not (waits_to_send and not asked):
                    read_all = await self._drain(tracking_receive)
                if not read_all:
                    message["headers"] = [*message.get("headers", []), CONNECTION_CLOSE]
            await send(message)

        await self.app(scope, tracking_receive, draining_send)

    async def _drain(self, receive: Receive) -> bool:
        """Whether the rest of the body was read and dropped within the limits."""
        dropped = 0
        with anyio.move_on_after(self.seconds):
            while dropped <= self.limit:
                message = await receive()
                if message["type"] != "http.request":
                    return True  # the client left: nothing more will come
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
        return False
