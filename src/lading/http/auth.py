"""Who is calling: the token of each request, resolved once, before any face sees it.

Clients send ``X-Auth-Token`` (the glance CLI, openstacksdk) or ``Authorization:
Bearer``; VISoR's clients sign the request instead (``Authorization: VISOR key:sig``,
``lading.services.visor_keys``). The caller lands in the request's state; endpoints get it from
``lading.http.requests.caller``, which refuses anonymous requests. A token that is unknown,
revoked or expired is refused here, whatever the endpoint.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from lading.errors import Forbidden, LadingError
from lading.http.failures import Failure, error_response
from lading.services.identity import Identities
from lading.services.visor_keys import SCHEME as VISOR_SCHEME
from lading.services.visor_keys import VisorKeys


class AuthenticationMiddleware:
    def __init__(self, app: ASGIApp, identities: Identities, visor_keys: VisorKeys) -> None:
        self.app = app
        self.identities = identities
        self.visor_keys = visor_keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.upper() == VISOR_SCHEME and not await self.identities.is_open():
            try:
                signed = await self.visor_keys.authenticate(
                    credentials, scope["method"], _signed_path(scope), headers
                )
            except LadingError as exc:  # a flawed signature: 403, whatever the path
                await error_response(scope, Failure.of(exc))(scope, receive, send)
                return
            scope.setdefault("state", {})["caller"] = signed
            await self.app(scope, receive, send)
            return
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


def _signed_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded, without the query): what it signed."""
    raw: bytes | None = scope.get("raw_path")
    return raw.decode("latin-1").partition("?")[0] if raw else scope["path"]


def presented_token(headers: Headers) -> str | None:
    if token := headers.get("x-auth-token"):
        return token
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None
