"""Who is signed in to the web UI, and which requests may change anything.

Signing in keeps the token in a cookie that only the UI's own paths receive (HttpOnly,
SameSite=Strict, Path=/ui, Secure over https). Every request authenticates it through
the identity service, exactly as the API authenticates a header, so a revoked or expired
token ends the session within a second. While lading runs open there is nothing to sign
in with: every visitor is the open server's administrator, as every API client is.

A request that changes something must come from one of the UI's pages: SameSite=Strict
keeps the cookie off requests other sites start, and the request's Origin (or, failing
that, its Referer) must be this server. The origin check also guards the open server,
where no cookie is involved at all.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lading.api.http import services, settings_of
from lading.errors import Forbidden, Unauthorized
from lading.services.access import Caller
from lading.url_rules import is_loopback

COOKIE = "lading_session"
PREFIX = "/ui"
SIGN_IN = f"{PREFIX}/sign-in"
DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]  # scheme, host, port


@dataclass(frozen=True, slots=True)
class Session:
    """A visitor the UI serves: who it acts as, and whether lading runs open."""

    caller: Caller
    open: bool


View = Callable[[Request, Session], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def page(view: View) -> Endpoint:
    """A page to read: a visitor who is not signed in is sent to sign in, then back."""

    @functools.wraps(view)
    async def endpoint(request: Request) -> Response:
        try:
            session = await session_of(request)
        except Unauthorized:  # the cookie's token was revoked or has expired
            return signed_out(to_sign_in(request, "ended"))
        if session is None:
            return to_sign_in(request)
        return await view(request, session)

    return endpoint


def script(view: View) -> Endpoint:
    """A read the page's scripts make: a visitor not signed in gets 401, not a page."""

    @functools.wraps(view)
    async def endpoint(request: Request) -> Response:
        session = await session_of(request)
        if session is None:
            raise Unauthorized("sign in first: this needs a token")
        return await view(request, session)

    return endpoint


def action(view: View) -> Endpoint:
    """A request that changes something: from the UI's own pages, by a signed-in visitor."""

    @functools.wraps(view)
    async def endpoint(request: Request) -> Response:
        session = await session_of(request)
        check_origin(request, session is not None and session.open)
        if session is None:
            raise Unauthorized("sign in first: this needs a token")
        return await view(request, session)

    return endpoint


async def session_of(request: Request) -> Session | None:
    """The visitor's session; None when nobody is signed in. Unauthorized when the cookie's
    token is refused."""
    identities = services(request).identities
    # The authentication middleware's caller: the open server's, or a token header's.
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    if caller is None and (token := request.cookies.get(COOKIE)):
        caller = await identities.authenticate(token)
    return None if caller is None else Session(caller, await identities.is_open())


def to_sign_in(request: Request, why: str | None = None) -> Response:
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    reason = f"&why={why}" if why else ""
    return RedirectResponse(f"{SIGN_IN}?next={quote(back, safe='')}{reason}", 303)


def signed_in(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        COOKIE,
        token,
        path=PREFIX,
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


def signed_out(response: Response) -> Response:
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a page of the UI, never another site."""
    if target and target.startswith(f"{PREFIX}/") and "\\" not in target:
        return target
    return f"{PREFIX}/"


def is_https(request: Request) -> bool:
    public = settings_of(request).public_endpoint or ""
    return request.url.scheme == "https" or public.startswith("https://")


def check_origin(request: Request, open_server: bool = False) -> None:
    """Forbidden unless the request comes from a page of this server (``open_server``: one
    that runs without tokens, where no cookie vouches for the visitor)."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if sent is None or origin_of(sent) not in own_origins(request, open_server):
        raise Forbidden(
            "this request did not come from lading's own pages (its Origin or Referer is "
            f"{sent or 'missing'}); go back to the page, reload it and try again"
        )


def own_origins(request: Request, open_server: bool) -> set[Origin]:
    """``public_endpoint`` when it is set (a forged Host header names no other); else the
    address the request went to, which for a server running open must be a loopback one: a
    page whose name was made to point here (DNS rebinding) acts for nobody."""
    public = settings_of(request).public_endpoint
    own = origin_of(public or f"{request.url.scheme}://{request.url.netloc}")
    if own is None or (open_server and not public and not is_loopback(own[1])):
        return set()
    return {own}


def origin_of(url: str) -> Origin | None:
    """An URL's origin, with its port spelt out; None for what has none (``null``)."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port
