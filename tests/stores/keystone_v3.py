"""A Keystone v3 identity endpoint for the tests: password auth scoped to a project.

It checks the request as Keystone does and answers as Keystone does (201, the token in
X-Subject-Token, a catalogue in the body), for one user, ``tester`` of project ``test``
in domain ``Default``. The token is a real tempauth token of the test Swift, and the
catalogue's object-store endpoint is that account's URL, so Swift itself accepts what a
store signed in here sends. Served by granian from the repository root (tests/asgi_server).
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.object_servers import SWIFT_KEY, SWIFT_URL, SWIFT_USER

USER, PASSWORD, PROJECT, DOMAIN = "tester", "testing", "test", "Default"
UNREACHABLE = "http://127.0.0.1:9/v1/AUTH_test"  # port 9 (discard): nothing answers


def _unauthorized() -> JSONResponse:
    message = "The request you have made requires authentication."
    error = {"code": 401, "title": "Unauthorized", "message": message}
    return JSONResponse({"error": error}, status_code=401)


def _valid(body: Any) -> bool:
    try:
        identity, scope = body["auth"]["identity"], body["auth"]["scope"]["project"]
        user = identity["password"]["user"]
        return bool(
            identity["methods"] == ["password"]
            and (user["name"], user["domain"]["name"], user["password"]) == (USER, DOMAIN, PASSWORD)
            and (scope["name"], scope["domain"]["name"]) == (PROJECT, DOMAIN)
        )
    except (KeyError, TypeError):
        return False


async def tokens(request: Request) -> Response:
    if not _valid(await request.json()):
        return _unauthorized()
    async with httpx.AsyncClient() as client:
        swift = await client.get(
            f"{SWIFT_URL}/auth/v1.0", headers={"X-Auth-User": SWIFT_USER, "X-Auth-Key": SWIFT_KEY}
        )
    storage_url = swift.headers["x-storage-url"]
    catalog = [
        {"type": "identity", "name": "keystone", "endpoints": [
            {"interface": "public", "region_id": "RegionOne", "url": str(request.base_url)}]},
        {"type": "object-store", "name": "swift", "endpoints": [
            {"interface": "internal", "region_id": "RegionOne", "url": UNREACHABLE},
            {"interface": "public", "region_id": "RegionOne", "url": storage_url},
            {"interface": "public", "region_id": "RegionTwo", "url": UNREACHABLE}]},
    ]  # fmt: skip
    body = {"token": {"methods": ["password"], "catalog": catalog}}
    return JSONResponse(
        body, status_code=201, headers={"X-Subject-Token": swift.headers["x-auth-token"]}
    )


app = Starlette(routes=[Route("/v3/auth/tokens", tokens, methods=["POST"])])
