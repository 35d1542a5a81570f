"""The versions document (where clients discover /v2) and the health check."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from lading.http.requests import endpoint, services

# Only versions whose features this server implements: v2.6 interoperable import; v2.7
# hidden images and multihash; v2.8 multi-store, listed only with several stores, as
# Glance does; v2.9 to v2.12 import to several stores and copy-image, delete from one
# store, an image's tasks. Glance lists v2.10 to v2.12 only with several stores; lading
# always does, so that `glance image-tasks` works with one store too. v2.17 (the location
# API) is listed when a store of type http reads the locations it adds; v2.14 (the image
# cache's /v2/cache) when the image cache is on; v2.13, v2.15 and v2.16 are not offered.
LOCATIONS_VERSION = "v2.17"
CACHE_VERSION = "v2.14"
LATEST = ("v2.12", "v2.11", "v2.10", "v2.9")
MULTISTORE_VERSION = "v2.8"
EARLIER = ("v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")


def versions_document(request: Request) -> dict[str, object]:
    href = endpoint(request) + request.app.url_path_for("v2_versions")
    multistore = bool(request.app.state.services.transfers.store_choices())
    locations = request.app.state.services.locations.offered
    cache = request.app.state.services.image_cache.enabled
    offered = [
        *([LOCATIONS_VERSION] if locations else []), *([CACHE_VERSION] if cache else []),
        *LATEST,
        *([MULTISTORE_VERSION] if multistore else []), *EARLIER,
    ]  # fmt: skip
    return {
        "versions": [
            {
                "id": version,
                "status": "CURRENT" if index == 0 else "SUPPORTED",
                "links": [{"rel": "self", "href": href}],
            }
            for index, version in enumerate(offered)
        ]
    }


async def root(request: Request) -> Response:
    # A browser asks for HTML and gets the web UI; clients ask for JSON (or anything) and
    # get what Glance answers at the root: 300 Multiple Choices (200 at /versions).
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(request.app.url_path_for("web:list"), 303)
    return JSONResponse(versions_document(request), status_code=300)


async def versions(request: Request) -> Response:
    return JSONResponse(versions_document(request))


async def healthcheck(request: Request) -> Response:
    """``OK`` for load balancers; with ``Accept: application/json``, the task backlog and
    the bytes that delayed deletes still hold too."""
    if "application/json" not in request.headers.get("accept", ""):
        return PlainTextResponse("OK")
    backlog = await services(request).tasks.backlog()
    reclaimable = await services(request).catalogue.reclaimable()
    return JSONResponse({"status": "OK", "tasks": backlog, "reclaimable_bytes": reclaimable})


# Version discovery: for no face in particular (``lading.faces`` serves it first).
ROUTES: list[BaseRoute] = [
    Route("/", root, methods=["GET"]),
    Route("/versions", versions, methods=["GET"]),
    Route("/v2", versions, methods=["GET"]),
    Route("/v2/", versions, methods=["GET"], name="v2_versions"),
]
# The operations face's (with the metrics and the OpenAPI documents).
HEALTH_ROUTES: list[BaseRoute] = [Route("/healthcheck", healthcheck, methods=["GET"])]
