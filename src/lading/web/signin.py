"""Signing in with a token, and out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lading.errors import Unauthorized
from lading.http.requests import services
from lading.web.forms import read_form
from lading.web.pages import pages_of
from lading.web.paths import path_for
from lading.web.session import check_origin, safe_next, signed_in, signed_out

# What the sign-in page says about why it is shown (``?why=...``): only these.
REASONS = {"ended": "Your session ended: its token was revoked or has expired."}


async def sign_in_form(request: Request) -> Response:
    target = safe_next(request, request.query_params.get("next"))
    if await services(request).identities.is_open():
        return RedirectResponse(target, 303)  # nothing to sign in with
    reason = REASONS.get(request.query_params.get("why", ""))
    return _form(request, target, reason)


async def sign_in(request: Request) -> Response:
    check_origin(request)  # nobody else's page may sign a browser in as them
    form = await read_form(request)
    target = safe_next(request, form.get("next"))
    identities = services(request).identities
    if await identities.is_open():
        return RedirectResponse(target, 303)
    token = form.get("token", "").strip()
    if not token:
        return _form(request, target, "Enter a token.", 400)
    try:
        await identities.authenticate(token)
    except Unauthorized as exc:
        return _form(request, target, f"That token cannot sign in: {exc.message}.", 401)
    return signed_in(request, RedirectResponse(target, 303), token)


async def sign_out(request: Request) -> Response:
    check_origin(request)
    return signed_out(request, RedirectResponse(path_for(request, "sign_in"), 303))


def _form(request: Request, target: str, problem: str | None, status: int = 200) -> Response:
    context = {"next": target, "problem": problem}
    return pages_of(request).render(request, "sign_in.html", None, context, status)
