"""Who is signed in to the web UI, and which requests may change anything.

Signing in keeps the token in a cookie that only the UI's own paths receive (HttpOnly,
SameSite=Strict, Path=/ui, Secure over https). Every request authenticates it through
the identity service, exactly as the API authenticates a header, so a revoked or expired
token ends the session within a second. While lading runs open there is nothing to sign
in with: every visitor is the open server's administrator, as every API client is.

A request that changes something must come from one of the UI's pages: SameSite=Strict
keeps the cookie off requests other sites start, and the request's Origin (or, failing
that, its Referer) must be this server's own origin (``lading.sites`` decides, as for the
API; a Host that names another server never gets this far). The origin check also guards
the open server, where no cookie is involved at all.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lading.errors import Forbidden, Unauthorized
from lading.http.cross_site import refusal
from lading.http.requests import services, settings_of
from lading.services.access import Caller
from lading.sites import Sites, origin_of
from lading.web.paths import path_for, root

COOKIE = "lading_session"


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
            return signed_out(request, to_sign_in(request, "ended"))
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
        check_origin(request)
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
    sign_in = path_for(request, "sign_in")
    return RedirectResponse(f"{sign_in}?next={quote(back, safe='')}{reason}", 303)


def signed_in(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        COOKIE,
        token,
        path=root(request),
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


def signed_out(request: Request, response: Response) -> Response:
    response.delete_cookie(COOKIE, path=root(request), httponly=True, samesite="strict")
    return response


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after signing in: a page of the UI, never another site."""
    pages = f"{root(request)}/"
    if target and target.startswith(pages) and "\\" not in target:
        return target
    return pages


def is_https(request: Request) -> bool:
    public = settings_of(request).public_endpoint or ""
    return request.url.scheme == "https" or public.startswith("https://")


def check_origin(request: Request) -> None:
    """Forbidden unless the request comes from a page of this server: unlike the API, the
    UI takes no change without an Origin or Referer, since browsers always send one."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    sites: Sites = request.app.state.sites
    if sent is None or not sites.is_own(request.scope, origin_of(sent)):
        raise Forbidden(refusal(sent or "a page that did not say which"))
