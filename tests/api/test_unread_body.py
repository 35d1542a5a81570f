"""The unread-body middleware, in process: an answer given before the body was read
drops the rest of a small body first, and says ``Connection: close`` when the body is
too large or too slow to drop."""

from __future__ import annotations

import anyio
import pytest
from starlette.types import Message, Receive, Scope, Send

from lading.api.unread_body import UnreadBodyMiddleware

pytestmark = pytest.mark.anyio
CLOSE = (b"connection", b"close")


async def answer_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 409, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def read_then_answer(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body", False):
        pass
    await answer_at_once(scope, receive, send)


class Client:
    """A request's body in chunks, and what the app sent back."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str], stall: bool = False):
        self.chunks = chunks
        self.stall = stall  # after the chunks, wait forever (a slow client)
        self.scope: Scope = {
            "type": "http", "method": "PUT", "path": "/", "headers":
            [(k.encode(), v.encode()) for k, v in headers.items()],
        }  # fmt: skip
        self.read = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.read == len(self.chunks):
            assert self.stall, "read past the end of the body"
            await anyio.sleep_forever()
        self.read += 1
        more = self.read < len(self.chunks) or self.stall
        return {"type": "http.request", "body": self.chunks[self.read - 1], "more_body": more}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    async def run(self, app: UnreadBodyMiddleware) -> list[tuple[bytes, bytes]]:
        await app(self.scope, self.receive, self.send)
        assert self.sent[-1]["body"] == b"{}"
        return list(self.sent[0]["headers"])


async def test_a_small_body_is_dropped_and_the_connection_kept() -> None:
    client = Client([b"x" * 1000] * 5, {"content-length": "5000"})
    headers = await client.run(UnreadBodyMiddleware(answer_at_once))
    assert client.read == 5
    assert CLOSE not in headers


async def test_a_body_announced_too_large_is_not_read_and_the_connection_closed() -> None:
    client = Client([b"x" * 1000] * 5, {"content-length": "5000"})
    headers = await client.run(UnreadBodyMiddleware(answer_at_once, limit=4000))
    assert client.read == 0
    assert CLOSE in headers


async def test_a_chunked_body_is_dropped_up_to_the_limit() -> None:
    client = Client([b"x" * 1000] * 10, {"transfer-encoding": "chunked"})
    headers = await client.run(UnreadBodyMiddleware(answer_at_once, limit=4000))
    assert client.read == 5  # past the limit: no more is read
    assert CLOSE in headers


async def test_a_slow_body_is_given_up_on() -> None:
    client = Client([b"x"], {"content-length": "100"}, stall=True)
    with anyio.fail_after(5):
        headers = await client.run(UnreadBodyMiddleware(answer_at_once, seconds=0.1))
    assert CLOSE in headers


@pytest.mark.parametrize("headers", [{}, {"content-length": "0"}])
async def test_requests_without_a_body_pass_untouched(headers: dict[str, str]) -> None:
    client = Client([], headers)
    assert await client.run(UnreadBodyMiddleware(answer_at_once)) == []


async def test_a_body_the_app_read_is_not_read_again() -> None:
    client = Client([b"x" * 1000] * 3, {"content-length": "3000"})
    assert await client.run(UnreadBodyMiddleware(read_then_answer, limit=10)) == []
    assert client.read == 3
