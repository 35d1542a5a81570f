"""Who is calling: the token of each request, resolved once, before any face sees it.

Clients send ``X-Auth-Token`` (the glance CLI, openstacksdk) or ``Authorization:
Bearer``. The caller lands in the request's state; endpoints get it from
``lading.api.http.caller``, which refuses anonymous requests. A token that is unknown,
revoked or expired is refused here, whatever the endpoint.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from lading.api.http import Failure, error_response
from lading.errors import Forbidden, LadingError
from lading.services.identity import Identities


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, identities: Identities) -> None:
        self.app = app
        self.identities = identities

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            caller = await self.identities.authenticate(
                presented_token(headers), headers.get("x-service-token") or None
            )
        except Forbidden as exc:
            # A valid token that may do nothing here (a domain-scoped Keystone token):
            # refused where a caller is needed, as Glance's policies refuse it, while what
            # needs none (version discovery, the health check) still answers.
            caller = None
            scope.setdefault("state", {})["refusal"] = exc
        # Outside the app's exception handlers: rendered here. A refused token, or a
        # catalogue that cannot be reached to look it up (503, not a 500).
        except LadingError as exc:
            await error_response(scope, Failure.of(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def presented_token(headers: Headers) -> str | None:
    if token := headers.get("x-auth-token"):
        return token
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None
