"""Glance v1 at /v1: images described by ``x-image-meta-*`` headers, over the same
services as v2, so an image made on one face is seen and read on the other.

v1's own ways are kept: a failed upload or copy leaves the image ``killed``; data goes
only into a ``queued`` image, as ``application/octet-stream``; an update replaces the
properties unless ``x-glance-registry-purge-props`` is false or data comes with it;
``x-glance-api-copy-from`` has a task fetch the data (web-download, under the fetch
rules); shared images are listed whatever their members answered; the location is never
shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v1.meta import brief_document, image_document, image_headers, read_meta
from lading.api.headers import Meta, stated_data
from lading.api.query import boolean, moment, page_limit, single, sort_dir, sort_key
from lading.domain import Artifact, ListQuery, MemberStatus, TimeFilter, Visibility
from lading.errors import BadRequest
from lading.http.downloads import DataResponse
from lading.http.requests import (
    body_stream,
    caller,
    has_body,
    parse_count,
    request_id,
    services,
)
from lading.services.transfers import Incoming
from lading.services.validation import match_amazon_formats

COPY_FROM = "x-glance-api-copy-from"
LOCATION = "x-image-meta-location"
PURGE = "x-glance-registry-purge-props"
FILTERS = ("name", "status", "container_format", "disk_format")
COUNT_FILTERS = ("min_ram", "min_disk")
OCTET_STREAM = "application/octet-stream"
TRUE = ("true", "1", "yes", "y", "on", "t")  # what v1 took for true (oslo's strutils)
PAGING = ("limit", "marker", "sort_key", "sort_dir")


async def create_image(request: Request) -> Response:
    meta = read_meta(request.headers)
    match_amazon_formats(meta.fields)
    sources = [name for name in (COPY_FROM, LOCATION) if name in request.headers]
    if has_body(request):
        sources.append("a body")
    if len(sources) > 1:
        raise BadRequest(f"give the data one way, not with {' and '.join(sources)}")
    _require_octet_stream(request)
    you, image_id = caller(request), meta.given.get("id")
    changes = meta.changes(None, purge=False)
    changes.fields.setdefault("visibility", Visibility.PRIVATE)  # v1: not public unless asked
    if COPY_FROM in request.headers:
        uri = request.headers[COPY_FROM]
        artifact = await services(request).imports.create_fetched(
            you, changes, image_id, uri, request_id=request_id(request)
        )
        return _image_response(request, artifact, 201)
    incoming = _incoming(request, meta)
    artifact = await services(request).transfers.create_with(you, changes, image_id, incoming)
    return _image_response(request, artifact, 201)


async def update_image(request: Request) -> Response:
    meta = read_meta(request.headers)
    match_amazon_formats(meta.fields)
    if COPY_FROM in request.headers:
        raise BadRequest(f"{COPY_FROM} only makes a new image; update with a body or {LOCATION}")
    if LOCATION in request.headers and has_body(request):
        raise BadRequest(f"give the data one way, not with {LOCATION} and a body")
    _require_octet_stream(request)
    # v1 purges unless told not to (the glance CLI says false unless --purge-props), and
    # never when data comes with the update.
    purge = not has_body(request) and request.headers.get(PURGE, "true").lower() in TRUE
    you, image_id = caller(request), request.path_params["image_id"]
    artifact = await services(request).transfers.update_with(
        you, image_id, lambda current: meta.changes(current, purge), _incoming(request, meta)
    )
    return _image_response(request, artifact, 200)


async def image_metadata(request: Request) -> Response:
    artifact = await services(request).catalogue.get(
        caller(request), request.path_params["image_id"]
    )
    return Response(status_code=200, headers=image_headers(artifact) | _etag(artifact))


async def download_image(request: Request) -> Response:
    download = await services(request).transfers.download(
        caller(request), request.path_params["image_id"]
    )
    return DataResponse(download, metadata=image_headers(download.artifact))


async def delete_image(request: Request) -> Response:
    await services(request).catalogue.delete(caller(request), request.path_params["image_id"])
    return Response(status_code=200)


async def list_images(request: Request) -> Response:
    return await _listing(request, brief_document)


async def list_images_detail(request: Request) -> Response:
    return await _listing(request, image_document)


async def _listing(request: Request, document: Callable[[Artifact], dict[str, Any]]) -> Response:
    params = request.query_params.multi_items()
    query = _list_query(params)
    artifacts = await services(request).catalogue.list_page(
        caller(request), query, single(params, "marker")
    )
    return JSONResponse({"images": [document(artifact) for artifact in artifacts]})


def _list_query(params: Sequence[tuple[str, str]]) -> ListQuery:
    """v1's filters, order (``sort_key``, ``sort_dir``; newest first) and page."""
    order = (sort_key(single(params, "sort_key") or "created_at"),
             sort_dir(single(params, "sort_dir") or "desc"))  # fmt: skip
    limit = page_limit(params)
    fields: dict[str, list[object]] = {}
    properties: dict[str, list[str]] = {}
    times: list[TimeFilter] = []
    sizes: dict[str, int] = {}
    for name, value in params:
        if name in PAGING:
            continue
        if name in FILTERS:
            fields[name] = [value]
        elif name in COUNT_FILTERS:
            fields[name] = [parse_count(name, value)]
        elif name == "protected":
            fields[name] = [boolean(name, value)]
        elif name in ("size_min", "size_max"):
            sizes[name] = parse_count(name, value)
        elif name == "is_public":
            if value.lower() != "none":
                fields["visibility"] = (
                    [Visibility.PUBLIC] if boolean(name, value) else
                    [Visibility.PRIVATE, Visibility.SHARED, Visibility.COMMUNITY]
                )  # fmt: skip
        elif name == "changes-since":
            times.append(TimeFilter("updated_at", "gte", moment(name, value)))
        elif name.startswith("property-"):
            properties[name.removeprefix("property-")] = [value]
        else:
            raise BadRequest(f"unknown filter {name!r}")
    return ListQuery(
        fields=fields, properties=properties, times=times,
        size_min=sizes.get("size_min"), size_max=sizes.get("size_max"),
        with_community=True,  # v1 knows no community: such images are public to it
        member_status=tuple(MemberStatus),  # v1 lists every image shared with the caller
        sort=[order], limit=limit,
    )  # fmt: skip


def _incoming(request: Request, meta: Meta) -> Incoming:
    """The data the request brings: a body or an external location (v1 checks both the
    announced size and the MD5), and the store it asks for."""
    size, checksum = stated_data(meta.given)
    body = body_stream(request) if has_body(request) else None
    location, store = request.headers.get(LOCATION), meta.given.get("store")
    return Incoming(body, location, size, checksum, store, glance_v1=True)


def _require_octet_stream(request: Request) -> None:
    """v1 takes data only as application/octet-stream (a form post is no image)."""
    if has_body(request):
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != OCTET_STREAM:
            raise BadRequest(f"Content-Type must be {OCTET_STREAM}")


def _image_response(request: Request, artifact: Artifact, status: int) -> Response:
    location = request.app.url_path_for("glance_v1:image", image_id=artifact.id)
    headers = {"location": str(location)} | _etag(artifact)
    return JSONResponse({"image": image_document(artifact)}, status, headers)


def _etag(artifact: Artifact) -> dict[str, str]:
    """v1's ETag: the MD5, unquoted (a download's ETag is the download path's own)."""
    return {"etag": artifact.checksum} if artifact.checksum else {}


ROUTES: list[BaseRoute] = [
    Route("/images", create_image, methods=["POST"]),
    Route("/images", list_images, methods=["GET"]),
    Route("/images/detail", list_images_detail, methods=["GET"]),
    Route("/images/{image_id}", image_metadata, methods=["HEAD"], name="image"),
    Route("/images/{image_id}", download_image, methods=["GET"], name="image"),
    Route("/images/{image_id}", update_image, methods=["PUT"], name="image"),
    Route("/images/{image_id}", delete_image, methods=["DELETE"], name="image"),
]
