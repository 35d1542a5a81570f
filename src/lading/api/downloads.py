"""Sending an artifact's bytes: validators, conditional requests, ranges, pathsend.

Shared by every face. A whole file in a local store goes out through the ASGI
``http.response.pathsend`` extension when the server offers it (granian does), so
its bytes never pass through Python.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from email.utils import format_datetime

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from lading.api.ranges import ByteRange, parse_range
from lading.errors import RangeNotSatisfiable
from lading.services.transfers import Download

OCTET_STREAM = "application/octet-stream"
PATHSEND = "http.response.pathsend"


class DataResponse:
    """An ASGI response for ``download``: 200, 206, 304, 416, or 204 with no data."""

    def __init__(self, download: Download, extra_headers: dict[str, str] | None = None) -> None:
        self.download = download
        self.extra_headers = extra_headers or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        download = self.download
        if download.location is None or download.store is None:
            await _start(send, 204, self.extra_headers)
            await _finish(send)
            return
        request = Headers(scope=scope)
        artifact, size = download.artifact, download.location.size
        etag = f'"{download.location.checksum}"'
        validators = {
            "etag": etag,
            "last-modified": format_datetime(artifact.updated_at.replace(tzinfo=UTC), usegmt=True),
            "accept-ranges": "bytes",
            **self.extra_headers,
        }
        if _matches(request.get("if-none-match"), etag):
            await _start(send, 304, validators)
            await _finish(send)
            return
        header_only = scope["method"] == "HEAD"
        try:
            ranges = parse_range(request.get("range"), size)
        except RangeNotSatisfiable:
            await _start(send, 416, {**validators, "content-range": f"bytes */{size}"})
            await _finish(send)
            return
        if ranges is not None and not _range_allowed(request.get("if-range"), validators):
            ranges = None
        if ranges is None:
            headers = {
                **validators,
                "content-type": OCTET_STREAM,
                "content-length": str(size),
                "content-md5": download.location.checksum,
            }
            await _start(send, 200, headers)
            if header_only:
                await _finish(send)
            else:
                await self._send_whole(scope, send)
        elif len(ranges) == 1:
            (only,) = ranges
            headers = {
                **validators,
                "content-type": OCTET_STREAM,
                "content-length": str(only.length),
                "content-range": only.content_range(size),
            }
            await _start(send, 206, headers)
            if header_only:
                await _finish(send)
            else:
                await self._send_range(send, only, more_body=False)
        else:
            await self._send_multipart(send, ranges, size, validators, header_only)

    async def _send_whole(self, scope: Scope, send: Send) -> None:
        assert self.download.store is not None and self.download.location is not None
        path = self.download.store.local_path(self.download.location.key)
        if path is not None and PATHSEND in scope.get("extensions", {}):
            await send({"type": PATHSEND, "path": str(path)})
            return
        await self._send_range(send, ByteRange(0, self.download.location.size), more_body=False)

    async def _send_range(self, send: Send, byte_range: ByteRange, more_body: bool) -> None:
        assert self.download.store is not None and self.download.location is not None
        chunks = self.download.store.open(
            self.download.location.key, byte_range.start, byte_range.end
        )
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        if not more_body:
            await _finish(send)

    async def _send_multipart(
        self,
        send: Send,
        ranges: list[ByteRange],
        size: int,
        validators: dict[str, str],
        header_only: bool,
    ) -> None:
        boundary = uuid.uuid4().hex
        heads = [
            (
                f"--{boundary}\r\nContent-Type: {OCTET_STREAM}\r\n"
                f"Content-Range: {r.content_range(size)}\r\n\r\n"
            ).encode()
            for r in ranges
        ]
        tail = f"--{boundary}--\r\n".encode()
        length = sum(len(h) + r.length + 2 for h, r in zip(heads, ranges, strict=True)) + len(tail)
        headers = {
            **validators,
            "content-type": f"multipart/byteranges; boundary={boundary}",
            "content-length": str(length),
        }
        await _start(send, 206, headers)
        if header_only:
            await _finish(send)
            return
        for head, byte_range in zip(heads, ranges, strict=True):
            await send({"type": "http.response.body", "body": head, "more_body": True})
            await self._send_range(send, byte_range, more_body=True)
            await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
        await send({"type": "http.response.body", "body": tail})


async def _finish(send: Send) -> None:
    await send({"type": "http.response.body", "body": b""})


async def _start(send: Send, status: int, headers: dict[str, str]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode(), v.encode("latin-1")) for k, v in headers.items()],
        }
    )


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


def _range_allowed(if_range: str | None, validators: dict[str, str]) -> bool:
    """If-Range: ranges only while the client's copy is current (strong comparison)."""
    if if_range is None:
        return True
    if if_range.startswith('"'):
        return if_range == validators["etag"]
    return if_range == validators["last-modified"]
