"""The PNDA package repository face, at /packages.

- ``GET /packages?recency=n``: every package's n newest versions (default 1), newest
  first: ``[{"name": ..., "latest_versions": [{"version": ..., "file": ...}]}]``.
- ``GET /packages/{file}`` (and HEAD): the file, with Range.
- ``PUT /packages/{file}``: the body is the file (``curl --upload-file``); its name gives
  the package's name and version. A file that exists is replaced (by its project), unless
  ``pnda.immutable``: then 409.
- ``DELETE /packages/{file}``.

PNDA had no authentication; lading takes tokens here as everywhere, and
``pnda.anonymous`` lets requests without one read, or also write, as one project.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.query import single
from lading.domain import Artifact
from lading.errors import BadRequest
from lading.http.disposition import attachment
from lading.http.downloads import DataResponse
from lading.http.requests import body_stream, caller, parse_count, services
from lading.services.access import Caller

MAX_RECENCY = 1000


async def list_packages(request: Request) -> Response:
    text = single(request.query_params.multi_items(), "recency")
    recency = 1 if text is None else parse_count("recency", text)
    if not 1 <= recency <= MAX_RECENCY:
        raise BadRequest(f"recency must be from 1 to {MAX_RECENCY}")
    found = await services(request).packages.newest(_caller(request, write=False), recency)
    listing: dict[str, list[dict[str, str]]] = {}
    for package in found:
        listing.setdefault(package.name, []).append(
            {"version": package.version, "file": package.filename}
        )
    return JSONResponse(
        [{"name": name, "latest_versions": versions} for name, versions in listing.items()]
    )


async def download(request: Request) -> Response:
    who = _caller(request, write=False)
    artifact = await services(request).packages.find_file(who, request.path_params["file"])
    found = await services(request).transfers.download_of(who, artifact)
    return DataResponse(found, "private, no-cache", attachment(artifact.filename or artifact.id))


async def upload(request: Request) -> Response:
    artifact = await services(request).packages.put_file(
        _caller(request, write=True), request.path_params["file"], body_stream(request)
    )
    return JSONResponse(package_view(artifact))  # PNDA answered 200


async def delete(request: Request) -> Response:
    who = _caller(request, write=True)
    artifact = await services(request).packages.find_file(who, request.path_params["file"])
    await services(request).catalogue.delete(who, artifact.id)
    return JSONResponse(package_view(artifact))


def package_view(artifact: Artifact) -> dict[str, Any]:
    return {
        "name": artifact.name,
        "version": artifact.version,
        "file": artifact.filename,
        "id": artifact.id,
        "size": artifact.size,
        "md5": artifact.checksum,
        "sha256": artifact.os_hash_value,
    }


def _caller(request: Request, write: bool) -> Caller:
    """The token's caller; without a token, whoever the settings let in, if anyone."""
    if request.scope.get("state", {}).get("caller") is None:
        anonymous = services(request).packages.anonymous(write)
        if anonymous is not None:
            return anonymous
    return caller(request)


ROUTES: list[BaseRoute] = [
    Route("/packages", list_packages, methods=["GET"]),
    Route("/packages/{file}", download, methods=["GET", "HEAD"]),
    Route("/packages/{file}", upload, methods=["PUT"]),
    Route("/packages/{file}", delete, methods=["DELETE"]),
]
