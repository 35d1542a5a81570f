"""The wrapped upload stream: re-chunking, the cap, the digests."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import pytest

from lading.errors import BadRequest, TooLarge
from lading.services.digests import DigestingStream, HashStates, RunningHashes

pytestmark = pytest.mark.anyio


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


@pytest.mark.parametrize("piece_size", [1, 1000, 65536, 10**6])
async def test_digests_and_chunks(piece_size: int) -> None:
    data = os.urandom(300_000)
    stream = DigestingStream(pieces(data, piece_size), chunk_size=65536, limit=10**9)
    chunks = [chunk async for chunk in stream.chunks()]
    digests = await stream.digests()
    assert b"".join(chunks) == data
    assert all(len(chunk) >= 65536 for chunk in chunks[:-1])
    assert digests.size == len(data)
    assert digests.md5 == hashlib.md5(data).hexdigest()
    assert digests.sha256 == hashlib.sha256(data).hexdigest()


async def test_the_cap_stops_the_stream() -> None:
    stream = DigestingStream(pieces(b"x" * 5000, 100), chunk_size=1000, limit=4000)
    received = 0
    with pytest.raises(TooLarge):
        async for chunk in stream.chunks():
            received += len(chunk)
    assert received <= 4000


async def test_empty_stream() -> None:
    stream = DigestingStream(pieces(b"", 10), chunk_size=1000, limit=10)
    assert [chunk async for chunk in stream.chunks()] == []
    assert (await stream.digests()).sha256 == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("announced", [999, 1001])
async def test_the_announced_size_must_be_met_exactly(announced: int) -> None:
    stream = DigestingStream(pieces(b"x" * 1000, 100), 4096, 10**6, announced_size=announced)
    with pytest.raises(BadRequest):
        async for _ in stream.chunks():
            pass


def test_the_running_hashes_kept_are_bounded_and_taken_at_their_offset() -> None:
    states = HashStates(2)
    for name in ("a", "b", "c"):
        states.keep(name, RunningHashes.empty())
    assert len(states) == 2
    assert states.take("a", 0) is None  # the least recently kept, evicted
    assert states.take("b", 5) is None  # not of the first 5 bytes: rebuilt instead
    assert states.take("b", 0) is None  # and taken out by the look
    assert states.take("c", 0) is not None
