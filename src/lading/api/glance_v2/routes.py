"""The Glance v2 face's routes, mounted at /v2 (``lading.faces``)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from lading.api.glance_v2 import (
    cache,
    images,
    members,
    metadef_schemas,
    metadefs,
    names,
    registry,
    retention,
    tasks,
)

ROUTES: list[BaseRoute] = [
    *images.ROUTES,
    *members.ROUTES,
    *tasks.ROUTES,
    *names.ROUTES,
    *registry.ROUTES,
    *metadefs.ROUTES,
    *metadef_schemas.ROUTES,
    *cache.ROUTES,
    *retention.ROUTES,
]
