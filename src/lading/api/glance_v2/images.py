"""The /v2 routes: parse the request, call a service, render the answer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.listing import page_links, parse_list_query
from lading.api.glance_v2.patch import MEDIA_TYPES, apply_patch, location_change
from lading.api.glance_v2.paths import path_for, schema
from lading.api.glance_v2.schemas import SCHEMAS
from lading.api.glance_v2.views import image_view
from lading.domain import Artifact
from lading.errors import BadRequest, NotFound, UnsupportedMediaType
from lading.http.downloads import OCTET_STREAM, DataResponse
from lading.http.requests import (
    body_stream,
    caller,
    endpoint,
    parse_count,
    read_json,
    request_id,
    services,
    settings_of,
)
from lading.services.validation import Changes

SIZE_HEADER = "x-openstack-image-size"
STORE_HEADER = "x-image-meta-store"


async def create_image(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    artifact_id = body.pop("id", None)
    changes = Changes.of_document(body)
    published = settings_of(request).published_by_default.glance_v2
    artifact = await services(request).catalogue.create(
        caller(request), changes, artifact_id, published=published
    )
    headers = {
        "location": f"{endpoint(request)}/v2/images/{artifact.id}",
        "openstack-image-import-methods": ",".join(services(request).imports.methods),
    }
    choices = services(request).transfers.store_choices()
    if choices:
        headers["openstack-image-store-ids"] = ",".join(choice.name for choice in choices)
    return JSONResponse(_image(request, artifact), 201, headers)


async def list_images(request: Request) -> Response:
    params = request.query_params.multi_items()
    query, marker = parse_list_query(params)
    artifacts = await services(request).catalogue.list_page(caller(request), query, marker)
    last_id = artifacts[-1].id if artifacts else None
    body: dict[str, Any] = {
        "images": _images(request, artifacts),
        "schema": schema(request.app, "images"),
        **page_links(
            path_for(request.app, "images"), params, last_id, full=len(artifacts) == query.limit
        ),
    }
    return JSONResponse(body)


async def show_image(request: Request) -> Response:
    artifact = await services(request).catalogue.get(
        caller(request), request.path_params["image_id"]
    )
    return JSONResponse(_image(request, artifact))


async def update_image(request: Request) -> Response:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip()
    if media_type not in MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"PATCH needs Content-Type {MEDIA_TYPES[0]}, not {media_type or 'none'}",
            {"accept-patch": ", ".join(MEDIA_TYPES)},
        )
    operations = await read_json(request)
    change = location_change(operations, media_type)
    if change is not None:
        updated = await services(request).locations.change(
            caller(request), request.path_params["image_id"], change
        )
        return JSONResponse(_image(request, updated))
    updated = await services(request).catalogue.update(
        caller(request),
        request.path_params["image_id"],
        lambda artifact: apply_patch(artifact, operations, media_type),
    )
    return JSONResponse(_image(request, updated))


async def add_location(request: Request) -> Response:
    """v2.17: a queued image's location, added as a task (Glance answers 202)."""
    await services(request).locations.add(
        caller(request), request.path_params["image_id"], await read_json(request),
        request_id=request_id(request),
    )  # fmt: skip
    return Response(status_code=202)


async def list_locations(request: Request) -> Response:
    """v2.17: every location of an image, for services."""
    places = await services(request).locations.fetch(
        caller(request), request.path_params["image_id"]
    )
    multistore = _multistore(request)
    return JSONResponse(
        [
            {"url": place.url, "metadata": {**place.metadata, "store": place.store}
             if multistore else place.metadata}
            for place in places
        ]
    )  # fmt: skip


async def delete_image(request: Request) -> Response:
    await services(request).catalogue.delete(caller(request), request.path_params["image_id"])
    return Response(status_code=204)


async def deactivate_image(request: Request) -> Response:
    await services(request).catalogue.deactivate(caller(request), request.path_params["image_id"])
    return Response(status_code=204)


async def reactivate_image(request: Request) -> Response:
    await services(request).catalogue.reactivate(caller(request), request.path_params["image_id"])
    return Response(status_code=204)


async def upload_image_data(request: Request) -> Response:
    _require_octet_stream(request)
    await services(request).transfers.upload(
        caller(request),
        request.path_params["image_id"],
        body_stream(request),
        announced_size=_announced_size(request),
        store_name=request.headers.get(STORE_HEADER),
        require_formats=True,
    )
    return Response(status_code=204)


async def stage_image_data(request: Request) -> Response:
    _require_octet_stream(request)
    await services(request).transfers.stage(
        caller(request),
        request.path_params["image_id"],
        body_stream(request),
        announced_size=_announced_size(request),
    )
    return Response(status_code=204)


async def download_image_data(request: Request) -> Response:
    download = await services(request).transfers.download(
        caller(request), request.path_params["image_id"]
    )
    return DataResponse(download)


async def add_tag(request: Request) -> Response:
    image_id, tag = request.path_params["image_id"], request.path_params["tag"]
    await services(request).catalogue.add_tag(caller(request), image_id, tag)
    return Response(status_code=204)


async def remove_tag(request: Request) -> Response:
    image_id, tag = request.path_params["image_id"], request.path_params["tag"]
    await services(request).catalogue.remove_tag(caller(request), image_id, tag)
    return Response(status_code=204)


async def show_schema(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in SCHEMAS:
        raise NotFound(f"no schema named {name!r}")
    return JSONResponse(SCHEMAS[name]())


async def list_stores(request: Request) -> Response:
    """Store discovery, which Glance offers only with multi-store (404 otherwise)."""
    choices = services(request).transfers.store_choices()
    if not choices:
        raise NotFound("this server has a single store")
    stores = [
        {"id": choice.name}
        | ({"description": choice.description} if choice.description else {})
        | ({"default": "true"} if choice.default else {})
        for choice in choices
    ]
    return JSONResponse({"stores": stores})


async def stores_detail(request: Request) -> Response:
    """Glance's ``/v2/info/stores/detail`` (administrators)."""
    stores = [
        {
            "id": store.id,
            "type": store.type,
            "description": store.description,
            "default": store.default,
            "read-only": store.read_only,
            "weight": 0,
            "properties": store.properties,
        }
        for store in services(request).info.stores(caller(request))
    ]
    return JSONResponse({"stores": stores})


async def usage(request: Request) -> Response:
    """Glance's ``/v2/info/usage``: the caller's project's quota usage (-1: no limit)."""
    found = await services(request).info.usage(caller(request))
    resources = {
        name: {"limit": -1 if measure["limit"] is None else measure["limit"],
               "usage": measure["usage"]}
        for name, measure in asdict(found).items()
    }  # fmt: skip
    return JSONResponse({"usage": resources})


async def delete_from_store(request: Request) -> Response:
    await services(request).transfers.remove_from_store(
        caller(request), request.path_params["image_id"], request.path_params["store_id"]
    )
    return Response(status_code=204)


def _require_octet_stream(request: Request) -> None:
    media_type = request.headers.get("content-type", OCTET_STREAM).partition(";")[0]
    media_type = media_type.strip().lower()
    if media_type != OCTET_STREAM:
        raise UnsupportedMediaType(f"image data must be sent as {OCTET_STREAM}, not {media_type}")


def _multistore(request: Request) -> bool:
    return bool(services(request).transfers.store_choices())


def _image(request: Request, artifact: Artifact) -> dict[str, Any]:
    return _images(request, [artifact])[0]


def _images(request: Request, artifacts: list[Artifact]) -> list[dict[str, Any]]:
    """The image documents; where the data lies only when settings and policy allow it."""
    multistore = _multistore(request)
    documents = []
    for artifact in artifacts:
        document = image_view(artifact, multistore, request.app)
        shown = services(request).transfers.shown_locations(caller(request), artifact)
        if shown.locations is not None:
            document["locations"] = [
                {
                    "url": place.url,
                    "metadata": {**place.metadata, "store": place.store}
                    if multistore
                    else place.metadata,
                }
                for place in shown.locations
            ]
        if shown.direct_url is not None:
            document["direct_url"] = shown.direct_url
        documents.append(document)
    return documents


async def import_image(request: Request) -> Response:
    body = await read_json(request)
    store = request.headers.get(STORE_HEADER)
    if store is not None and isinstance(body, dict):  # the CLI's --store
        if "stores" in body or body.get("all_stores"):
            raise BadRequest(f"give the stores in the body or in {STORE_HEADER}, not both")
        body["stores"] = [store]
    await services(request).imports.start(
        caller(request), request.path_params["image_id"], body, request_id=request_id(request)
    )
    return Response(status_code=202)


async def import_info(request: Request) -> Response:
    methods = list(services(request).imports.methods)
    document = {"description": "Import methods available.", "type": "array", "value": methods}
    return JSONResponse({"import-methods": document})


def _announced_size(request: Request) -> int | None:
    sizes = {
        parse_count(name, request.headers[name])
        for name in (SIZE_HEADER, "content-length")
        if name in request.headers
    }
    if len(sizes) > 1:
        raise BadRequest(f"{SIZE_HEADER} and content-length disagree")
    return sizes.pop() if sizes else None


ROUTES: list[BaseRoute] = [
    Route("/images", create_image, methods=["POST"], name="images"),
    Route("/images", list_images, methods=["GET"], name="images"),
    Route("/images/{image_id}", show_image, methods=["GET"], name="image"),
    Route("/images/{image_id}", update_image, methods=["PATCH"], name="image"),
    Route("/images/{image_id}", delete_image, methods=["DELETE"], name="image"),
    Route("/images/{image_id}/actions/deactivate", deactivate_image, methods=["POST"]),
    Route("/images/{image_id}/actions/reactivate", reactivate_image, methods=["POST"]),
    Route("/images/{image_id}/file", upload_image_data, methods=["PUT"], name="image_file"),
    Route("/images/{image_id}/file", download_image_data, methods=["GET"], name="image_file"),
    Route("/images/{image_id}/tags/{tag}", add_tag, methods=["PUT"]),
    Route("/images/{image_id}/tags/{tag}", remove_tag, methods=["DELETE"]),
    Route("/images/{image_id}/stage", stage_image_data, methods=["PUT"]),
    Route("/images/{image_id}/import", import_image, methods=["POST"]),
    Route("/images/{image_id}/locations", add_location, methods=["POST"]),
    Route("/images/{image_id}/locations", list_locations, methods=["GET"]),
    Route("/schemas/{name}", show_schema, methods=["GET"], name="schema"),
    Route("/info/stores", list_stores, methods=["GET"]),
    Route("/info/stores/detail", stores_detail, methods=["GET"]),
    Route("/info/usage", usage, methods=["GET"]),
    Route("/info/import", import_info, methods=["GET"]),
    Route("/stores/{store_id}/{image_id}", delete_from_store, methods=["DELETE"]),
]
