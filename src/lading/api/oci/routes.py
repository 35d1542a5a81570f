"""The OCI distribution spec's endpoints (v1.1), under ``/v2``: parse, call the registry
service, render. The token endpoint (``/v2/token``) is the realm its 401s name."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from lading.errors import BadRequest, RangeNotSatisfiable, TooLarge, Unauthorized
from lading.http.accel import handed_off_response
from lading.http.downloads import PATHSEND
from lading.http.ranges import parse_range
from lading.http.requests import body_stream, has_body, parse_count, services, settings_of
from lading.services.oci import (
    OCI_INDEX,
    TOKEN_PREFIX,
    Access,
    Page,
    Registry,
    StoredManifest,
    TokenScope,
    UploadState,
)

API_VERSION = {"docker-distribution-api-version": "registry/2.0"}


def _registry(request: Request) -> Registry:
    return services(request).registry


async def access(request: Request) -> Access:
    """Who calls: Basic with a lading token as the password, a registry token, a lading
    token as a bearer token, or nobody (anonymous)."""
    identities = services(request).identities
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Unauthorized("the Basic credentials are not base64 of user:password") from None
        password = decoded.partition(":")[2]
        caller = await identities.authenticate(password or None)
        if caller is None:
            raise Unauthorized("the password is a lading token")
        return Access(caller)
    if scheme.lower() == "bearer" and credentials.startswith(TOKEN_PREFIX):
        if await identities.is_open():
            return Access(await identities.authenticate(None))
        return _registry(request).open_token(credentials)
    token = credentials if scheme.lower() == "bearer" and credentials else None
    return Access(await identities.authenticate(token))


async def base(request: Request) -> Response:
    found = await access(request)
    if found.caller is None and found.scopes is None:
        raise Unauthorized("this registry needs a token")
    return JSONResponse({}, headers=API_VERSION)


async def token(request: Request) -> Response:
    found = await access(request)
    scopes = [
        scope
        for text in request.query_params.getlist("scope")
        for part in text.split(" ")
        if (scope := TokenScope.parse(part)) is not None
    ]
    issued = _registry(request).issue_token(found.caller, scopes)
    body = {
        "token": issued.token,
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": issued.issued_at,
    }
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def catalog(request: Request) -> Response:
    n, last = _paging(request)
    page = await _registry(request).catalog(await access(request), n, last)
    return _paged(request, {"repositories": page.items}, page, n)


async def tags(request: Request) -> Response:
    name = request.path_params["name"]
    n, last = _paging(request)
    page = await _registry(request).tags(await access(request), name, n, last)
    return _paged(request, {"name": name, "tags": page.items}, page, n)


def _paging(request: Request) -> tuple[int | None, str | None]:
    n = request.query_params.get("n")
    return (None if n is None else parse_count("n", n)), request.query_params.get("last")


def _paged(request: Request, body: dict[str, object], page: Page, n: int | None) -> Response:
    headers = {}
    if page.more and page.items:
        query = urlencode({**({"n": n} if n is not None else {}), "last": page.items[-1]})
        headers["link"] = f'<{request.url.path}?{query}>; rel="next"'
    return JSONResponse(body, headers=headers)


async def blob(request: Request) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    registry = _registry(request)
    found = await registry.blob(await access(request), name, digest)
    headers = {
        "docker-content-digest": found.digest,
        "accept-ranges": "bytes",
        "content-type": "application/octet-stream",
        "etag": f'"{found.digest}"',
    }
    start, end, status = 0, found.size, 200
    whole = {**headers, "content-length": str(found.size)}
    ranges = parse_range(request.headers.get("range"), found.size)
    if ranges is not None:
        if len(ranges) != 1:  # one range or the whole blob: clients ask for no more
            raise RangeNotSatisfiable("one range at a time", found.size)
        start, end, status = ranges[0].start, ranges[0].end, 206
        headers["content-range"] = ranges[0].content_range(found.size)
    headers["content-length"] = str(end - start)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    url = await registry.redirect_url(found)
    if url is None:
        await registry.check_bytes(found)
    if url is not None:  # the store hands the bytes off (a signed URL); Range goes there
        return Response(status_code=307, headers={"location": url, "cache-control": "no-store"})
    handed = handed_off_response(whole, registry.accel_uri(found))  # nginx serves the Range
    if handed is not None:
        return handed
    path = registry.local_path(found) if status == 200 else None
    if path is not None and PATHSEND in request.scope.get("extensions", {}):
        return PathResponse(path, headers)
    return StreamingResponse(registry.read(found, start, end), status, headers)


class PathResponse(Response):
    """A whole blob of a local store, sent by the server from its file (pathsend), its
    bytes never passing through Python."""

    def __init__(self, path: Path, headers: dict[str, str]) -> None:
        super().__init__(status_code=200, headers=headers)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": PATHSEND, "path": str(self.path)})


async def delete_blob(request: Request) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    await _registry(request).delete_blob(await access(request), name, digest)
    return Response(status_code=202)


async def start_upload(request: Request) -> Response:
    name = request.path_params["name"]
    registry = _registry(request)
    who = await access(request)
    digest = request.query_params.get("digest")
    mount, source = request.query_params.get("mount"), request.query_params.get("from")
    if mount is not None and source is not None:
        if await registry.mount(who, name, mount, source):
            return _blob_created(request, name, mount)
    elif digest is not None:
        await registry.upload(who, name, digest, body_stream(request), _length(request))
        return _blob_created(request, name, digest)
    state = await registry.start_upload(who, name)
    return _upload_answer(request, state, 202)


async def upload_status(request: Request) -> Response:
    name, upload_id = request.path_params["name"], request.path_params["upload_id"]
    state = await _registry(request).upload_state(await access(request), name, upload_id)
    return _upload_answer(request, state, 204)


async def upload_chunk(request: Request) -> Response:
    name, upload_id = request.path_params["name"], request.path_params["upload_id"]
    start = _chunk_start(request)
    state = await _registry(request).append(
        await access(request), name, upload_id, body_stream(request), start, _length(request)
    )
    return _upload_answer(request, state, 202)


async def finish_upload(request: Request) -> Response:
    name, upload_id = request.path_params["name"], request.path_params["upload_id"]
    digest = request.query_params.get("digest")
    if digest is None:
        raise BadRequest("finishing an upload names its digest (?digest=)")
    body = body_stream(request) if has_body(request) else None
    await _registry(request).finish(
        await access(request), name, upload_id, digest, body, _chunk_start(request)
    )
    return _blob_created(request, name, digest)


async def cancel_upload(request: Request) -> Response:
    name, upload_id = request.path_params["name"], request.path_params["upload_id"]
    await _registry(request).cancel(await access(request), name, upload_id)
    return Response(status_code=204)


def _chunk_start(request: Request) -> int | None:
    """The first byte of a chunk, from ``Content-Range: <start>-<end>``."""
    header = request.headers.get("content-range")
    if header is None:
        return None
    first, dash, last = header.removeprefix("bytes").strip(" =").partition("-")
    if not dash:
        raise RangeNotSatisfiable(f"Content-Range is <start>-<end>, not {header!r}", 0)
    start, end = parse_count("Content-Range", first), parse_count("Content-Range", last)
    length = _length(request)
    if end < start or (length is not None and length != end - start + 1):
        raise RangeNotSatisfiable(f"Content-Range {header!r} does not match the chunk", start)
    return start


def _length(request: Request) -> int | None:
    length = request.headers.get("content-length")
    return None if length is None else parse_count("Content-Length", length)


def _blob_created(request: Request, name: str, digest: str) -> Response:
    location = request.url_for("oci:blob", name=name, digest=digest).path
    headers = {"location": location, "docker-content-digest": digest}
    return Response(status_code=201, headers=headers)


def _upload_answer(request: Request, state: UploadState, status: int) -> Response:
    location = request.url_for("oci:upload", name=state.repository, upload_id=state.id).path
    headers = {
        "location": location,
        "docker-upload-uuid": state.id,
        "range": f"0-{max(state.size - 1, 0)}",
    }
    return Response(status_code=status, headers=headers)


async def manifest(request: Request) -> Response:
    name, reference = request.path_params["name"], request.path_params["reference"]
    found = await _registry(request).manifest(await access(request), name, reference)
    headers = {
        "docker-content-digest": found.digest,
        "etag": f'"{found.digest}"',
        "content-length": str(len(found.content)),
    }
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=found.media_type)
    return Response(found.content, headers=headers, media_type=found.media_type)


async def put_manifest(request: Request) -> Response:
    name, reference = request.path_params["name"], request.path_params["reference"]
    content = await _capped_body(request, settings_of(request).oci.manifest_size_cap)
    stored: StoredManifest = await _registry(request).put_manifest(
        await access(request),
        name,
        reference,
        request.headers.get("content-type", ""),
        content,
    )
    location = request.url_for("oci:manifest", name=name, reference=stored.digest).path
    headers = {"location": location, "docker-content-digest": stored.digest}
    if stored.subject is not None:
        headers["oci-subject"] = stored.subject
    return Response(status_code=201, headers=headers)


async def delete_manifest(request: Request) -> Response:
    name, reference = request.path_params["name"], request.path_params["reference"]
    await _registry(request).delete_manifest(await access(request), name, reference)
    return Response(status_code=202)


async def referrers(request: Request) -> Response:
    name, digest = request.path_params["name"], request.path_params["digest"]
    artifact_type = request.query_params.get("artifactType")
    found = await _registry(request).referrers(await access(request), name, digest, artifact_type)
    headers = {} if artifact_type is None else {"oci-filters-applied": "artifactType"}
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
    return JSONResponse(body, headers=headers, media_type=OCI_INDEX)


async def _capped_body(request: Request, cap: int) -> bytes:
    length = _length(request)
    if length is not None and length > cap:
        raise TooLarge(f"a manifest may not exceed {cap} bytes")
    body = bytearray()
    async for chunk in _chunks(request):
        body += chunk
        if len(body) > cap:
            raise TooLarge(f"a manifest may not exceed {cap} bytes")
    return bytes(body)


def _chunks(request: Request) -> AsyncIterator[bytes]:
    return body_stream(request)


NAME = "{name:path}"
ROUTES: list[BaseRoute] = [
    Route("/", base, methods=["GET"], name="base"),
    Route("/token", token, methods=["GET"], name="token"),
    Route("/_catalog", catalog, methods=["GET"], name="catalog"),
    Route(f"/{NAME}/tags/list", tags, methods=["GET"], name="tags"),
    Route(f"/{NAME}/blobs/uploads/", start_upload, methods=["POST"], name="uploads"),
    Route(f"/{NAME}/blobs/uploads/{{upload_id}}", upload_status, methods=["GET"], name="upload"),
    Route(f"/{NAME}/blobs/uploads/{{upload_id}}", upload_chunk, methods=["PATCH"]),
    Route(f"/{NAME}/blobs/uploads/{{upload_id}}", finish_upload, methods=["PUT"]),
    Route(f"/{NAME}/blobs/uploads/{{upload_id}}", cancel_upload, methods=["DELETE"]),
    Route(f"/{NAME}/blobs/{{digest}}", blob, methods=["GET", "HEAD"], name="blob"),
    Route(f"/{NAME}/blobs/{{digest}}", delete_blob, methods=["DELETE"]),
    Route(f"/{NAME}/manifests/{{reference}}", manifest, methods=["GET", "HEAD"], name="manifest"),
    Route(f"/{NAME}/manifests/{{reference}}", put_manifest, methods=["PUT"]),
    Route(f"/{NAME}/manifests/{{reference}}", delete_manifest, methods=["DELETE"]),
    Route(f"/{NAME}/referrers/{{digest}}", referrers, methods=["GET"], name="referrers"),
]
