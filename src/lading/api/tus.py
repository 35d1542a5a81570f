"""Resumable uploads: the tus protocol 1.0 at ``/uploads/`` (core, creation,
creation-with-upload, creation-defer-length, termination, checksum, expiration). Parse the
tus headers, call ``Resumable``, answer with tus's headers; errors are plain text."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC
from email.utils import format_datetime

from starlette.requests import ClientDisconnect, Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from lading.errors import (
    BadRequest,
    ChecksumMismatch,
    Conflict,
    PreconditionFailed,
    UnsupportedMediaType,
)
from lading.http.failures import Failure
from lading.http.requests import caller, endpoint, has_body, services
from lading.services.resumable import (
    CHECKSUM_ALGORITHMS,
    EXTENSIONS,
    TUS_VERSION,
    Checksum,
    Resumable,
    UploadInfo,
    check_upload_id,
    parse_metadata,
)

OFFSET_TYPE = "application/offset+octet-stream"
ARTIFACT_HEADER = "lading-artifact-id"  # the artifact the upload is for (or became)
EXPOSED = (
    "Location, Upload-Offset, Upload-Length, Upload-Defer-Length, Upload-Metadata, "
    "Upload-Expires, Tus-Resumable, Tus-Version, Tus-Extension, Tus-Max-Size, "
    "Tus-Checksum-Algorithm, Lading-Artifact-Id"
)
OVERRIDDEN = frozenset({"PATCH", "DELETE", "HEAD"})  # X-HTTP-Method-Override of a POST


def _resumable(request: Request) -> Resumable:
    return services(request).resumable


def _check_version(request: Request) -> None:
    version = request.headers.get("tus-resumable")
    if version != TUS_VERSION:
        raise PreconditionFailed(
            f"this server speaks tus {TUS_VERSION}; Tus-Resumable was {version!r}",
            {"tus-version": TUS_VERSION},
        )


def _headers(info: UploadInfo | None = None) -> dict[str, str]:
    headers = {"tus-resumable": TUS_VERSION, "access-control-expose-headers": EXPOSED}
    if info is not None:
        headers["upload-offset"] = str(info.offset)
        if info.expires_at is not None:
            headers["upload-expires"] = format_datetime(
                info.expires_at.replace(tzinfo=UTC), usegmt=True
            )
        if info.artifact_id is not None:
            headers[ARTIFACT_HEADER] = info.artifact_id
    return headers


def _count(request: Request, name: str) -> int | None:
    text = request.headers.get(name)
    if text is None:
        return None
    if not text.isdigit() or len(text) > 19:
        raise BadRequest(f"{name} is a non-negative whole number, not {text[:40]!r}")
    return int(text)


def _checksum(request: Request) -> Checksum | None:
    text = request.headers.get("upload-checksum")
    if text is None:
        return None
    algorithm, _, encoded = text.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise BadRequest(
            f"Upload-Checksum: {algorithm[:20]!r} is not one of {', '.join(CHECKSUM_ALGORITHMS)}"
        )
    try:
        digest = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise BadRequest("Upload-Checksum: the digest is not base64") from None
    if len(digest) != hashlib.new(algorithm).digest_size:
        raise BadRequest(f"Upload-Checksum: that is not the length of a {algorithm} digest")
    return Checksum(algorithm, digest)


async def _arrived(request: Request) -> AsyncIterator[bytes]:
    """The body up to where it stops: a client that went away ends it, and the bytes
    that came are kept (tus asks servers to store as much of a cut body as they can)."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


async def options(request: Request) -> Response:
    if "upload_id" in request.path_params:  # an upload's URL: one lading could have made
        check_upload_id(request.path_params["upload_id"])
    headers = {
        **_headers(),
        "tus-version": TUS_VERSION,
        "tus-extension": ",".join(EXTENSIONS),
        "tus-max-size": str(_resumable(request).max_size),
        "tus-checksum-algorithm": ",".join(CHECKSUM_ALGORITHMS),
    }
    return Response(status_code=204, headers=headers)


async def create(request: Request) -> Response:
    _check_version(request)
    length = _count(request, "upload-length")
    deferred = request.headers.get("upload-defer-length")
    if deferred is not None and deferred != "1":
        raise BadRequest("Upload-Defer-Length is 1, when it is sent")
    if (length is None) == (deferred is None):
        raise BadRequest("a new upload states its Upload-Length, or Upload-Defer-Length: 1")
    text = request.headers.get("upload-metadata", "")
    metadata = parse_metadata(text)
    who = caller(request)
    resumable = _resumable(request)
    info = await resumable.create(who, length, text, metadata)
    location = f"{endpoint(request)}/uploads/{info.id}"
    if has_body(request):  # creation-with-upload
        if request.headers.get("content-type", "").partition(";")[0].strip() != OFFSET_TYPE:
            raise UnsupportedMediaType(f"data sent with a new upload is {OFFSET_TYPE}")
        try:
            info = await resumable.append(who, info.id, 0, _arrived(request), _checksum(request))
        except (ChecksumMismatch, Conflict):
            info = await resumable.status(who, info.id)  # the upload is made: say where
    elif length == 0:
        info = await resumable.append(who, info.id, 0, _arrived(request))
    return Response(status_code=201, headers={**_headers(info), "location": location})


async def head(request: Request) -> Response:
    _check_version(request)
    info = await _resumable(request).status(caller(request), request.path_params["upload_id"])
    headers = {**_headers(info), "cache-control": "no-store"}
    if info.length is None:
        headers["upload-defer-length"] = "1"
    else:
        headers["upload-length"] = str(info.length)
    if info.metadata:
        headers["upload-metadata"] = info.metadata
    return Response(status_code=200, headers=headers)


async def patch(request: Request) -> Response:
    _check_version(request)
    if request.headers.get("content-type", "").partition(";")[0].strip() != OFFSET_TYPE:
        raise UnsupportedMediaType(f"a PATCH of an upload is {OFFSET_TYPE}")
    offset = _count(request, "upload-offset")
    if offset is None:
        raise BadRequest("a PATCH states its Upload-Offset")
    info = await _resumable(request).append(
        caller(request), request.path_params["upload_id"], offset, _arrived(request),
        _checksum(request), _count(request, "upload-length"),
    )  # fmt: skip
    return Response(status_code=204, headers=_headers(info))


async def delete(request: Request) -> Response:
    _check_version(request)
    await _resumable(request).terminate(caller(request), request.path_params["upload_id"])
    return Response(status_code=204, headers=_headers())


async def overridden(request: Request) -> Response:
    """A POST standing for another method (X-HTTP-Method-Override), for clients behind
    proxies that pass only GET and POST (tus-js-client's overridePatchMethod)."""
    method = request.headers.get("x-http-method-override", "").upper()
    if method not in OVERRIDDEN:
        raise BadRequest("POST to an upload stands for PATCH, DELETE or HEAD "
                         "(X-HTTP-Method-Override)")  # fmt: skip
    handler = {"PATCH": patch, "DELETE": delete, "HEAD": head}[method]
    return await handler(request)


def tus_error(request: Request, failure: Failure) -> Response:
    """tus has no error body: the status says it; the message is plain text, for people."""
    headers = {**dict(failure.headers or {}), **_headers()}
    return PlainTextResponse(failure.message + "\n", failure.status, headers)


ROUTES: list[BaseRoute] = [
    Route("/", create, methods=["POST"], name="uploads"),
    Route("/", options, methods=["OPTIONS"], name="uploads_options"),
    Route("/{upload_id}", head, methods=["HEAD"], name="upload"),
    Route("/{upload_id}", patch, methods=["PATCH"], name="upload_patch"),
    Route("/{upload_id}", delete, methods=["DELETE"], name="upload_delete"),
    Route("/{upload_id}", overridden, methods=["POST"], name="upload_override"),
    Route("/{upload_id}", options, methods=["OPTIONS"], name="upload_options"),
]
