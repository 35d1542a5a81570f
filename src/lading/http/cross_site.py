"""Requests from other websites: refused unless this server is theirs too (see
``lading.sites``), on every face, with or without tokens.

- A ``Host`` that names another server is 400: a page whose name was made to resolve here
  (DNS rebinding) reaches nothing.
- A request that may change something (any method but GET, HEAD, OPTIONS and TRACE) from a
  page of another origin, told by its ``Origin`` or by ``Sec-Fetch-Site: cross-site``, is
  403 unless CORS allows that origin: browsers send forms and ``text/plain`` bodies to any
  address without asking first. Programs (curl, the glance CLI, openstacksdk) send no
  ``Origin`` and pass.
- With ``cors.allowed_origins`` set, those origins' preflights are answered and their
  answers carry the headers that let the page read them; ``cors.osm_allowed_origins``
  likewise, for the OSM face's paths (``/api/...``) only. Otherwise no
  ``Access-Control-*`` header is ever sent.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.errors import BadRequest, Forbidden, LadingError
from lading.http.failures import Failure, error_response
from lading.sites import Origin, Sites, origin_of, serialized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
# What Glance's clients and browsers send: Glance's own CORS defaults (oslo.middleware's
# allow_headers as Glance sets them), the v1 face's headers, ranges and conditions for
# downloads, and the Click face's signature.
ALLOWED_HEADERS = (
    "accept", "accept-encoding", "accept-language", "authorization", "cache-control",
    "content-encoding", "content-language", "content-md5", "content-range", "content-type",
    "if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
    "openstack-api-version", "origin", "range", "x-auth-token", "x-glance-api-copy-from",
    "x-glance-registry-purge-props", "x-identity-status", "x-image-meta-checksum",
    "x-lading-client", "x-lading-nonce", "x-lading-signature", "x-lading-timestamp",
    "x-openstack-image-size", "x-openstack-request-id", "x-requested-with", "x-roles",
    "x-service-catalog", "x-storage-token", "x-tenant-id", "x-user-id",
)  # fmt: skip
ALLOWED_PREFIXES = ("x-image-meta-",)  # v1's fields and properties, any of them
# What a page may read of an answer beyond the CORS-safelisted headers. A v1 answer's
# x-image-meta-* headers are added answer by answer: their names vary with the properties.
EXPOSED_HEADERS = (
    "accept-ranges", "content-disposition", "content-length", "content-md5",
    "content-range", "etag", "last-modified", "location", "openstack-image-import-methods",
    "openstack-image-store-ids", "x-openstack-request-id",
)  # fmt: skip


class CrossSiteMiddleware:
    def __init__(self, app: ASGIApp, sites: Sites) -> None:
        self.app = app
        self.sites = sites

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        sent = headers.get("origin")
        origin = origin_of(sent) if sent is not None else None
        shared = self.sites.shares_with(origin, scope["path"])
        try:
            self.check_host(headers.get("host"))
            if shared and is_preflight(scope, headers):
                assert origin is not None
                await preflight(headers, origin, self.sites)(scope, receive, send)
                return
            if scope["method"] not in SAFE_METHODS and not shared:
                self.check_origin(scope, headers, sent, origin)
        except LadingError as exc:  # outside the app's exception handlers: rendered here
            await error_response(scope, Failure.of(exc))(scope, receive, send)
            return
        if not self.sites.cors:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                # Caches keep one answer per Origin: only the shared ones carry CORS headers.
                answer.add_vary_header("Origin")
                if origin is not None and shared:
                    answer["access-control-allow-origin"] = serialized(origin)
                    answer["access-control-expose-headers"] = exposed(answer)
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def check_host(self, authority: str | None) -> None:
        if authority is None:  # HTTP/1.0: no name, so none rebound
            return
        if not self.sites.answers(authority):
            raise BadRequest(
                f"this server does not answer to the host {authority!r}: its allowed_hosts "
                "setting names those it does"
            )

    def check_origin(
        self, scope: Scope, headers: Headers, sent: str | None, origin: Origin | None
    ) -> None:
        cross_site = headers.get("sec-fetch-site") == "cross-site"
        if sent is None and not cross_site:
            return  # not a page's request: a program's
        if not cross_site and self.sites.is_own(scope, origin):
            return
        raise Forbidden(refusal(sent or "a page of another site"))


def refusal(source: str) -> str:
    """Why a page's request was refused, for the API and the web UI alike."""
    return (
        f"this request did not come from lading's own pages nor from an origin allowed to "
        f"call it (it came from {source}); from a page of lading's, go back to it, reload it "
        "and try again"
    )


def is_preflight(scope: Scope, headers: Headers) -> bool:
    return scope["method"] == "OPTIONS" and "access-control-request-method" in headers


def preflight(headers: Headers, origin: Origin, sites: Sites) -> Response:
    """The answer to an allowed origin's preflight: 200 with what it may send, or Forbidden
    naming the method or header it may not."""
    method = headers["access-control-request-method"].strip().upper()
    if method not in ALLOWED_METHODS:
        raise Forbidden(f"a page of another origin may not send {method} requests here")
    asked = [
        name.strip().lower()
        for name in headers.get("access-control-request-headers", "").split(",")
        if name.strip()
    ]
    refused = [name for name in asked if not is_allowed_header(name)]
    if refused:
        raise Forbidden(
            f"a page of another origin may not send the headers {', '.join(refused)} here"
        )
    return Response(
        status_code=200,
        headers={
            "access-control-allow-origin": serialized(origin),
            "access-control-allow-methods": ", ".join(ALLOWED_METHODS),
            # The names asked for, each one allowed: prefixed names cannot be listed ahead.
            "access-control-allow-headers": ", ".join(asked or ALLOWED_HEADERS),
            "access-control-max-age": str(sites.max_age),
            "vary": "Origin",
        },
    )


def is_allowed_header(name: str) -> bool:
    return name in ALLOWED_HEADERS or name.startswith(ALLOWED_PREFIXES)


def exposed(answer: MutableHeaders) -> str:
    meta = [name for name in answer if name.startswith(ALLOWED_PREFIXES)]
    return ", ".join([*EXPOSED_HEADERS, *dict.fromkeys(meta)])
