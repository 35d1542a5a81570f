"""/v2/registry/repositories: a project's OCI registry repositories, their size, and
whether anyone may pull them.

lading's own addition beside Glance's API, on the API's port: the registry's listener
(``oci.port``) serves the distribution spec's ``/v2`` and nothing else.

- ``GET /v2/registry/repositories?limit=&marker=``: the caller's project's repositories
  (every one, for an administrator), ordered by name, paged, with the bytes they hold.
- ``GET /v2/registry/repositories/{name}``: one repository.
- ``PATCH /v2/registry/repositories/{name}`` ``{"visibility": "public"|"private"}``: its
  project's members (and administrators) make it public or private.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.paths import Routes, path_for
from lading.api.query import page_limit, single
from lading.clock import timestamp
from lading.db.oci import RepositorySummary
from lading.errors import BadRequest
from lading.http.requests import caller, read_json, services


def repository_view(routes: Routes, repository: RepositorySummary) -> dict[str, Any]:
    return {
        "name": repository.name,
        "owner": repository.owner,
        "visibility": repository.visibility,
        "size": repository.size,
        "blobs": repository.blobs,
        "tags": repository.tags,
        "created_at": timestamp(repository.created_at),
        "self": path_for(routes, "registry_repository", name=repository.name),
    }


async def list_repositories(request: Request) -> Response:
    params = request.query_params.multi_items()
    if unknown := {key for key, _ in params} - {"limit", "marker"}:
        raise BadRequest(f"unknown query parameters: {', '.join(sorted(unknown))}")
    limit = page_limit(params)
    found = await services(request).registry.repositories(
        caller(request), single(params, "marker"), limit
    )
    body: dict[str, Any] = {"repositories": [repository_view(request.app, r) for r in found]}
    if found and len(found) == limit:
        following = urlencode({"limit": limit, "marker": found[-1].name})
        body["next"] = f"{path_for(request.app, 'registry_repositories')}?{following}"
    return JSONResponse(body)


async def show_repository(request: Request) -> Response:
    found = await services(request).registry.repository(
        caller(request), request.path_params["name"]
    )
    return JSONResponse(repository_view(request.app, found))


async def update_repository(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict) or set(body) != {"visibility"}:
        raise BadRequest("the body must be a JSON object with 'visibility' alone")
    if not isinstance(body["visibility"], str):
        raise BadRequest("visibility is public or private")
    registry, who, name = services(request).registry, caller(request), request.path_params["name"]
    await registry.set_visibility(who, name, body["visibility"])
    return JSONResponse(repository_view(request.app, await registry.repository(who, name)))


ROUTES: list[BaseRoute] = [
    Route(
        "/registry/repositories", list_repositories, methods=["GET"], name="registry_repositories"
    ),
    Route(
        "/registry/repositories/{name:path}",
        show_repository,
        methods=["GET"],
        name="registry_repository",
    ),
    Route("/registry/repositories/{name:path}", update_repository, methods=["PATCH"]),
]
