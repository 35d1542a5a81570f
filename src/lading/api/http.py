"""What every face shares: request ids, error bodies, the caller, JSON bodies."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.api.routing import allowed_methods, top_scope
from lading.errors import (
    BadRequest,
    ClientDisconnected,
    Forbidden,
    LadingError,
    StoreError,
    TooLarge,
    Unauthorized,
)
from lading.services import Services
from lading.services.access import Caller
from lading.settings import Settings

REQUEST_ID_HEADER = b"x-openstack-request-id"
MAX_JSON_BODY = 1024 * 1024
MAX_DIGITS = 18

log = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class Failure:
    """An error to answer, before a face gives it its shape."""

    status: int
    code: str
    title: str
    message: str
    headers: Mapping[str, str] | None = None

    @classmethod
    def of(cls, exc: LadingError) -> Failure:
        return cls(exc.status, exc.code, exc.title, exc.message, exc.headers)


# How a face writes its errors, given the request's headers (a face may negotiate).
ErrorStyle = Callable[[Headers, Failure], Response]


def error_body(status: int, code: str, title: str, message: str) -> dict[str, Any]:
    """The OpenStack error shape, an object of objects, which the glance CLI can print."""
    return {code: {"code": status, "title": title, "message": message}}


def openstack_error(headers: Headers, failure: Failure) -> Response:
    body = error_body(failure.status, failure.code, failure.title, failure.message)
    return JSONResponse(body, failure.status, dict(failure.headers or {}))


def error_response(scope: Scope, failure: Failure) -> Response:
    """The failure in the shape of the face the request went to (``app.state.error_styles``
    maps path prefixes to styles); OpenStack's by default."""
    app = scope.get("app")
    styles: dict[str, ErrorStyle] = getattr(app.state, "error_styles", {}) if app else {}
    path = scope.get("path", "")
    for prefix, style in styles.items():
        if path == prefix or path.startswith(f"{prefix}/"):
            return style(Headers(scope=scope), failure)
    return openstack_error(Headers(scope=scope), failure)


async def render_lading_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LadingError)
    if isinstance(exc, StoreError):
        services(request).metrics.store_errors.labels(exc.code).inc()
    return error_response(request.scope, Failure.of(exc))


async def render_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "itemNotFound", 405: "badMethod"}.get(exc.status_code, "badRequest")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names the methods of one route; the path may have several.
        allowed = allowed_methods(request.app.router.routes, top_scope(request.scope))
        if allowed:
            headers["Allow"] = ", ".join(sorted(allowed))  # the key Starlette sets
    failure = Failure(exc.status_code, code, exc.detail, exc.detail, headers)
    return error_response(request.scope, failure)


async def render_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    message = "the server failed to handle the request; it has been logged"
    response = error_response(
        request.scope, Failure(500, "internalError", "Internal Server Error", message)
    )
    # This answer is sent outside RequestIdMiddleware (by Starlette's outermost layer).
    response.headers[REQUEST_ID_HEADER.decode()] = request.scope.get("state", {}).get(
        "request_id", ""
    )
    return response


EXCEPTION_HANDLERS = {
    LadingError: render_lading_error,
    HTTPException: render_http_exception,
    Exception: render_unexpected,
}


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
    """Who is calling (see ``lading.api.auth``); Unauthorized for an anonymous request."""
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


async def read_json(request: Request) -> Any:
    """The request's JSON body, bounded in size; BadRequest when it is not JSON."""
    body = bytearray()
    async for chunk in body_stream(request):
        body += chunk
        if len(body) > MAX_JSON_BODY:
            raise TooLarge(f"a JSON body may not exceed {MAX_JSON_BODY} bytes")
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
