"""/v2/cache: this node's image cache, as Glance's cache API (v2.14) shows it.

- ``GET /v2/cache``: ``{"cached_images": [...], "queued_images": [ids]}``, each cached
  image with ``image_id``, ``hits``, ``last_accessed``, ``last_modified`` (seconds since
  the epoch, as Glance gives them) and ``size``.
- ``PUT /v2/cache/{image_id}``: 202, the image queued for the node to cache.
- ``DELETE /v2/cache/{image_id}``: 204, the image out of the cache and the queue.
- ``DELETE /v2/cache``: 204, the cache and the queue emptied, or one of them as the
  ``x-image-cache-clear-target`` header says (``cache``, ``queue``, ``both``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.http.requests import caller, services

CLEAR_TARGET = "x-image-cache-clear-target"


async def show_cache(request: Request) -> Response:
    state = await services(request).image_cache.state(caller(request))
    return JSONResponse(
        {
            "cached_images": [
                {
                    "image_id": image.image_id,
                    "hits": image.hits,
                    "last_accessed": image.last_accessed,
                    "last_modified": image.last_modified,
                    "size": image.size,
                }
                for image in state.cached
            ],
            "queued_images": state.queued,
        }
    )


async def queue_image(request: Request) -> Response:
    await services(request).image_cache.queue(caller(request), request.path_params["image_id"])
    return Response(status_code=202)


async def delete_image(request: Request) -> Response:
    await services(request).image_cache.delete(caller(request), request.path_params["image_id"])
    return Response(status_code=204)


async def clear_cache(request: Request) -> Response:
    target = request.headers.get(CLEAR_TARGET, "")
    await services(request).image_cache.clear(caller(request), target)
    return Response(status_code=204)


ROUTES: list[BaseRoute] = [
    Route("/cache", show_cache, methods=["GET"]),
    Route("/cache", clear_cache, methods=["DELETE"]),
    Route("/cache/{image_id}", queue_image, methods=["PUT"]),
    Route("/cache/{image_id}", delete_image, methods=["DELETE"]),
]
