"""Errors as answers: a failure, the style each face gives it, and the app's handlers.

The app's exception handlers and the middleware that answer before any endpoint (a
refused token, another site's request) all come here; ``app.state.error_styles`` (made
from the faces' declarations in ``lading.faces``) says which face a path belongs to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from lading.errors import LadingError, StoreError
from lading.http.requests import REQUEST_ID_HEADER, services
from lading.http.routing import allowed_methods, top_scope

log = logging.getLogger(__name__)


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


# How a face writes its errors, given the request (a face may negotiate, or link back).
ErrorStyle = Callable[[Request, Failure], Response]


def error_body(status: int, code: str, title: str, message: str) -> dict[str, Any]:
    """The OpenStack error shape, an object of objects, which the glance CLI can print."""
    return {code: {"code": status, "title": title, "message": message}}


def openstack_error(request: Request, failure: Failure) -> Response:
    body = error_body(failure.status, failure.code, failure.title, failure.message)
    return JSONResponse(body, failure.status, dict(failure.headers or {}))


def error_response(scope: Scope, failure: Failure) -> Response:
    """The failure in the shape of the face the request went to (``app.state.error_styles``
    maps the faces' paths to styles, ``lading.faces``); OpenStack's by default."""
    app = scope.get("app")
    styles: dict[str, ErrorStyle] = getattr(app.state, "error_styles", {}) if app else {}
    path = scope.get("path", "")
    for prefix, style in styles.items():
        if path == prefix or path.startswith(f"{prefix}/"):
            return style(Request(scope), failure)
    return openstack_error(Request(scope), failure)


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
