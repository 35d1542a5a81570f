"""VISoR's image API at the root (``/images``, ``/status``), where its clients call it,
and at /visor, over the same services as the Glance faces.

Metadata travels as ``x-image-meta-<attribute>`` headers (see ``meta``); answers are
JSON or XML (see ``render``). An image's data comes in the body of a POST or PUT, or
stays where ``x-image-meta-location`` says (registered, not copied). A listing that
finds nothing is 404, as VISoR has it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.headers import PREFIX, Meta, meta_headers, stated_data
from lading.api.query import MAX_LIMIT, page_limit, single
from lading.api.visor import meta as visor_meta
from lading.api.visor.meta import brief, document, read_meta
from lading.api.visor.render import answer
from lading.api.visor.stores import lading_store, visor_name
from lading.domain import Artifact, ListQuery, SortDir, Visibility
from lading.errors import BadRequest, NotFound
from lading.http.downloads import DataResponse
from lading.http.requests import (
    body_stream,
    caller,
    endpoint,
    has_body,
    parse_count,
    services,
    settings_of,
)
from lading.services import visor_locations
from lading.services.transfers import Incoming

PAGING = ("sort", "dir", "limit", "marker")
NOT_FILTERS = ("uri", "location", "created_at", "updated_at")


async def heartbeat(request: Request) -> Response:
    return PlainTextResponse("OK")


async def image_metadata(request: Request) -> Response:
    artifact = await services(request).catalogue.get(
        caller(request), request.path_params["image_id"]
    )
    return Response(status_code=200, headers=meta_headers(PREFIX, _detail(request, artifact)))


async def download_image(request: Request) -> Response:
    download = await services(request).transfers.download(
        caller(request), request.path_params["image_id"]
    )
    return DataResponse(
        download, metadata=meta_headers(PREFIX, _detail(request, download.artifact))
    )


async def list_images(request: Request) -> Response:
    return await _listing(request, brief)


async def list_images_detail(request: Request) -> Response:
    return await _listing(request, lambda detail: detail)


async def create_image(request: Request) -> Response:
    meta = read_meta(request.headers)
    you, image_id = caller(request), meta.given.get("_id")
    changes = meta.changes(None)
    changes.fields.setdefault("visibility", Visibility.PRIVATE)
    incoming = _incoming(request, meta)
    artifact = await services(request).transfers.create_with(you, changes, image_id, incoming)
    return answer(request.headers, "image", _detail(request, artifact), 201)


async def update_image(request: Request) -> Response:
    meta = read_meta(request.headers)
    if not meta and not has_body(request):
        raise BadRequest("nothing to update: no x-image-meta-* headers and no body")
    if "_id" in meta.given:
        raise BadRequest("an image's _id does not change")
    you, image_id = caller(request), request.path_params["image_id"]
    artifact = await services(request).transfers.update_with(
        you, image_id, meta.changes, _incoming(request, meta), refill_killed=True
    )
    return answer(request.headers, "image", _detail(request, artifact))


async def delete_image(request: Request) -> Response:
    you, image_id = caller(request), request.path_params["image_id"]
    artifact = await services(request).catalogue.get(you, image_id)
    detail = _detail(request, artifact)
    await services(request).catalogue.delete(you, image_id)
    return answer(request.headers, "image", detail)


async def _listing(request: Request, shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
    params = request.query_params.multi_items()
    query = _list_query(request, params)
    artifacts = await services(request).catalogue.list_page(
        caller(request), query, single(params, "marker")
    )
    if not artifacts:
        raise NotFound("no images found")
    images = [shape(_detail(request, artifact)) for artifact in artifacts]
    return answer(request.headers, "images", images)


def _list_query(request: Request, params: Sequence[tuple[str, str]]) -> ListQuery:
    """Filters on any attribute, ``sort`` by any attribute (default ``_id``) and ``dir``
    (default asc);
    lading adds ``limit`` (at most 1000, the default) and ``marker``."""
    sort = single(params, "sort") or "_id"
    direction = (single(params, "dir") or "asc").lower()
    if direction not in ("asc", "desc"):
        raise BadRequest(f"dir must be asc or desc, not {direction!r}")
    limit = page_limit(params) if single(params, "limit") is not None else MAX_LIMIT
    order = [(visor_meta.sort_key(sort), SortDir(direction))]
    fields: dict[str, list[object]] = {}
    properties: dict[str, list[str]] = {}
    stores: list[str] = []
    size = None
    for name, value in params:
        if name in PAGING:
            continue
        if name in NOT_FILTERS:
            raise BadRequest(f"cannot filter on {name!r}")
        match name:
            case "_id" | "name" | "owner" | "checksum":
                fields["id" if name == "_id" else name] = [value]
            case "access":
                fields["visibility"] = _visibilities(value)
            case "status":
                fields["status"] = list(visor_meta.statuses(value))
            case "format":
                fields["disk_format"] = [None if value.lower() == "none" else value]
            case "size":
                size = parse_count(name, value)
            case "store":
                stores = [lading_store(settings_of(request), value)]
            case _:
                properties[visor_meta.PROPERTIES.get(name, name)] = [value]
    return ListQuery(
        fields=fields, properties=properties, stores=stores, size_min=size, size_max=size,
        with_community=True,  # VISoR knows public and private: community is not private
        sort=order, limit=limit,
    )  # fmt: skip


def _visibilities(access: str) -> list[object]:
    if access.lower() == "public":
        return [Visibility.PUBLIC]
    if access.lower() == "private":
        return [Visibility.PRIVATE, Visibility.SHARED, Visibility.COMMUNITY]
    raise BadRequest(f"access must be public or private, not {access!r}")


def _detail(request: Request, artifact: Artifact) -> dict[str, Any]:
    settings = settings_of(request)
    store = visor_name(settings, artifact.locations[0].store) if artifact.locations else None
    location = services(request).transfers.shown_locations(caller(request), artifact).direct_url
    uri = f"{endpoint(request)}/images/{artifact.id}"
    return document(artifact, uri, store, location)


def _incoming(request: Request, meta: Meta) -> Incoming:
    """The data the request brings: a body for a store (None: the default), or a
    location, registered where it stays; 400 for both a location and a body, a store
    name with no store here, a location in a store other than http, and a body for the
    read-only http store."""
    location, name = meta.given.get("location"), meta.given.get("store")
    settings = settings_of(request)
    store = None if name is None else lading_store(settings, name)
    reads_only = store is not None and settings.stores[store].type == "http"
    size, checksum = stated_data(meta.given)
    if location is None:
        if reads_only:
            raise BadRequest("the http store only reads: give x-image-meta-location, or "
                             "another store for the data")  # fmt: skip
        body = body_stream(request) if has_body(request) else None
        return Incoming(body, None, size, checksum, store)
    if has_body(request):
        raise BadRequest("give the data one way: x-image-meta-location or a body, not both")
    scheme = visor_locations.scheme_of(location)
    if scheme is not None:  # an object in one of VISoR's stores: the store its scheme names
        if store is not None and store != lading_store(settings, scheme):
            raise BadRequest(f"x-image-meta-store {name!r} is not where the {scheme}:// "
                             "location leads")  # fmt: skip
        store = lading_store(settings, scheme)
        key = visor_locations.stored_key(settings, store, location)
        return Incoming(None, None, size, checksum, store, stored_key=key)
    if store is not None and not reads_only:
        raise BadRequest("a location in this store is a URL of its kind (s3://, file://, ...); "
                         "an http(s) URL goes to the http store")  # fmt: skip
    return Incoming(None, location, size, checksum)


ROUTES: list[BaseRoute] = [
    Route("/status", heartbeat, methods=["GET"]),
    Route("/images", create_image, methods=["POST"]),
    Route("/images", list_images, methods=["GET"]),
    Route("/images/detail", list_images_detail, methods=["GET"]),
    Route("/images/{image_id}", image_metadata, methods=["HEAD"]),
    Route("/images/{image_id}", download_image, methods=["GET"]),
    Route("/images/{image_id}", update_image, methods=["PUT"]),
    Route("/images/{image_id}", delete_image, methods=["DELETE"]),
]
