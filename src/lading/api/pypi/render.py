"""The index's answers to errors: plain text, as PyPI's legacy API gives them (twine shows
the status line, and with ``--verbose`` the body), or OpenStack's JSON for a client that
asks for JSON (the ``lading`` CLI). A 401 names Basic: pip, uv and twine answer it with
the credentials they were given (a URL's, netrc's, keyring's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from lading.http.failures import Failure, error_body
from lading.services.pypi import BASIC


def pypi_error(request: Request, failure: Failure) -> Response:
    headers = dict(failure.headers or {})
    if failure.status == 401:
        headers["www-authenticate"] = BASIC
    if "application/json" in request.headers.get("accept", ""):
        body = error_body(failure.status, failure.code, failure.title, failure.message)
        return JSONResponse(body, failure.status, headers)
    text = f"{failure.status} {failure.title}\n\n{failure.message}\n"
    return PlainTextResponse(text, failure.status, headers)
