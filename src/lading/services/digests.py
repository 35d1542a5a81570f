"""A byte stream wrapped once for every store: re-chunked, capped, counted, hashed.

md5 and sha256 each run on a thread of their own (hashlib releases the GIL), so
hashing one chunk overlaps with receiving the next and with the store writing it.
At most ``DEPTH`` chunks are in flight, so memory stays constant.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from lading.errors import TooLarge

DEPTH = 2


@dataclass(frozen=True, slots=True)
class Digests:
    size: int
    md5: str
    sha256: str


class DigestingStream:
    """Iterate ``chunks()`` to consume ``source``; then ``await digests()``."""

    def __init__(self, source: AsyncIterable[bytes], chunk_size: int, limit: int) -> None:
        self._source = source
        self._chunk_size = chunk_size
        self._limit = limit
        self.size = 0
        self._hashers = (hashlib.md5(usedforsecurity=False), hashlib.sha256())
        self._threads = tuple(ThreadPoolExecutor(1, "lading-digest") for _ in self._hashers)
        self._in_flight: deque[Future[None]] = deque()

    async def chunks(self) -> AsyncIterator[bytes]:
        pieces: list[bytes] = []
        buffered = 0
        try:
            async for piece in self._source:
                self.size += len(piece)
                if self.size > self._limit:
                    raise TooLarge(f"the data is larger than the limit of {self._limit} bytes")
                pieces.append(piece)
                buffered += len(piece)
                if buffered >= self._chunk_size:
                    chunk = b"".join(pieces)
                    pieces.clear()
                    buffered = 0
                    await self._hash(chunk)
                    yield chunk
            if pieces:
                chunk = b"".join(pieces)
                await self._hash(chunk)
                yield chunk
        finally:
            self._close()

    async def digests(self) -> Digests:
        """The size and digests of everything read, once the stream is exhausted."""
        while self._in_flight:
            await self._settle(self._in_flight.popleft())
        md5, sha256 = self._hashers
        return Digests(self.size, md5.hexdigest(), sha256.hexdigest())

    async def _hash(self, chunk: bytes) -> None:
        while len(self._in_flight) >= DEPTH * len(self._hashers):
            await self._settle(self._in_flight.popleft())
        for thread, hasher in zip(self._threads, self._hashers, strict=True):
            self._in_flight.append(thread.submit(hasher.update, chunk))

    @staticmethod
    async def _settle(update: Future[None]) -> None:
        # Only an unfinished update is awaited: a finished one costs no event-loop wake-up.
        if update.done():
            update.result()
        else:
            await asyncio.wrap_future(update)

    def _close(self) -> None:
        # Queued updates still run; the threads exit once they are done.
        for thread in self._threads:
            thread.shutdown(wait=False)
