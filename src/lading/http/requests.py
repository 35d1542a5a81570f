"""What every face and the web UI read of a request: its id, the caller, the app's
services and settings, counts, bodies (JSON or streamed)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.errors import BadRequest, ClientDisconnected, Forbidden, TooLarge, Unauthorized
from lading.services import Services
from lading.services.access import Caller
from lading.settings import Settings

REQUEST_ID_HEADER = b"x-openstack-request-id"
MAX_JSON_BODY = 1024 * 1024
MAX_DIGITS = 18


class RequestIdMiddleware:
    """Stamps ``x-openstack-request-id: req-<uuid>`` on every response.

    A pure ASGI middleware, so streamed and pathsend responses pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = f"req-{uuid.uuid4()}".encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != REQUEST_ID_HEADER]
                message["headers"] = [*headers, (REQUEST_ID_HEADER, request_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


def endpoint(request: Request) -> str:
    """The URL clients reach this server at, without a trailing slash."""
    public = settings_of(request).public_endpoint
    return (public or str(request.base_url)).rstrip("/")


def parse_count(name: str, text: str) -> int:
    """A non-negative integer from a header or query parameter, of a sane length.

    Eighteen digits fit every size lading handles (and a signed 64-bit column);
    longer numbers would only reach Python's and the databases' limits.
    """
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS):
        raise BadRequest(f"{name} must be a non-negative integer of at most {MAX_DIGITS} digits")
    return int(text)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def caller(request: Request) -> Caller:
    """Who is calling (see ``lading.http.auth``); Unauthorized for an anonymous request."""
    state = request.scope.get("state", {})
    found: Caller | None = state.get("caller")
    if found is None:
        refusal: Forbidden | None = state.get("refusal")
        if refusal is not None:  # a valid token that may do nothing here
            raise refusal
        message = "this request needs a token (X-Auth-Token or Authorization: Bearer)"
        raise Unauthorized(message, services(request).identities.challenge)
    return found


def request_id(request: Request) -> str | None:
    """The id ``RequestIdMiddleware`` gave the request (and its answer's header)."""
    found: str | None = request.scope.get("state", {}).get("request_id")
    return found


async def read_bounded(request: Request, limit: int, what: str) -> bytes:
    """The whole body of a request that is small by nature (a document, a form); TooLarge,
    naming ``what`` it is, once it grows past ``limit`` bytes."""
    body = bytearray()
    async for chunk in body_stream(request):
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"{what} may not exceed {limit} bytes")
    return bytes(body)


async def read_json(request: Request) -> Any:
    """The request's JSON body, bounded in size; BadRequest when it is not JSON."""
    body = await read_bounded(request, MAX_JSON_BODY, "a JSON body")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"the body is not valid JSON: {exc}") from None


def has_body(request: Request) -> bool:
    """Whether the request carries a body (announced, or chunked)."""
    length = request.headers.get("content-length", "0")
    return "transfer-encoding" in request.headers or (length.isdigit() and int(length) > 0)


async def body_stream(request: Request) -> AsyncIterator[bytes]:
    """The request body, with a client that went away reported as such."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise ClientDisconnected("the client disconnected before sending the whole body") from None
