"""The registry's answers to errors: the OCI distribution spec's error body and codes, and
the token challenge a 401 carries."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lading.http.failures import Failure
from lading.http.requests import settings_of

# The spec's codes for failures lading's errors name by status only.
CODES = {
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NAME_UNKNOWN",
    405: "UNSUPPORTED",
    413: "SIZE_INVALID",
    416: "BLOB_UPLOAD_INVALID",
    429: "TOOMANYREQUESTS",
    503: "UNAVAILABLE",  # the distribution registry's code for a store or catalogue down
}
REPOSITORY_PATH = re.compile(r"^/v2/(.+?)/(?:blobs|manifests|tags|referrers)/")
READING = frozenset({"GET", "HEAD"})


def oci_error(request: Request, failure: Failure) -> Response:
    code = failure.code if failure.code.isupper() else CODES.get(failure.status, "UNKNOWN")
    body = {"errors": [{"code": code, "message": failure.message, "detail": None}]}
    headers = dict(failure.headers or {})
    if failure.status == 401:
        headers["www-authenticate"] = challenge(request)
    elif failure.status == 403 and _bearer(request):
        # A token short of the scope (RFC 6750): clients then ask for a wider one.
        headers["www-authenticate"] = challenge(request) + ',error="insufficient_scope"'

    return JSONResponse(body, failure.status, headers)


def _bearer(request: Request) -> bool:
    scheme, _, _ = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer"


def challenge(request: Request) -> str:
    """``Bearer realm=...,service=...,scope=...``: where to get a token, and for what."""
    realm = str(request.url_for("oci:token"))
    service = settings_of(request).oci.service
    text = f'Bearer realm="{realm}",service="{service}"'
    found = REPOSITORY_PATH.match(request.url.path)
    if found is not None:
        actions = "pull" if request.method in READING else "pull,push"
        if request.method == "DELETE":
            actions = "delete"
        text += f',scope="repository:{found.group(1)}:{actions}"'
    return text
