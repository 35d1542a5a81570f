"""A bare ASGI upload receiver, the reference that lading's upload is measured against.

``PUT /store`` does the essential work of lading's upload without any catalogue: the
body re-chunked to lading's default chunk size, md5 and sha256 each on a thread
of its own and the writes on a third (at most two chunks queued for each, as lading
does), then flush, fsync, rename and an fsync of the directory. Any other ``PUT`` only
receives the body: the ceiling of receiving through granian.

``GET /files/<key>`` sends the file ``$REFERENCE_FILES_DIR/<key>`` as lading sends a
filesystem store's file, without any check: whole by pathsend, or one ``Range``
(``bytes=a-b``) in reads of lading's default ``read_size``: the ceiling of downloads
through granian. Anything else answers 200.

bench/transfer.py copies this file into its scratch directory and runs it there with
``granian --interface asgi --workers 1``; files land in ``$REFERENCE_UPLOAD_DIR``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from lading.settings import Settings

CHUNK: int = Settings.model_fields["chunk_size"].default  # as lading re-chunks the body
READ: int = Settings.model_fields["read_size"].default  # as lading reads a Range
FILES = Path(os.environ.get("REFERENCE_FILES_DIR", "."))
DEPTH = 2
DIRECTORY = Path(os.environ.get("REFERENCE_UPLOAD_DIR", "."))
Message = dict[str, Any]


class Serial:
    """One thread running calls in order; ``submit`` waits only when ``DEPTH`` are pending."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1)
        self._pending: deque[Future[Any]] = deque()

    async def submit(self, call: Callable[..., Any], *args: Any) -> None:
        while len(self._pending) >= DEPTH:
            await _settle(self._pending.popleft())
        self._pending.append(self._executor.submit(call, *args))

    async def drain(self) -> None:
        while self._pending:
            await _settle(self._pending.popleft())
        self._executor.shutdown()


async def _settle(call: Future[Any]) -> None:
    if call.done():  # as lading does: a finished call costs no event-loop wake-up
        call.result()
    else:
        await asyncio.wrap_future(call)


async def body(receive: Callable[[], Awaitable[Message]]) -> AsyncIterator[bytes]:
    """The request body in chunks of ``CHUNK`` bytes (the last one shorter)."""
    pieces: list[bytes] = []
    buffered, more = 0, True
    while more:
        message = await receive()
        piece, more = message.get("body", b""), message.get("more_body", False)
        pieces.append(piece)
        buffered += len(piece)
        if buffered >= CHUNK or (not more and buffered):
            yield b"".join(pieces)
            pieces.clear()
            buffered = 0


def commit(file: IO[bytes], temporary: Path) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()
    temporary.replace(temporary.with_name(temporary.name.replace("put-", "object-")))
    directory = os.open(temporary.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


async def store(receive: Callable[[], Awaitable[Message]]) -> tuple[str, str]:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    md5_thread, sha256_thread, writer = Serial(), Serial(), Serial()
    file = tempfile.NamedTemporaryFile(dir=DIRECTORY, prefix="put-", delete=False)  # noqa: SIM115
    async for chunk in body(receive):
        await md5_thread.submit(md5.update, chunk)
        await sha256_thread.submit(sha256.update, chunk)
        await writer.submit(file.write, chunk)
    for thread in (md5_thread, sha256_thread, writer):
        await thread.drain()
    await asyncio.to_thread(commit, file, Path(file.name))
    return md5.hexdigest(), sha256.hexdigest()


async def discard(receive: Callable[[], Awaitable[Message]]) -> None:
    async for _ in body(receive):
        pass


async def app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["method"] == "GET" and scope["path"].startswith("/files/"):
        await send_file(scope, send, FILES / scope["path"].removeprefix("/files/"))
        return
    upload = scope["method"] == "PUT"
    if upload and scope["path"] == "/store":
        await store(receive)
    elif upload:
        await discard(receive)
    await send({"type": "http.response.start", "status": 204 if upload else 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def send_file(scope: Message, send: Callable[[Message], Awaitable[None]], path: Path) -> None:
    size = await asyncio.to_thread(lambda: path.stat().st_size)
    wanted = dict(scope["headers"]).get(b"range", b"").decode()
    if not wanted:
        headers = [(b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": str(path)})
        return
    first, _, last = wanted.removeprefix("bytes=").partition("-")
    start, end = int(first), int(last) + 1
    headers = [
        (b"content-length", str(end - start).encode()),
        (b"content-range", f"bytes {start}-{end - 1}/{size}".encode()),
    ]
    await send({"type": "http.response.start", "status": 206, "headers": headers})
    fd = os.open(path, os.O_RDONLY)
    try:
        for offset in range(start, end, READ):
            chunk = await asyncio.to_thread(os.pread, fd, min(READ, end - offset), offset)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    finally:
        os.close(fd)
    await send({"type": "http.response.body", "body": b""})
