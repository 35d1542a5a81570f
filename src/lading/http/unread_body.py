"""Answers given before the request's body was read, kept reliable: the client reads them.

Many answers come before the body is read: a 409 for an upload to an artifact that is not
queued, a 401, a 413 on the announced size. granian (hyper) then closes the connection
after the answer, which still said keep-alive, with the rest of the body unread. Two
things go wrong. A client that reuses the connection (httpx, urllib3 pools) sends its
next request into a closed socket and gets "server disconnected". And a socket closed
with unread data is reset: the client, still sending, gets a broken pipe, and the reset
can wipe an answer its TCP stack has not handed over yet (packets in flight, a Windows
client). So, as nginx does:

- before an answer starts, the rest of a body of up to ``drain_bytes`` is read and
  dropped, within ``drain_timeout``: the connection stays usable;
- a body larger or slower than that gets its answer with ``Connection: close``, and
  then what keeps arriving is still read and dropped (a lingering close) until the body
  ends, the client is silent for ``linger_timeout`` or ``linger_time`` is over; only
  then does the server close, with nothing unread left to reset.
"""

from __future__ import annotations

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.settings import ServerSettings

CONNECTION_CLOSE = (b"connection", b"close")


class UnreadBodyMiddleware:
    """Drops the unread rest of a body before an early answer starts, or closes after it
    and lingers.

    It wraps the whole application, Starlette's 500 layer included, so that no answer
    goes out around it.
    """

    def __init__(self, app: ASGIApp, edge: ServerSettings | None = None) -> None:
        self.app = app
        self.edge = edge or ServerSettings()

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
        received, asked, closing = 0, False, False

        async def tracking_receive() -> Message:
            nonlocal read_all, received, asked
            asked = True
            message = await receive()
            received += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                read_all = True
            return message

        async def draining_send(message: Message) -> None:
            nonlocal read_all, closing
            if message["type"] == "http.response.start" and not read_all:
                left = int(announced) - received if announced.isdigit() else 0
                if left <= self.edge.drain_bytes and not (waits_to_send and not asked):
                    read_all = await self._drain(tracking_receive)
                if not read_all:
                    closing = True
                    message["headers"] = [*message.get("headers", []), CONNECTION_CLOSE]
            await send(message)

        async def linger() -> None:
            # A client that waits for "100 Continue" and got a final answer sends nothing.
            if closing and not read_all and not (waits_to_send and not asked):
                await self._linger(tracking_receive)

        try:
            await self.app(scope, tracking_receive, draining_send)
        except Exception:  # a 500 went out (Starlette raises again, for the log)
            await linger()
            raise
        await linger()

    async def _drain(self, receive: Receive) -> bool:
        """Whether the rest of the body was read and dropped within the limits."""
        dropped = 0
        with anyio.move_on_after(self.edge.drain_timeout):
            while dropped <= self.edge.drain_bytes:
                message = await receive()
                if message["type"] != "http.request":
                    return True  # the client left: nothing more will come
                dropped += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
        return False

    async def _linger(self, receive: Receive) -> None:
        """After the answer, read and drop what still arrives, within the limits."""
        with anyio.move_on_after(self.edge.linger_time):
            while True:
                with anyio.move_on_after(self.edge.linger_timeout) as silence:
                    message = await receive()
                if silence.cancelled_caught:
                    return
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
