"""What a path allows, across every route that serves it.

Starlette keeps each method group as a route of its own (``GET /v2/images/{id}`` and
``PATCH /v2/images/{id}`` are two), and answers 405 with the ``Allow`` of the first route
whose path matched; clients (and RFC 9110, section 15.5.6) want every method the path
takes, so the error handler asks here.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# What an app mounted whole serves, by its kind (static files refuse all else with 405).
MOUNTED_APPS: dict[type, frozenset[str]] = {StaticFiles: frozenset({"GET", "HEAD"})}


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """The methods some route serves at the request's path (HEAD with GET, as Starlette
    adds it); empty when none says."""
    found: set[str] = set()
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount) and not route.routes:
            found |= MOUNTED_APPS.get(type(route.app), frozenset())
        elif isinstance(route, Mount):
            found |= allowed_methods(route.routes, {**scope, **child})
        elif isinstance(route, Route) and route.methods:
            found |= route.methods
    return found


def top_scope(scope: Scope) -> Scope:
    """The request's scope as the application's router first saw it: routing moves
    ``root_path`` along the mounts it enters, and keeps where it began as ``app_root_path``."""
    return {**scope, "root_path": scope.get("app_root_path", scope.get("root_path", ""))}
