"""The unread-body middleware, in process: an answer given before the body was read
drops the rest of a small body first, and says ``Connection: close`` when the body is
too large or too slow to drop, then reads and drops what still comes (a lingering close)
for as long as the client keeps sending, within limits."""

from __future__ import annotations

import anyio
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.app import Lading
from lading.http.failures import EXCEPTION_HANDLERS
from lading.http.unread_body import CONNECTION_CLOSE, UnreadBodyMiddleware
from lading.settings import ServerSettings

pytestmark = pytest.mark.anyio
ANSWER_HEADER = (b"x-answer", b"kept")


def edge(drain_bytes: int = 4 * 1024 * 1024, **limits: float) -> ServerSettings:
    return ServerSettings(drain_bytes=drain_bytes, **limits)


async def answer_at_once(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 409, "headers": [ANSWER_HEADER]})
    await send({"type": "http.response.body", "body": b"{}"})


async def read_then_answer(scope: Scope, receive: Receive, send: Send) -> None:
    while (await receive()).get("more_body", False):
        pass
    await answer_at_once(scope, receive, send)


async def read_one_chunk_then_answer(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await answer_at_once(scope, receive, send)


class Client:
    """A request's body in chunks, and what the app sent back."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str], then: str = "end") -> None:
        self.chunks = chunks
        # After the chunks: "end", "stall" (a slow client), "leave", or "trickle" (more
        # chunks, each after a short wait, without end).
        self.then = then
        self.scope: Scope = {
            "type": "http", "method": "PUT", "path": "/boom", "headers":
            [(k.encode(), v.encode()) for k, v in headers.items()],
        }  # fmt: skip
        self.read = 0
        self.read_when_answered: int | None = None
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.read >= len(self.chunks):
            assert self.then != "end", "read past the end of the body"
            if self.then == "leave":
                return {"type": "http.disconnect"}
            if self.then == "trickle":
                await anyio.sleep(0.01)
                self.read += 1
                return {"type": "http.request", "body": b"x", "more_body": True}
            await anyio.sleep_forever()
        self.read += 1
        more = self.read < len(self.chunks) or self.then != "end"
        return {"type": "http.request", "body": self.chunks[self.read - 1], "more_body": more}

    async def send(self, message: Message) -> None:
        if self.read_when_answered is None:
            self.read_when_answered = self.read
        self.sent.append(message)

    async def run(self, app: ASGIApp) -> list[tuple[bytes, bytes]]:
        """The answer's headers, once the app has answered."""
        with anyio.fail_after(5):
            await app(self.scope, self.receive, self.send)
        headers = list(self.sent[0]["headers"])
        assert ANSWER_HEADER in headers
        return headers


async def test_a_small_body_is_dropped_and_the_connection_kept() -> None:
    client = Client([b"x" * 1000] * 5, {"content-length": "5000"})
    headers = await client.run(UnreadBodyMiddleware(answer_at_once))
    assert client.read == 5
    assert CONNECTION_CLOSE not in headers


async def test_a_body_announced_too_large_is_answered_at_once_then_read_to_its_end() -> None:
    client = Client([b"x" * 1000] * 5, {"content-length": "5000"})
    headers = await client.run(UnreadBodyMiddleware(answer_at_once, edge(4000)))
    assert client.read_when_answered == 0
    assert headers == [ANSWER_HEADER, CONNECTION_CLOSE]
    assert client.read == 5  # what followed the answer was read, so no reset wipes it


async def test_what_is_left_of_a_body_counts_not_what_was_announced() -> None:
    client = Client([b"x" * 1000] * 5, {"content-length": "5000"})
    headers = await client.run(UnreadBodyMiddleware(read_one_chunk_then_answer, edge(4000)))
    assert client.read == 5
    assert CONNECTION_CLOSE not in headers


async def test_a_chunked_body_is_dropped_up_to_the_limit() -> None:
    small = Client([b"x" * 1000] * 3, {"transfer-encoding": "chunked"})
    assert CONNECTION_CLOSE not in await small.run(UnreadBodyMiddleware(answer_at_once, edge(4000)))
    assert small.read == 3
    large = Client([b"x" * 1000] * 10, {"transfer-encoding": "chunked"})
    assert CONNECTION_CLOSE in await large.run(UnreadBodyMiddleware(answer_at_once, edge(4000)))
    assert large.read_when_answered == 5  # past the limit: the answer goes out
    assert large.read == 10


async def test_a_slow_body_is_given_up_on() -> None:
    client = Client([b"x"], {"content-length": "100"}, then="stall")
    headers = await client.run(
        UnreadBodyMiddleware(answer_at_once, edge(drain_timeout=0.1, linger_timeout=0.1))
    )
    assert CONNECTION_CLOSE in headers


async def test_lingering_ends_when_the_client_falls_silent() -> None:
    client = Client([b"x"] * 3, {"content-length": "100"}, then="stall")
    settings = edge(2, drain_timeout=5, linger_timeout=0.1)
    with anyio.fail_after(1):
        headers = await client.run(UnreadBodyMiddleware(answer_at_once, settings))
    assert CONNECTION_CLOSE in headers
    assert client.read == 3


async def test_lingering_ends_after_its_time_however_the_client_sends() -> None:
    client = Client([b"x"], {"transfer-encoding": "chunked"}, then="trickle")
    settings = edge(0, drain_timeout=0.1, linger_time=0.3, linger_timeout=5)
    started = anyio.current_time()
    with anyio.fail_after(2):
        headers = await client.run(UnreadBodyMiddleware(answer_at_once, settings))
    assert CONNECTION_CLOSE in headers
    assert 0.3 <= anyio.current_time() - started < 1.5
    assert client.read > 1 + 10  # it kept reading while the client kept sending


async def test_a_client_that_leaves_during_the_drain_is_let_go() -> None:
    client = Client([b"x"], {"content-length": "100"}, then="leave")
    headers = await client.run(UnreadBodyMiddleware(answer_at_once))
    assert CONNECTION_CLOSE not in headers  # nothing to keep or close: it is gone


async def test_a_client_waiting_to_send_is_not_asked_for_its_body() -> None:
    client = Client([b"x" * 1000], {"content-length": "1000", "expect": "100-continue"})
    headers = await client.run(UnreadBodyMiddleware(answer_at_once))
    assert client.read == 0  # neither before the answer nor after: it sends nothing
    assert CONNECTION_CLOSE in headers


@pytest.mark.parametrize("headers", [{}, {"content-length": "0"}])
async def test_requests_without_a_body_pass_untouched(headers: dict[str, str]) -> None:
    client = Client([], headers)
    assert await client.run(UnreadBodyMiddleware(answer_at_once)) == [ANSWER_HEADER]


async def test_a_body_the_app_read_is_not_read_again() -> None:
    client = Client([b"x" * 1000] * 3, {"content-length": "3000"})
    headers = await client.run(UnreadBodyMiddleware(read_then_answer, edge(10)))
    assert headers == [ANSWER_HEADER]
    assert client.read == 3


async def test_a_server_error_is_an_early_answer_too() -> None:
    async def fail(request: Request) -> Response:
        raise RuntimeError("a bug")

    app = Lading(routes=[Route("/boom", fail, methods=["PUT"])],
                 exception_handlers=EXCEPTION_HANDLERS)  # fmt: skip
    client = Client([b"x" * 1000] * 3, {"content-length": "3000"})
    with pytest.raises(RuntimeError):  # Starlette raises it again, for the server's log
        await app(client.scope, client.receive, client.send)
    headers = list(client.sent[0]["headers"])
    assert client.sent[0]["status"] == 500
    assert client.read == 3
    assert CONNECTION_CLOSE not in headers


async def test_a_server_error_past_the_drain_limit_lingers_too() -> None:
    async def fail(request: Request) -> Response:
        raise RuntimeError("a bug")

    app = Lading(routes=[Route("/boom", fail, methods=["PUT"])],
                 exception_handlers=EXCEPTION_HANDLERS, edge=edge(1000))  # fmt: skip
    client = Client([b"x" * 1000] * 3, {"content-length": "3000"})
    with pytest.raises(RuntimeError):
        await app(client.scope, client.receive, client.send)
    assert client.sent[0]["status"] == 500
    assert CONNECTION_CLOSE in list(client.sent[0]["headers"])
    assert client.read_when_answered == 0
    assert client.read == 3
