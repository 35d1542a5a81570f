"""/v2/package-names: who owns a package name and who else may publish under it.

lading's own addition beside Glance's API (Glance clients never call it):

- ``GET /v2/package-names?limit=&marker=``: the names the caller's project owns or may
  publish under (every name, for an administrator), ordered by name, paged.
- ``GET /v2/package-names/{name}``: one name, its owner and its publishers.
- ``PUT /v2/package-names/{name}/owner`` ``{"owner": project}``: an administrator gives it.
- ``PUT /v2/package-names/{name}/publishers`` ``{"publishers": [project, ...]}``: its owner
  chooses which other projects may publish under it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.paths import Routes, path_for
from lading.api.query import page_limit, single
from lading.clock import timestamp
from lading.domain import PackageName
from lading.errors import BadRequest
from lading.http.requests import caller, read_json, services


def name_view(routes: Routes, name: PackageName) -> dict[str, Any]:
    return {
        "name": name.name,
        "owner": name.owner,
        "publishers": name.publishers,
        "created_at": timestamp(name.created_at),
        "self": path_for(routes, "package_name", name=quote(name.name, safe="")),
    }


async def list_names(request: Request) -> Response:
    params = request.query_params.multi_items()
    if unknown := {key for key, _ in params} - {"limit", "marker"}:
        raise BadRequest(f"unknown query parameters: {', '.join(sorted(unknown))}")
    limit = page_limit(params)
    marker = single(params, "marker")
    found = await services(request).names.names(caller(request), marker, limit)
    body: dict[str, Any] = {"package_names": [name_view(request.app, name) for name in found]}
    if len(found) == limit:
        following = urlencode({"limit": limit, "marker": found[-1].name})
        body["next"] = f"{path_for(request.app, 'package_names')}?{following}"
    return JSONResponse(body)


async def show_name(request: Request) -> Response:
    name = await services(request).names.show(caller(request), request.path_params["name"])
    return JSONResponse(name_view(request.app, name))


async def give_name(request: Request) -> Response:
    owner = await _field(request, "owner")
    name = await services(request).names.give(caller(request), request.path_params["name"], owner)
    return JSONResponse(name_view(request.app, name))


async def set_publishers(request: Request) -> Response:
    projects = await _field(request, "publishers")
    if not isinstance(projects, list):
        raise BadRequest("publishers must be a list of project ids")
    name = await services(request).names.set_publishers(
        caller(request), request.path_params["name"], projects
    )
    return JSONResponse(name_view(request.app, name))


async def _field(request: Request, field: str) -> Any:
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {field}:
        raise BadRequest(f"the body must be a JSON object with {field!r} alone")
    return body[field]


ROUTES: list[BaseRoute] = [
    Route("/package-names", list_names, methods=["GET"], name="package_names"),
    Route("/package-names/{name}", show_name, methods=["GET"], name="package_name"),
    Route("/package-names/{name}/owner", give_name, methods=["PUT"]),
    Route("/package-names/{name}/publishers", set_publishers, methods=["PUT"]),
]
