"""A byte stream wrapped once for every store: re-chunked, capped, counted, hashed.

The size rules live here too: more than the limit is 413; more or fewer bytes than the
client announced is 400, as soon as that is known.

md5 and sha256 each run on a thread of their own (hashlib releases the GIL), so
hashing one chunk overlaps with receiving the next and with the store writing it.
At most ``DEPTH`` chunks wait for each hasher, so memory stays constant.

``sees``, when given, is shown every chunk in order before it goes on (an image's format
inspection): what it raises ends the stream there.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from lading.domain import Digests
from lading.errors import BadRequest, TooLarge
from lading.serial_thread import SerialThread

DEPTH = 2


@dataclass(slots=True)
class RunningHashes:
    """md5 and sha256 of the first ``offset`` bytes of data that arrives over several
    requests (a chunked or resumable upload), to go on with."""

    offset: int
    md5: Any
    sha256: Any

    @classmethod
    def empty(cls) -> RunningHashes:
        return cls(0, hashlib.md5(usedforsecurity=False), hashlib.sha256())

    def copy(self) -> RunningHashes:
        return RunningHashes(self.offset, self.md5.copy(), self.sha256.copy())


class HashStates:
    """The running hashes of the uploads a process appended to last, at most ``capacity``
    of them. hashlib's state cannot be written out, so an upload whose hashes are not
    here (evicted, or resumed by another process) has them rebuilt (``rehash``) from the
    bytes stored so far."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._held: OrderedDict[str, RunningHashes] = OrderedDict()

    def take(self, upload_id: str, offset: int) -> RunningHashes | None:
        """The upload's hashes if they are of its first ``offset`` bytes; out of the
        store until kept again."""
        found = self._held.pop(upload_id, None)
        return found if found is not None and found.offset == offset else None

    def keep(self, upload_id: str, hashes: RunningHashes) -> None:
        self._held[upload_id] = hashes
        self._held.move_to_end(upload_id)
        while len(self._held) > self._capacity:
            self._held.popitem(last=False)

    def clear(self) -> None:
        self._held.clear()

    def __len__(self) -> int:
        return len(self._held)


async def rehash(chunks: AsyncIterable[bytes]) -> RunningHashes:
    """The running hashes of the bytes ``chunks`` reads back, on threads, in constant
    memory."""
    hashes = RunningHashes.empty()
    threads = (SerialThread("lading-md5", DEPTH), SerialThread("lading-sha256", DEPTH))
    try:
        async for chunk in chunks:
            await threads[0].submit(hashes.md5.update, chunk)
            await threads[1].submit(hashes.sha256.update, chunk)
            hashes.offset += len(chunk)
        for thread in threads:
            await thread.drain()
    finally:
        for thread in threads:
            await thread.finish()
    return hashes


class DigestingStream:
    """Iterate ``chunks()`` to consume ``source``; then ``await digests()``.

    ``running``: hashes of the data before ``source`` (a chunk of a longer upload), which
    it goes on with; the digests are then of the whole so far, the size of ``source``."""

    def __init__(
        self,
        source: AsyncIterable[bytes],
        chunk_size: int,
        limit: int,
        announced_size: int | None = None,
        sees: Callable[[bytes], None] | None = None,
        running: RunningHashes | None = None,
    ) -> None:
        self._source = source
        self._sees = sees
        self._chunk_size = chunk_size
        self._limit = limit
        self._announced = announced_size
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False) if running is None else running.md5
        self._sha256 = hashlib.sha256() if running is None else running.sha256
        self._threads = (SerialThread("lading-md5", DEPTH), SerialThread("lading-sha256", DEPTH))

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in rechunked(self._counted(), self._chunk_size):
                await self._hash(chunk)
                yield chunk
        finally:
            for thread in self._threads:
                thread.close()

    async def _counted(self) -> AsyncIterator[bytes]:
        """The source's pieces, each counted against the limit and the announced size."""
        async for piece in self._source:
            self.size += len(piece)
            if self._announced is not None and self.size > self._announced:
                raise BadRequest(f"received more than the {self._announced} bytes announced")
            if self.size > self._limit:
                raise TooLarge(f"the data is larger than the limit of {self._limit} bytes")
            yield piece
        if self._announced is not None and self.size != self._announced:
            raise BadRequest(f"received {self.size} bytes but {self._announced} were announced")

    async def digests(self) -> Digests:
        """The size and digests of everything read, once the stream is exhausted."""
        for thread in self._threads:
            await thread.drain()
        return Digests(self.size, self._md5.hexdigest(), self._sha256.hexdigest())

    async def _hash(self, chunk: bytes) -> None:
        md5_thread, sha256_thread = self._threads
        await md5_thread.submit(self._md5.update, chunk)
        await sha256_thread.submit(self._sha256.update, chunk)
        if self._sees is not None:
            self._sees(chunk)  # on this thread: pure Python, it would only wait for the GIL


async def rechunked(pieces: AsyncIterable[bytes], chunk_size: int) -> AsyncIterator[bytes]:
    """``pieces`` joined into chunks of at least ``chunk_size`` bytes (the last: what is
    left): a request's small pieces become writes and hash updates a store and a thread
    take at their pace."""
    held: list[bytes] = []
    buffered = 0
    async for piece in pieces:
        held.append(piece)
        buffered += len(piece)
        if buffered >= chunk_size:
            chunk = b"".join(held)
            held.clear()
            buffered = 0
            yield chunk
    if held:
        yield b"".join(held)
