"""Sending an artifact's bytes: validators, conditional requests, ranges, pathsend.

Shared by every face. A whole file in a local store goes out through the ASGI
``http.response.pathsend`` extension when the server offers it (granian does), so
its bytes never pass through Python; a store set to redirect hands the download off
to a short-lived URL of its own; a filesystem store behind nginx hands it off to nginx
(``X-Accel-Redirect``, http/accel.py), which sends the file and serves the Range.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import format_datetime
from pathlib import Path

import anyio
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lading.errors import RangeNotSatisfiable
from lading.http.accel import carried, handed_off
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


@dataclass(frozen=True, slots=True)
class Answer:
    """What a download answers, decided before anything is sent (``answer``)."""

    status: int
    headers: dict[str, str]
    parts: list[Part] = field(default_factory=list)  # the body, in order; none for no body
    whole: bool = False  # the body is all of the data: the server may send it by path
    # A store may hand the bytes off instead (a redirect); the headers to keep then.
    redirectable: dict[str, str] | None = None
    # The whole data's headers, for nginx to send the file (X-Accel-Redirect) and decide
    # the Range itself, as lading would have; None: no body follows.
    whole_headers: dict[str, str] | None = None


def answer(
    request: Headers,
    method: str,
    download: Download,
    cache_control: str | None,
    metadata: Mapping[str, str],
    boundary: str,
) -> Answer:
    """The answer to a request for the download's data: 204 without data, 304 when the
    client's copy is current, 416 for ranges that select nothing, else 200 or 206 with
    the parts to send (a multipart body separated by ``boundary`` for several ranges)."""
    if download.location is None:
        return Answer(204, dict(metadata))
    size = download.location.size
    updated = download.artifact.updated_at.replace(tzinfo=UTC)
    checksum = download.location.checksum  # None: an external location, no digest
    validators = {
        **({"etag": f'"{checksum}"'} if checksum else {}),
        "last-modified": format_datetime(updated, usegmt=True),
        "accept-ranges": "bytes",
        **metadata,
    } | ({"cache-control": cache_control} if cache_control else {})
    if _matches(request.get("if-none-match"), validators.get("etag")):
        return Answer(304, validators)
    # A stale If-Range means the whole representation, whatever Range asks.
    wanted = request.get("range") if _range_allowed(request.get("if-range"), validators) else None
    try:
        ranges = parse_range(wanted, size)
    except RangeNotSatisfiable as exc:
        return Answer(416, {**validators, **exc.headers})
    body_follows = method != "HEAD"
    # A store may hand the bytes off (an S3 presigned URL); the client sends its Range
    # there again. Several ranges stay here: S3 answers only one.
    redirectable = validators if body_follows and len(ranges or ()) < 2 else None
    whole_headers = {
        **validators,
        "content-type": OCTET_STREAM,
        "content-length": str(size),
        **({"content-md5": checksum} if checksum else {}),
    }
    if ranges is None:
        headers = whole_headers
        parts = [Part(b"", ByteRange(0, size), b"")]
    elif len(ranges) == 1:
        (only,) = ranges
        headers = {
            **validators,
            "content-type": OCTET_STREAM,
            "content-length": str(only.length),
            "content-range": only.content_range(size),
        }
        parts = [Part(b"", only, b"")]
    else:
        parts = _multipart(ranges, size, boundary)
        headers = {
            **validators,
            "content-type": f"multipart/byteranges; boundary={boundary}",
            "content-length": str(sum(part.length for part in parts)),
        }
    status = 200 if ranges is None else 206
    if not body_follows:
        return Answer(status, headers, [], ranges is None)
    return Answer(status, headers, parts, ranges is None, redirectable, whole_headers)


def redirected(validators: Mapping[str, str], url: str) -> Answer:
    """The download handed off to ``url``: the client asks there again, Range and all."""
    headers = {**validators, "location": url, "cache-control": "no-store"}
    return Answer(307, {**headers, "content-length": "0"})


class DataResponse(Response):
    """The answer to a download: 200, 206, 304, 416, 307 to a store's own URL, or 204
    when there is no data.

    A Response only so that endpoints stay typed; it decides its status and headers
    when called (``answer``, a pure function, then the store's redirect), so the
    inherited ``status_code`` and ``headers`` mean nothing. Then it sends, as
    Starlette's FileResponse does: the head, and the body by path or streamed.
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
        decided = answer(
            Headers(scope=scope),
            scope["method"],
            self.download,
            self.cache_control,
            self.metadata,
            uuid.uuid4().hex,
        )
        if decided.redirectable is not None:
            url = await self.download.redirect_url()
            if url is not None:
                decided = redirected(decided.redirectable, url)
        if decided.whole_headers is not None and carried(decided.whole_headers):
            uri = self.download.accel_uri()
            if uri is not None:
                await _start(send, 200, handed_off(decided.whole_headers, uri))
                await _finish(send)
                return
        await _start(send, decided.status, decided.headers)
        path = self._path(scope) if decided.whole and decided.parts else None
        if path is not None:
            await self._send_path(send, path)
        elif not decided.parts or await self._send_parts(receive, send, decided.parts):
            await _finish(send)
        # else the client went away: nothing more may be sent

    def _path(self, scope: Scope) -> Path | None:
        """The data's file, when the server can send it itself (pathsend)."""
        path = self.download.local_path()
        return path if path is not None and PATHSEND in scope.get("extensions", {}) else None

    async def _send_path(self, send: Send, path: Path) -> None:
        await send({"type": PATHSEND, "path": str(path)})

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
