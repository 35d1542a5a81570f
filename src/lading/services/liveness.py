"""Signs of life of work in progress: recovery takes what shows none for
``upload_stuck_after`` (a pending blob, an upload's lease) for the leftover of a dead
process, so a long transfer shows some while its bytes keep coming."""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable


async def beating(
    chunks: AsyncIterable[bytes], every: float, beat: Callable[[], Awaitable[object]]
) -> AsyncIterator[bytes]:
    """The chunks, with ``beat()`` awaited at most once every ``every`` seconds while
    they keep coming."""
    last = time.monotonic()
    async for chunk in chunks:
        if time.monotonic() - last > every:
            last = time.monotonic()
            await beat()
        yield chunk
