"""The Swift store's bulk bytes (segment and object PUTs, object GETs) over the standard
library's ``http.client``, on worker threads; the other requests (sign-in, manifests,
deletes, listings) stay on httpx.

Why: httpx parses every 64 KiB piece of a body in Python on the event loop (h11, then
its re-chunker joins them again), the loop that also receives the client's upload and
sends its download. On this project's 2-core machine a 128 MiB download cost the process
0.27 to 0.44 CPU-seconds through httpx and 0.05 to 0.08 here, where ``http.client``
reads into its buffer in C with the GIL released; a PUT 0.09 against 0.03.

Downloads read ahead: the next chunk is read on a thread while the event loop sends the
one before (one chunk ahead, so two in memory per download). Connections are kept alive
and reused (at most ``IDLE`` idle ones per store); a request that meets a connection the
server closed while it was idle is sent once more on a new one, as every HTTP/1.1 client
does, which is safe because only whole, buffered bodies are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import ssl
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

import anyio

T = TypeVar("T")
IDLE = 8  # idle keep-alive connections a store keeps
THREADS = 32  # bulk requests at once; more wait for a thread (each holds one for a chunk)
# What a kept connection meets when the server closed it while it was idle.
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: http.client.HTTPMessage


class Wire:
    """Keep-alive ``http.client`` connections used from worker threads, one at a time."""

    def __init__(self, timeout: float, context: ssl.SSLContext) -> None:
        self._timeout = timeout
        self._context = context
        self._idle: list[tuple[str, http.client.HTTPConnection]] = []
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(THREADS, thread_name_prefix="lading-swift")

    async def put(self, url: str, headers: Mapping[str, str], body: Iterable[bytes]) -> Answer:
        """PUT ``body`` (a whole, buffered one: it may be sent twice) and read the answer."""

        def send() -> Answer:
            connection, response = self._request("PUT", url, headers, body)
            response.read()  # an answer's few bytes, so that the connection can be kept
            self._release(url, connection, response.isclosed() and not response.will_close)
            return Answer(response.status, response.headers)

        return await self._run(send)

    @contextlib.asynccontextmanager
    async def get(self, url: str, headers: Mapping[str, str]) -> AsyncIterator[Reading]:
        """The answer to a GET, its body read by ``Reading.chunks``."""

        def send() -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
            return self._request("GET", url, headers, ())

        sending = self._threads.submit(send)
        try:
            connection, response = await _settled(sending)
        except asyncio.CancelledError:  # the thread goes on: what it opens is closed then
            sending.add_done_callback(_close_opened)
            raise
        reading = Reading(response, self._threads)
        try:
            yield reading
        finally:
            with anyio.CancelScope(shield=True):
                whole = await reading.settle()
            self._release(url, connection, whole and not response.will_close)

    def close(self) -> None:
        self._threads.shutdown(wait=False)
        with self._lock:
            idle, self._idle = self._idle, []
        for _, connection in idle:
            connection.close()

    async def _run(self, call: Callable[[], T]) -> T:
        return await _settled(self._threads.submit(call))

    def _request(
        self, method: str, url: str, headers: Mapping[str, str], body: Iterable[bytes]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        origin = f"{parts.scheme}://{parts.netloc}"
        connection = self._take(origin)
        reused = connection is not None
        while True:
            if connection is None:
                connection = self._connect(parts.scheme, parts.netloc)
            try:
                connection.putrequest(method, target, skip_accept_encoding=True)
                for name, value in headers.items():
                    connection.putheader(name, value)
                connection.endheaders()
                for chunk in body:
                    connection.send(chunk)
                return connection, connection.getresponse()
            except STALE:
                connection.close()
                if not reused:
                    raise
                connection, reused = None, False  # once more, on a new connection
            except BaseException:
                connection.close()
                raise

    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(netloc, timeout=self._timeout, context=self._context)
        return http.client.HTTPConnection(netloc, timeout=self._timeout)

    def _take(self, origin: str) -> http.client.HTTPConnection | None:
        with self._lock:
            for index in range(len(self._idle) - 1, -1, -1):
                if self._idle[index][0] == origin:
                    return self._idle.pop(index)[1]
        return None

    def _release(self, url: str, connection: http.client.HTTPConnection, reusable: bool) -> None:
        """Keep the connection when ``reusable``: its answer was read to the end, and the
        server keeps it open."""
        if not reusable:
            connection.close()
            return
        parts = urlsplit(url)
        with self._lock:
            if len(self._idle) < IDLE:
                self._idle.append((f"{parts.scheme}://{parts.netloc}", connection))
                return
        connection.close()


class Reading:
    """A GET's answer: its status and headers, and its body read one chunk ahead."""

    def __init__(self, response: http.client.HTTPResponse, threads: ThreadPoolExecutor) -> None:
        self._response = response
        self._threads = threads
        self._pending: Future[bytes] | None = None
        self.status = response.status
        self.headers = response.headers

    async def chunks(self, size: int) -> AsyncIterator[bytes]:
        """The body in chunks of ``size`` bytes (the last may be shorter)."""
        self._pending = self._threads.submit(self._response.read, size)
        while chunk := await asyncio.wrap_future(self._pending):
            # the next read starts now, and goes on while this chunk is sent
            self._pending = self._threads.submit(self._response.read, size)
            yield chunk

    async def settle(self) -> bool:
        """Wait for the read in flight (a thread may still be in it); whether the answer
        was read to its end. If not, it is closed: its connection cannot be reused."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.cancelled():
            with contextlib.suppress(Exception):
                await asyncio.wrap_future(pending)
        if self._response.isclosed():  # http.client closes it once its last byte is read
            return True
        self._response.close()
        return False


async def _settled(call: Future[T]) -> T:
    """The call's result. Cancelling the wait leaves the call to finish on its thread:
    a request cut off mid-way would leave a connection no one may use (a blocked one
    ends within the timeout anyway)."""
    return await asyncio.shield(asyncio.wrap_future(call))


def _close_opened(
    sending: Future[tuple[http.client.HTTPConnection, http.client.HTTPResponse]],
) -> None:
    if not sending.cancelled() and sending.exception() is None:
        sending.result()[0].close()
