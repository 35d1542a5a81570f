"""Sending an artifact's bytes: validators, conditional requests, ranges, pathsend.

Shared by every face. A whole file in a local store goes out through the ASGI
``http.response.pathsend`` extension when the server offers it (granian does), so
its bytes never pass through Python; a store set to redirect hands the download off
to a short-lived URL of its own.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC
from email.utils import format_datetime

import anyio
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lading.errors import RangeNotSatisfiable
from lading.http.ranges import ByteRange, parse_range
from lading.services.transfers import Download

OCTET_STREAM = "application/octet-stream"
PATHSEND = "http.response.pathsend"


@dataclass(frozen=True, slots=True)
class Part:
    """One range of the body, with what goes before and after it on the wire."""

    head: bytes
    range: ByteRange
    tail: bytes

    @property
    def length(self) -> int:
        return len(self.head) + self.range.length + len(self.tail)


class DataResponse(Response):
    """The answer to a download: 200, 206, 304, 416, or 204 when there is no data.

    A Response only so that endpoints stay typed; it decides its status and headers
    when called, so the inherited ``status_code`` and ``headers`` mean nothing.
    """

    def __init__(
        self,
        download: Download,
        cache_control: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.download = download
        self.cache_control = cache_control  # for every answer but a redirect (no-store)
        self.metadata = metadata or {}  # a face's headers about the artifact (v1's x-image-meta-*)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        download = self.download
        if download.location is None:
            await _start(send, 204, self.metadata)
            await _finish(send)
            return
        request = Headers(scope=scope)
        size = download.location.size
        updated = download.artifact.updated_at.replace(tzinfo=UTC)
        checksum = download.location.checksum  # None: an external location, no digest
        validators = {
            **({"etag": f'"{checksum}"'} if checksum else {}),
            "last-modified": format_datetime(updated, usegmt=True),
            "accept-ranges": "bytes",
            **self.metadata,
        } | ({"cache-control": self.cache_control} if self.cache_control else {})
        if _matches(request.get("if-none-match"), validators.get("etag")):
            await _start(send, 304, validators)
            await _finish(send)
            return
        # A stale If-Range means the whole representation, whatever Range asks.
        wanted = (
            request.get("range") if _range_allowed(request.get("if-range"), validators) else None
        )
        try:
            ranges = parse_range(wanted, size)
        except RangeNotSatisfiable as exc:
            await _start(send, 416, {**validators, **exc.headers})
            await _finish(send)
            return
        body_follows = scope["method"] != "HEAD"
        # A store may hand the bytes off (an S3 presigned URL); the client sends its Range
        # there again. Several ranges stay here: S3 answers only one.
        redirect = await download.redirect_url() if body_follows and len(ranges or ()) < 2 else None
        if redirect is not None:
            headers = {**validators, "location": redirect, "cache-control": "no-store"}
            await _start(send, 307, {**headers, "content-length": "0"})
            await _finish(send)
            return
        if ranges is None:
            headers = {
                **validators,
                "content-type": OCTET_STREAM,
                "content-length": str(size),
                **({"content-md5": checksum} if checksum else {}),
            }
            await _start(send, 200, headers)
            path = download.local_path()
            if body_follows and path is not None and PATHSEND in scope.get("extensions", {}):
                await send({"type": PATHSEND, "path": str(path)})
                return
            parts = [Part(b"", ByteRange(0, size), b"")]
        elif len(ranges) == 1:
            (only,) = ranges
            headers = {
                **validators,
                "content-type": OCTET_STREAM,
                "content-length": str(only.length),
                "content-range": only.content_range(size),
            }
            await _start(send, 206, headers)
            parts = [Part(b"", only, b"")]
        else:
            boundary = uuid.uuid4().hex
            parts = _multipart(ranges, size, boundary)
            length = sum(part.length for part in parts)
            headers = {
                **validators,
                "content-type": f"multipart/byteranges; boundary={boundary}",
                "content-length": str(length),
            }
            await _start(send, 206, headers)
        if body_follows and not await self._send_parts(receive, send, parts):
            return  # the client went away: nothing more may be sent
        await _finish(send)

    async def _send_parts(self, receive: Receive, send: Send, parts: list[Part]) -> bool:
        """Stream the parts, or stop reading as soon as the client goes away (False)."""
        disconnected = False
        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:

            async def stop_on_disconnect() -> None:
                nonlocal disconnected
                while (await receive())["type"] != "http.disconnect":
                    pass
                disconnected = True
                tasks.cancel_scope.cancel()

            tasks.start_soon(stop_on_disconnect)
            try:
                await self._stream(send, parts)
            except Exception as exc:  # raised below, not wrapped in an ExceptionGroup
                failure = exc
            tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure
        return not disconnected

    async def _stream(self, send: Send, parts: list[Part]) -> None:
        for part in parts:
            if part.head:
                await _body(send, part.head)
            reading = self.download.read(part.range.start, part.range.end)
            async with contextlib.aclosing(reading) as chunks:
                async for chunk in chunks:
                    await _body(send, chunk)
            if part.tail:
                await _body(send, part.tail)


def _multipart(ranges: list[ByteRange], size: int, boundary: str) -> list[Part]:
    """Each range with its part head before it and the delimiter after it."""
    parts = [
        Part(
            (
                f"--{boundary}\r\nContent-Type: {OCTET_STREAM}\r\n"
                f"Content-Range: {byte_range.content_range(size)}\r\n\r\n"
            ).encode(),
            byte_range,
            b"\r\n",
        )
        for byte_range in ranges
    ]
    last = parts[-1]
    parts[-1] = Part(last.head, last.range, f"\r\n--{boundary}--\r\n".encode())
    return parts


async def _start(send: Send, status: int, headers: dict[str, str]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode(), v.encode("latin-1")) for k, v in headers.items()],
        }
    )


async def _body(send: Send, chunk: bytes) -> None:
    await send({"type": "http.response.body", "body": chunk, "more_body": True})


async def _finish(send: Send) -> None:
    await send({"type": "http.response.body", "body": b""})


def _matches(if_none_match: str | None, etag: str | None) -> bool:
    """If-None-Match uses the weak comparison: W/ prefixes do not matter."""
    if if_none_match is None or etag is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _range_allowed(if_range: str | None, validators: dict[str, str]) -> bool:
    """If-Range: ranges only while the client's copy is current (strong comparison)."""
    if if_range is None:
        return True
    if if_range.startswith('"'):
        return if_range == validators.get("etag")
    return if_range == validators["last-modified"]
