"""Rendering: the templates, their filters, and the face's error pages.

Errors under /ui come here through ``app.state.error_styles`` (``error_page`` is the web
face's error style in ``lading.faces``), wherever they were raised
(a view, the routing, an unexpected failure): pages get an HTML page with the error's
status, and the page's scripts, which ask for JSON, get JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.templating import Jinja2Templates

from lading.display import human_size
from lading.http.failures import Failure
from lading.web.paths import path_for
from lading.web.session import Session

TEMPLATES = Path(__file__).with_name("templates")
NOTHING = "\N{EN DASH}"  # what a page shows for a value that is not there
# Pages are about one caller's artifacts: never kept by caches. They run only the UI's own
# script and style, and are never framed: a framed page could be clicked through unseen.
NO_STORE = {"cache-control": "no-store"}
PAGE_HEADERS = {
    **NO_STORE,
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",  # the origin check falls back on the Referer
}


class Pages:
    """The templates, loaded once per application."""

    def __init__(self) -> None:
        environment = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,  # a misspelt name fails the test, not the page
        )
        environment.filters["size"] = human_size_or_nothing
        environment.filters["moment"] = moment
        environment.globals["path"] = template_path
        self._environment = environment
        self._templates = Jinja2Templates(env=environment)

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        context: Mapping[str, Any],
        status: int = 200,
    ) -> Response:
        return self._templates.TemplateResponse(
            request,
            template,
            {"session": session, "notice": None, **context},
            status_code=status,
            headers=PAGE_HEADERS,
        )

    def error(self, request: Request, failure: Failure) -> Response:
        """A failure as this face answers it."""
        if wants_json(request.headers):
            body = {"error": {"status": failure.status, "code": failure.code,
                              "title": failure.title, "message": failure.message}}  # fmt: skip
            return JSONResponse(body, failure.status, {**(failure.headers or {}), **NO_STORE})
        page = self._environment.get_template("error.html")
        html = page.render(request=request, session=None, notice=None, failure=failure)
        return HTMLResponse(html, failure.status, {**(failure.headers or {}), **PAGE_HEADERS})


def pages_of(request: Request) -> Pages:
    return request.app.state.pages  # type: ignore[no-any-return]


@jinja2.pass_context
def template_path(context: jinja2.runtime.Context, name: str, /, **params: object) -> str:
    """``path_for`` in templates: ``{{ path("artifact", artifact_id=artifact.id) }}``."""
    return path_for(context["request"], name, **params)


def error_page(request: Request, failure: Failure) -> Response:
    """The web face's error style (``lading.http.failures.ErrorStyle``)."""
    return pages_of(request).error(request, failure)


def wants_json(headers: Headers) -> bool:
    """The page's scripts ask for JSON; browsers navigating ask for HTML first."""
    accept = headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def human_size_or_nothing(size: int | None) -> str:
    return NOTHING if size is None else human_size(size)


def moment(when: datetime | None) -> str:
    return NOTHING if when is None else when.strftime("%Y-%m-%d %H:%M:%S UTC")
