"""/v2/images/{image_id}/members: sharing an image with other projects."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.paths import Routes, schema
from lading.clock import timestamp
from lading.domain import Member
from lading.errors import BadRequest
from lading.http.requests import caller, read_json, services


def member_view(routes: Routes, member: Member) -> dict[str, Any]:
    return {
        "image_id": member.artifact_id,
        "member_id": member.member,
        "status": member.status,
        "created_at": timestamp(member.created_at),
        "updated_at": timestamp(member.updated_at),
        "schema": schema(routes, "member"),
    }


async def _field(request: Request, name: str) -> object:
    body = await read_json(request)
    if not isinstance(body, dict) or name not in body:
        raise BadRequest(f"the body must be a JSON object with {name!r}")
    return body[name]


async def add_member(request: Request) -> Response:
    project = await _field(request, "member")
    member = await services(request).members.add(
        caller(request), request.path_params["image_id"], project
    )
    return JSONResponse(member_view(request.app, member))


async def list_members(request: Request) -> Response:
    found = await services(request).members.list(caller(request), request.path_params["image_id"])
    body = {
        "members": [member_view(request.app, member) for member in found],
        "schema": schema(request.app, "members"),
    }
    return JSONResponse(body)


async def show_member(request: Request) -> Response:
    params = request.path_params
    member = await services(request).members.get(
        caller(request), params["image_id"], params["member_id"]
    )
    return JSONResponse(member_view(request.app, member))


async def update_member(request: Request) -> Response:
    status = await _field(request, "status")
    params = request.path_params
    member = await services(request).members.set_status(
        caller(request), params["image_id"], params["member_id"], status
    )
    return JSONResponse(member_view(request.app, member))


async def remove_member(request: Request) -> Response:
    params = request.path_params
    await services(request).members.remove(caller(request), params["image_id"], params["member_id"])
    return Response(status_code=204)


ROUTES: list[BaseRoute] = [
    Route("/images/{image_id}/members", add_member, methods=["POST"]),
    Route("/images/{image_id}/members", list_members, methods=["GET"]),
    Route("/images/{image_id}/members/{member_id}", show_member, methods=["GET"]),
    Route("/images/{image_id}/members/{member_id}", update_member, methods=["PUT"]),
    Route("/images/{image_id}/members/{member_id}", remove_member, methods=["DELETE"]),
]
