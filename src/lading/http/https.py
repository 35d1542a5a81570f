"""HTTPS's two helpers: the Strict-Transport-Security header on HTTPS answers, and the
plain-HTTP listener (``tls.redirect_port``) that sends every request to HTTPS.

The redirect is permanent. A GET or HEAD gets 301, which every client ever written
follows; any other method gets 308 (RFC 9110 15.4.9), which keeps the method and the body,
where clients may turn a 301'd POST into a bodiless GET. No 307: the move is for good, and
browsers may keep it. The target is the same path and query on ``public_endpoint`` when
that is HTTPS, else on the host the request named (one this server answers to, as on the
HTTPS listener; another is 400, so no cache in front is taught a redirect elsewhere) at
the HTTPS port. Nothing else is done on plain HTTP: no token is looked at, no body kept.
"""

from __future__ import annotations

import ipaddress

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.http.unread_body import UnreadBodyMiddleware
from lading.settings import Settings
from lading.sites import Sites, host_of

HSTS = b"strict-transport-security"
KEEPS_METHOD = 308
BODILESS = frozenset({"GET", "HEAD"})
ALLOWED_HOSTS = "its allowed_hosts setting names those it does"


class StrictTransportMiddleware:
    """Adds ``Strict-Transport-Security: max-age=N`` to every answer: it wraps the app of
    the HTTPS listener only (browsers ignore the header over plain HTTP anyway)."""

    def __init__(self, app: ASGIApp, max_age: int) -> None:
        self.app = app
        self.header = (HSTS, f"max-age={max_age}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self.header]
            await send(message)

        await self.app(scope, receive, send_with_hsts)


class RedirectToHttps:
    """The whole app of the plain-HTTP listener."""

    def __init__(self, sites: Sites, https_port: int, public_endpoint: str | None) -> None:
        self.sites = sites
        self.port = "" if https_port == 443 else f":{https_port}"
        self.public = None
        if public_endpoint is not None and public_endpoint.startswith("https://"):
            self.public = public_endpoint.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        target = self.target(scope)
        if target is None:
            status, headers = 400, []
            text = f"this server does not answer to that host: {ALLOWED_HOSTS}\n"
        else:
            status = 301 if scope["method"] in BODILESS else KEEPS_METHOD
            headers = [(b"location", target.encode("latin-1"))]
            text = f"this server is served over HTTPS: {target}\n"
        body = text.encode("latin-1")
        headers += [
            (b"content-type", b"text/plain; charset=iso-8859-1"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.body", "body": body})

    def target(self, scope: Scope) -> str | None:
        """The HTTPS URL of the request's path and query; None for a Host not answered."""
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1") if raw.startswith(b"/") else "/"  # not "*" nor a URL
        query = scope.get("query_string", b"").decode("latin-1")
        where = f"{path}?{query}" if query else path
        if self.public is not None:
            return f"{self.public}{where}"
        authority = Headers(scope=scope).get("host")
        if authority is None:  # HTTP/1.0: the address reached, unless a wildcard (0.0.0.0)
            server = scope.get("server")
            host = str(server[0]) if server and not is_unspecified(str(server[0])) else None
        elif self.sites.answers(authority):
            host = host_of(authority)
        else:
            return None
        if host is None:
            return None
        name = f"[{host}]" if ":" in host else host
        return f"https://{name}{self.port}{where}"


def is_unspecified(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_unspecified
    except ValueError:
        return False


def redirect_app(settings: Settings | None = None) -> ASGIApp:
    """The redirect listener: ``lading serve`` gives it the settings it serves HTTPS with
    (its ``port``); without, those of the environment."""
    settings = settings or Settings.load()
    redirects = RedirectToHttps(
        Sites.from_settings(settings), settings.port, settings.public_endpoint
    )
    # A client sending an upload gets its 308 and reads it: the body it sent is drained.
    return UnreadBodyMiddleware(redirects, settings.server)
