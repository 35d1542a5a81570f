"""The Python package index face, under ``/pypi``: each index's simple pages
(``/pypi/<index>/simple/``), its files and their core metadata, the legacy upload API
(``POST /pypi/<index>/``, as twine and ``uv publish`` send it), and the management API
(indexes, yanks, deletes). Parse, call ``lading.services.pypi``, render."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from lading.api.pypi.simple import index_page, project_page
from lading.db.pypi import StoredFile
from lading.errors import BadRequest, Unauthorized
from lading.http.accel import handed_off_response
from lading.http.downloads import PATHSEND
from lading.http.multipart import FormReader
from lading.http.requests import has_body, read_json, services
from lading.services.access import Caller
from lading.services.pypi import BASIC, PUBLIC, Index, PythonIndexes, UploadForm
from lading.services.python_dists import check_project_name, normalize

METADATA_SUFFIX = ".metadata"  # PEP 658: a file's core metadata, at its URL and this
MAX_UPLOAD_FIELD = 1024 * 1024  # a long description (a README) is one field
MAX_UPLOAD_FIELDS = 1000  # classifiers and requirements repeat


def _pypi(request: Request) -> PythonIndexes:
    return services(request).pypi


async def caller_of(request: Request) -> Caller | None:
    """Who calls: Basic with a lading (or Keystone) token as the password, as pip, uv and
    twine send it (any user name: ``__token__`` by custom); else the token the other
    faces take (``X-Auth-Token``, ``Bearer``); else nobody (anonymous)."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            message = "the Basic credentials are not base64 of user:password"
            raise Unauthorized(message, BASIC) from None
        password = decoded.partition(":")[2]
        return await services(request).identities.authenticate(password or None)
    found: Caller | None = request.scope.get("state", {}).get("caller")
    return found


def _private(index: Index) -> bool:
    return index.visibility != PUBLIC


async def simple_index(request: Request) -> Response:
    name = request.path_params["index"]
    caller = await caller_of(request)
    index = await _pypi(request).readable(caller, name)
    projects = await _pypi(request).projects(caller, name)
    return index_page(request, projects, _private(index))


async def simple_project(request: Request) -> Response:
    name, project = request.path_params["index"], request.path_params["project"]
    caller = await caller_of(request)
    index = await _pypi(request).readable(caller, name)
    if normalize(check_project_name(project)) != project or not request.url.path.endswith("/"):
        # PEP 503: the normalised name's URL is the page's; others redirect there.
        target = request.url_for("pypi:project", index=name, project=normalize(project))
        return RedirectResponse(target.path, status_code=301)
    page = await _pypi(request).project(caller, name, project)
    return project_page(request, page, _private(index))


async def file(request: Request) -> Response:
    name, project = request.path_params["index"], request.path_params["project"]
    filename = request.path_params["filename"]
    pypi = _pypi(request)
    caller = await caller_of(request)
    private = _private(await pypi.readable(caller, name))
    cache = ("private" if private else "public") + ", max-age=600"
    if filename.endswith(METADATA_SUFFIX):
        dist = filename.removesuffix(METADATA_SUFFIX)
        metadata = await pypi.core_metadata(caller, name, project, dist)
        return Response(metadata, headers={"cache-control": cache}, media_type="text/plain")
    stored = await pypi.file(caller, name, project, filename)
    headers = {
        "content-length": str(stored.size),
        "content-type": "application/octet-stream",
        "etag": f'"{stored.sha256}"',
        "cache-control": cache,
    }
    if request.method == "HEAD":
        return Response(headers=headers)
    url = await pypi.redirect_url(stored)
    if url is not None:  # the store hands the bytes off (a signed URL)
        return Response(status_code=307, headers={"location": url, "cache-control": "no-store"})
    await pypi.check_bytes(stored)
    handed = handed_off_response(headers, pypi.accel_uri(stored))
    if handed is not None:
        return handed
    path = pypi.local_path(stored)
    if path is not None and PATHSEND in request.scope.get("extensions", {}):
        return _PathResponse(path, headers)
    return _StreamedFile(pypi, stored, headers)


class _PathResponse(Response):
    """A file of a local store, sent by the server from its path (pathsend)."""

    def __init__(self, path: Path, headers: dict[str, str]) -> None:
        super().__init__(status_code=200, headers=headers)
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": PATHSEND, "path": str(self.path)})


class _StreamedFile(Response):
    def __init__(self, pypi: PythonIndexes, stored: StoredFile, headers: dict[str, str]) -> None:
        super().__init__(status_code=200, headers=headers)
        self.pypi, self.stored = pypi, stored

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async for chunk in self.pypi.read(self.stored):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def upload(request: Request) -> Response:
    """The legacy upload API: a multipart form of metadata fields, then ``content``."""
    name = request.path_params["index"]
    pypi = _pypi(request)
    caller = await caller_of(request)
    await pypi.uploadable(caller, name)  # before the form is read
    reader = FormReader(request, MAX_UPLOAD_FIELD, MAX_UPLOAD_FIELDS, repeats=True)
    fields, content = await reader.fields()
    if content.name != "content":
        raise BadRequest(f"the distribution is the form's content field, not {content.name!r}")
    form = UploadForm.of(fields)
    await pypi.upload(caller, name, form, content.filename, content.chunks, content.size_at_least)
    return PlainTextResponse("OK\n")


async def bare_index(request: Request) -> Response:
    """``/pypi/<index>`` without its slash: an upload there is taken (twine posts to the
    URL as it is given, and follows no redirect); a read is redirected."""
    if request.method == "POST":
        return await upload(request)
    return await _redirect(request, "pypi:index")


async def bare_simple(request: Request) -> Response:
    return await _redirect(request, "pypi:simple")


async def _redirect(request: Request, route: str) -> Response:
    """To the index's URL with its slash, for an index the caller may read (else the
    index's own 404 or 401, never a redirect to a name that is not one)."""
    name = request.path_params["index"]
    await _pypi(request).readable(await caller_of(request), name)
    return RedirectResponse(request.url_for(route, index=name).path, status_code=301)


# The management API (JSON)


def _index_json(index: Index) -> dict[str, object]:
    return {
        "name": index.name,
        "owner": index.owner,
        "visibility": index.visibility,
        "bases": list(index.bases),
        "configured": index.configured,
    }


async def indexes(request: Request) -> Response:
    found = await _pypi(request).indexes(await caller_of(request))
    return JSONResponse({"indexes": [_index_json(index) for index in found]})


async def index(request: Request) -> Response:
    name = request.path_params["index"]
    pypi = _pypi(request)
    caller = await caller_of(request)
    if request.method == "POST":
        return await upload(request)
    if request.method in ("GET", "HEAD"):
        return JSONResponse(_index_json(await pypi.readable(caller, name)))
    if caller is None:
        raise Unauthorized(f"changing index {name} needs a token", BASIC)
    if request.method == "DELETE":
        await pypi.delete_index(caller, name)
        return Response(status_code=204)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body is a JSON object: owner, visibility, bases")
    owner, visibility = body.get("owner", caller.project), body.get("visibility", "private")
    bases = body.get("bases", [])
    if not (
        isinstance(owner, str)
        and isinstance(visibility, str)
        and isinstance(bases, list)
        and all(isinstance(base, str) for base in bases)
    ):
        raise BadRequest("owner and visibility are strings, bases a list of index names")
    made = await pypi.put_index(caller, name, owner, visibility, bases)
    return JSONResponse(_index_json(made))


async def delete_file(request: Request) -> Response:
    params = request.path_params
    count = await _pypi(request).delete(
        await caller_of(request), params["index"], params["project"], filename=params["filename"]
    )
    return JSONResponse({"files": count})


async def deleted_file(request: Request) -> Response:
    """An administrator's: a deleted file's name may be uploaded again."""
    params = request.path_params
    await _pypi(request).allow_reuse(await caller_of(request), params["index"], params["filename"])
    return Response(status_code=204)


async def release(request: Request) -> Response:
    params = request.path_params
    count = await _pypi(request).delete(
        await caller_of(request), params["index"], params["project"], version=params["version"]
    )
    return JSONResponse({"files": count})


async def yank(request: Request) -> Response:
    params = request.path_params
    reason = None
    if has_body(request):
        body = await read_json(request)
        reason = body.get("reason") if isinstance(body, dict) else None
        if reason is not None and not isinstance(reason, str):
            raise BadRequest("reason is a string")
    count = await _pypi(request).yank(
        await caller_of(request), params["index"], params["project"], params["version"],
        yanked=request.url.path.endswith("/yank"), reason=reason or None,
    )  # fmt: skip
    return JSONResponse({"files": count})


ROUTES: list[BaseRoute] = [
    Route("/", indexes, methods=["GET"], name="indexes"),
    Route("/{index}/", index, methods=["GET", "POST", "PUT", "DELETE"], name="index"),
    Route("/{index}", bare_index, methods=["GET", "POST"], name="upload"),
    Route("/{index}/simple/", simple_index, methods=["GET"], name="simple"),
    Route("/{index}/simple", bare_simple, methods=["GET"]),
    Route("/{index}/simple/{project}/", simple_project, methods=["GET"], name="project"),
    Route("/{index}/simple/{project}", simple_project, methods=["GET"]),
    Route("/{index}/files/{project}/{filename}", file, methods=["GET"], name="file"),
    Route("/{index}/files/{project}/{filename}", delete_file, methods=["DELETE"]),
    Route("/{index}/projects/{project}/{version}", release, methods=["DELETE"], name="release"),
    Route("/{index}/deleted-files/{filename}", deleted_file, methods=["DELETE"]),
    Route("/{index}/projects/{project}/{version}/yank", yank, methods=["POST"]),
    Route("/{index}/projects/{project}/{version}/unyank", yank, methods=["POST"]),
]
