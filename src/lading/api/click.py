"""The Click upload/download face, at /click.

- ``POST /click/uploads``: a ``multipart/form-data`` form, its fields first and the package
  file last; ``name`` and ``version`` are required, ``visibility`` is optional, ``md5``
  and ``sha256`` are checked against the data (a signed upload needs one: it binds the
  file to the signature), every other field becomes a property. Signed
  (``lading.services.signing``) or sent with a token. A name, version and file name
  are taken once, for good: the public URL they make never serves other bytes.
- ``POST /click/packages/{id}/publish`` and ``/unpublish``: signed, or an administrator.
- ``GET /click/download/public/{name}/{version}/{file}``: no credentials, published public
  packages only, cacheable by anyone; ``/private/...``: a token, whatever the caller may
  read, cacheable by the client only. Both take Range.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.clock import timestamp
from lading.domain import Artifact
from lading.errors import BadRequest, Unauthorized
from lading.http.downloads import DataResponse
from lading.http.multipart import FormReader
from lading.http.requests import caller, has_body, read_json, services, settings_of
from lading.services.access import Caller
from lading.services.packages import NewPackage
from lading.services.signing import SignedRequest, field_value
from lading.services.transfers import Expected

SIGNATURE_HEADERS = {
    "client": "x-lading-client",
    "timestamp": "x-lading-timestamp",
    "nonce": "x-lading-nonce",
    "signature": "x-lading-signature",
}
# Content behind a public URL changes only if a PNDA PUT replaces the file: with PNDA's
# files immutable it never does; otherwise a cache keeps it a minute, then revalidates.
IMMUTABLE_CACHE = "public, max-age=31536000, immutable"
REPLACEABLE_CACHE = "public, max-age=60"
PRIVATE_CACHE = "private, no-cache"
FIELDS = ("name", "version", "visibility", "md5", "sha256")


async def upload(request: Request) -> Response:
    form = FormReader(request)
    fields, file = await form.fields()
    who = await _caller(request, [*fields.items(), (file.name, file.filename)])
    package = NewPackage(
        name=fields.get("name", ""),
        version=fields.get("version", ""),
        filename=file.filename,
        published=settings_of(request).published_by_default.click,
        fields={"visibility": fields["visibility"]} if "visibility" in fields else {},
        properties={name: value for name, value in fields.items() if name not in FIELDS},
        expected=Expected(fields.get("md5"), fields.get("sha256")),
    )
    artifact = await services(request).packages.add(who, package, file.chunks)
    return JSONResponse(package_view(artifact), 201)


async def publish(request: Request) -> Response:
    return await _set_published(request, True)


async def unpublish(request: Request) -> Response:
    return await _set_published(request, False)


async def download_public(request: Request) -> Response:
    artifact = await services(request).catalogue.find_package(None, *_package_path(request))
    download = await services(request).transfers.download_of(None, artifact)
    replaceable = services(request).packages.replaces_files
    return DataResponse(download, REPLACEABLE_CACHE if replaceable else IMMUTABLE_CACHE)


async def download_private(request: Request) -> Response:
    who = caller(request)
    artifact = await services(request).catalogue.find_package(who, *_package_path(request))
    download = await services(request).transfers.download_of(who, artifact)
    return DataResponse(download, PRIVATE_CACHE)


def package_view(artifact: Artifact) -> dict[str, Any]:
    names = "/".join(quote(part, safe="") for part in _path_of(artifact))
    return {
        "id": artifact.id,
        "name": artifact.name,
        "version": artifact.version,
        "file": artifact.filename,
        "status": artifact.status.value,
        "published": artifact.published,
        "visibility": artifact.visibility.value,
        "owner": artifact.owner,
        "size": artifact.size,
        "md5": artifact.checksum,
        "sha256": artifact.os_hash_value,
        "properties": artifact.properties,
        "created_at": timestamp(artifact.created_at),
        "updated_at": timestamp(artifact.updated_at),
        "downloads": {
            "public": f"/click/download/public/{names}",
            "private": f"/click/download/private/{names}",
        },
    }


async def _set_published(request: Request, published: bool) -> Response:
    body = await read_json(request) if has_body(request) else {}
    if not isinstance(body, dict):
        raise BadRequest("the body, when there is one, must be a JSON object")
    who = await _caller(request, [(name, field_value(value)) for name, value in body.items()])
    artifact = await services(request).catalogue.set_published(
        who, request.path_params["package_id"], published
    )
    return JSONResponse(package_view(artifact))


async def _caller(request: Request, fields: list[tuple[str, str]]) -> Caller:
    """The signing client of a signed request, or else the token's caller."""
    sent = {part: request.headers.get(header) for part, header in SIGNATURE_HEADERS.items()}
    if not any(sent.values()):
        return caller(request)
    if not all(sent.values()):
        raise Unauthorized(f"a signed request needs all of {', '.join(SIGNATURE_HEADERS.values())}")
    if request.url.query:
        raise BadRequest("a signed request takes no query parameters")
    signed = SignedRequest(
        client=sent["client"] or "",
        timestamp=sent["timestamp"] or "",
        nonce=sent["nonce"] or "",
        signature=sent["signature"] or "",
        method=request.method,
        path=_raw_path(request),
        fields=fields,
    )
    return await services(request).signatures.verify(signed)


def _raw_path(request: Request) -> str:
    raw: bytes | None = request.scope.get("raw_path")  # some servers leave the query on
    return raw.partition(b"?")[0].decode("latin-1") if raw else quote(request.url.path)


def _package_path(request: Request) -> tuple[str, str, str]:
    params = request.path_params
    return params["name"], params["version"], params["file"]


def _path_of(artifact: Artifact) -> tuple[str, str, str]:
    return artifact.name or "", artifact.version or "", artifact.filename or ""


ROUTES: list[BaseRoute] = [
    Route("/uploads", upload, methods=["POST"]),
    Route("/packages/{package_id}/publish", publish, methods=["POST"]),
    Route("/packages/{package_id}/unpublish", unpublish, methods=["POST"]),
    Route("/download/public/{name}/{version}/{file}", download_public, methods=["GET", "HEAD"]),
    Route("/download/private/{name}/{version}/{file}", download_private, methods=["GET", "HEAD"]),
]
