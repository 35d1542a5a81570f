"""A TCP relay on loopback that a test can cut, as if the server behind it went down, or
slow down, as if the network were slow."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator


class Relay:
    """Forwards 127.0.0.1:<port> to a server; ``cut()`` drops every connection and
    refuses new ones until ``restore()``. Keeps what clients sent in ``sent``. Runs its own
    event loop on a thread."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._budget: int | None = None  # bytes still allowed upstream before a cut
        self._drop_budget: int | None = None  # bytes allowed back before connections drop
        self._pace: float | None = None  # downstream bytes per second
        self.sent = bytearray()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", self.port), self._loop
        ).result(10)

    def cut(self) -> None:
        self._loop.call_soon_threadsafe(self._cut_now)

    def cut_after(self, upstream_bytes: int) -> None:
        """Go down once this many more bytes have been sent to the server."""
        self._budget = upstream_bytes

    def drop_after(self, downstream_bytes: int) -> None:
        """Drop the connections once, when this many more bytes have come back, and stay up."""
        self._drop_budget = downstream_bytes

    def pace(self, bytes_per_second: float) -> None:
        """Pass answers on no faster than this."""
        self._pace = bytes_per_second

    def retarget(self, port: int) -> None:
        """Forward new connections to another port (a server started again elsewhere)."""
        self._target_port = port

    def restore(self) -> None:
        self._cut = False
        self._budget = self._drop_budget = self._pace = None

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        self._cut_now()
        self._server.close()
        await self._server.wait_closed()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def _cut_now(self) -> None:
        self._cut = True
        self._drop_now()

    def _drop_now(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(64 * 1024):
                if upstream:
                    self.sent += data
                    if self._budget is not None:
                        self._budget -= len(data)
                        if self._budget <= 0:
                            self._cut_now()
                            return
                elif self._drop_budget is not None:
                    self._drop_budget -= len(data)
                    if self._drop_budget <= 0:
                        self._drop_budget = None
                        self._drop_now()
                        return
                writer.write(data)
                await writer.drain()
                if not upstream and self._pace:
                    await asyncio.sleep(len(data) / self._pace)
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self._target_port
            )
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        try:
            await asyncio.gather(
                self._pump(reader, upstream_writer, upstream=True),
                self._pump(upstream_reader, writer, upstream=False),
            )
        finally:
            self._writers -= {writer, upstream_writer}
            for end in (writer, upstream_writer):
                end.transport.abort()


@contextlib.contextmanager
def relay_to(port: int) -> Iterator[Relay]:
    relay = Relay(port)
    try:
        yield relay
    finally:
        relay.close()
