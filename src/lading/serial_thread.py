"""A thread that runs blocking calls in order while the event loop goes on."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class SerialThread:
    """Runs submitted calls one after another on its own thread.

    ``submit`` returns at once unless ``depth`` calls are still pending, so blocking
    work (hashing, writing) overlaps with receiving the next chunk, in bounded memory.
    The first error of a call is raised by a later ``submit`` or by ``drain``.
    """

    def __init__(self, name: str, depth: int) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._depth = depth
        self._pending: deque[Future[Any]] = deque()

    async def submit(self, call: Callable[..., Any], *args: Any) -> None:
        while len(self._pending) >= self._depth:
            await _settle(self._pending.popleft())
        self._pending.append(self._executor.submit(call, *args))

    async def drain(self) -> None:
        """Wait for every pending call."""
        while self._pending:
            await _settle(self._pending.popleft())

    async def finish(self) -> None:
        """Wait for pending calls, whatever their outcome, and end the thread.

        For clean-up after a failure, before closing what the calls were using.
        """
        while self._pending:
            with contextlib.suppress(Exception):
                await _settle(self._pending.popleft())
        self.close()

    def close(self) -> None:
        """Let pending calls finish in the background, then end the thread."""
        self._executor.shutdown(wait=False)


async def _settle(call: Future[Any]) -> None:
    # A call that has finished costs no event-loop wake-up; only unfinished ones are awaited.
    if call.done():
        call.result()
    else:
        await asyncio.wrap_future(call)
