"""The OSM package onboarding face, at /api.

- ``POST /api/upload`` (and ``/api/update`` for a new version): ``multipart/form-data``
  with the package in a file part named ``descriptor`` (a tar, or a gzip of one, inflated
  as it streams). Answers ``{"transaction_id": ...}``; the package was checked and stored,
  or refused, by then.
- ``POST /api/package-create`` (and ``/api/package-update``): ``{"external_url",
  "username", "password"}``; a task fetches and onboards the package. Answers
  ``{"transaction_id": ...}`` at once.
- ``GET /api/upload/{transaction_id}/state`` (and ``/api/update/...``): pending, success or
  failure, with the transaction's events, warnings and errors.
- ``GET /api/package/{id}/files/``: the files inside a stored package;
  ``GET /api/package/{id}/files/{path}``: one of them (Range supported), read from the
  stored archive without unpacking it.
- ``GET /api/export/{id}``: the stored package archive.
- ``DELETE /api/package/{id}`` (``?images=keep|delete``): the package, saying what became
  of its images; ``GET /api/package/{id}/images``: the images it brought.

And at the launchpad's own URLs, packages named by kind and descriptor id:

- ``GET /api/package/{vnfd|nsd|pnfd}/{name}/{path}``: a file inside the package (from its
  directory), or a directory as a tree.
- ``GET /api/export/{vnfd|nsd|pnfd}?ids={name}`` (or ``POST /api/package-export``): an
  export transaction, ``{"transaction_id", "filename"}``; ``GET
  /api/export/{transaction_id}/state`` its state; ``GET /api/export/{filename}`` the
  package as a ``.tar.gz``.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from lading.domain import Task, TaskStatus
from lading.errors import BadRequest, UnsupportedMediaType
from lading.http.disposition import attachment
from lading.http.downloads import DataResponse
from lading.http.multipart import FormReader
from lading.http.requests import caller, read_json, request_id, services
from lading.services.package_archive import DESCRIPTOR_KINDS
from lading.services.package_export import EXPORT_SUFFIX
from lading.services.transfers import Download

PACKAGE_PART = "descriptor"  # OSM's name for the form part that carries the package
IMAGES_CHOICES = {"keep": False, "delete": True}  # ?images= of a package's delete


async def list_files(request: Request) -> Response:
    found = await services(request).onboarding.files(caller(request), request.path_params["id"])
    return JSONResponse({"files": [asdict(member) for member in found]})


async def read_file(request: Request) -> Response:
    params = request.path_params
    part = await services(request).onboarding.file(caller(request), params["id"], params["path"])
    name = params["path"].rstrip("/").rpartition("/")[2]
    return DataResponse(part, "private, no-cache", attachment(name, part.artifact.id))


async def export(request: Request) -> Response:
    """lading's export (by artifact id), the launchpad's (by kind, a transaction) and the
    file a launchpad export made: one path, told apart by its last segment."""
    ref = request.path_params["id"]
    if ref in DESCRIPTOR_KINDS:
        ids = [found.strip() for found in request.query_params.get("ids", "").split(",")]
        if len(ids) != 1 or not ids[0]:
            raise BadRequest("an export names one package: ?ids=<descriptor id>")
        return await _export_answer(request, ref, ids[0], request.query_params.get("grammar"))
    if ref.endswith(EXPORT_SUFFIX):
        return await exported(request, ref)
    download = await services(request).onboarding.export(caller(request), ref)
    return DataResponse(
        download, "private, no-cache", attachment(download.artifact.filename or "package.tar")
    )


async def export_rpc(request: Request) -> Response:
    body = await read_json(request)
    if isinstance(body, dict) and isinstance(body.get("input"), dict):
        body = body["input"]  # as OSM's RPC takes it
    if not (
        isinstance(body, dict)
        and isinstance(body.get("package_type"), str)
        and isinstance(body.get("package_id"), str)
        and isinstance(body.get("export_grammar", ""), str)
    ):
        raise BadRequest('the body must be {"package_type": ..., "package_id": ...}')
    kind = body["package_type"].lower()
    return await _export_answer(request, kind, body["package_id"], body.get("export_grammar"))


async def _export_answer(request: Request, kind: str, name: str, grammar: str | None) -> Response:
    task = await services(request).onboarding.start_export(
        caller(request), kind, name, grammar, request_id=request_id(request)
    )
    assert task.result is not None
    return JSONResponse({"transaction_id": task.id, "filename": task.result["filename"]})


async def exported(request: Request, filename: str) -> Response:
    found = await services(request).onboarding.exported(caller(request), filename)
    headers = {"cache-control": "private, no-cache", **attachment(found.filename)}
    if request.method == "HEAD":  # the size is known only once it is compressed
        return Response(media_type="application/gzip", headers=headers)
    return StreamingResponse(found.chunks(), media_type="application/gzip", headers=headers)


async def export_state(request: Request) -> Response:
    task = await services(request).onboarding.export_transaction(
        caller(request), request.path_params["transaction_id"]
    )
    return JSONResponse(state_view(task))


async def browse(request: Request, kind: str) -> Response:
    params = request.path_params
    path = params.get("path", "")
    found = await services(request).onboarding.browse(caller(request), kind, params["name"], path)
    if isinstance(found, Download):
        return DataResponse(found, "private, no-cache", attachment(path.rpartition("/")[2]))
    return JSONResponse(found)


async def list_images(request: Request) -> Response:
    found = await services(request).onboarding.images(caller(request), request.path_params["id"])
    return JSONResponse(
        {"images": [
            {"path": path, "id": image.id, "name": image.name, "status": image.status,
             "disk_format": image.disk_format, "size": image.size, "checksum": image.checksum}
            for path, image in found
        ]}
    )  # fmt: skip


async def delete_package(request: Request) -> Response:
    choice = request.query_params.get("images", "keep")
    if choice not in IMAGES_CHOICES:
        raise BadRequest("images is keep (the default) or delete")
    package_id = request.path_params["id"]
    released = await services(request).onboarding.delete(
        caller(request), package_id, IMAGES_CHOICES[choice]
    )
    return JSONResponse(
        {"package_id": package_id, "images": {"kept": released.kept, "deleted": released.deleted}}
    )


async def receive(request: Request, mode: str) -> Response:
    who = caller(request)
    content_type = request.headers.get("content-type")
    if content_type is None:
        raise BadRequest("the request needs a Content-Type: multipart/form-data")
    if parse_options_header(content_type)[0] != b"multipart/form-data":
        raise UnsupportedMediaType("the package comes as multipart/form-data")
    _, file = await FormReader(request).fields()
    if file.name != PACKAGE_PART:
        raise BadRequest(f"the package goes in a file part named {PACKAGE_PART!r}")
    task = await services(request).onboarding.upload(
        who, mode, file.filename, file.chunks, request_id=request_id(request)
    )
    return JSONResponse({"transaction_id": task.id})


async def fetch(request: Request, mode: str) -> Response:
    who = caller(request)
    body = await read_json(request)
    if isinstance(body, dict) and isinstance(body.get("input"), dict):
        body = body["input"]  # as OSM's RPC takes it
    if not isinstance(body, dict):
        raise BadRequest('the body must be {"external_url": ..., "username": ..., "password": ...}')
    task = await services(request).onboarding.from_url(
        who, mode, body, request_id=request_id(request)
    )
    return JSONResponse({"transaction_id": task.id})


async def transaction_state(request: Request, mode: str) -> Response:
    task = await services(request).onboarding.transaction(
        caller(request), mode, request.path_params["transaction_id"]
    )
    return JSONResponse(state_view(task))


def state_view(task: Task) -> dict[str, Any]:
    """A transaction as OSM's state endpoints showed it: pending, success or failure, and
    its messages as events, warnings and errors."""
    status = {TaskStatus.SUCCESS: "success", TaskStatus.FAILURE: "failure"}.get(
        task.status, "pending"
    )
    shown: dict[str, Any] = {"status": status, "events": [], "warnings": [], "errors": []}
    for event in task.events:
        shown[{"event": "events", "warning": "warnings"}.get(event["kind"], "errors")].append(
            _entry(event["kind"], event["name"], event["text"], event["timestamp"])
        )
    if status == "failure" and not shown["errors"]:  # failed before it could say why
        shown["errors"].append(
            _entry("error", "failure", task.message, task.updated_at.timestamp())
        )
    if task.result is not None:
        for key in ("package_id", "filename", "images"):
            if key in task.result:
                shown[key] = task.result[key]
    return shown


def _entry(kind: str, name: str, text: str, timestamp: float) -> dict[str, Any]:
    """An event's ``value`` is its name; a warning's or an error's is its text, which is
    what the launchpad shows (the name stays, as ``name``)."""
    if kind == "event":
        return {"value": name, "text": text, "timestamp": timestamp}
    return {"value": text, "name": name, "text": text, "timestamp": timestamp}


# OSM names each request twice: one for a new package (onboard), one for a new version.
ROUTES: list[BaseRoute] = [
    # The launchpad's file browser, first: a package kind is never a lading id.
    *(
        Route(path.format(kind=kind), partial(browse, kind=kind), methods=["GET", "HEAD"])
        for kind in DESCRIPTOR_KINDS
        for path in ("/package/{kind}/{{name}}", "/package/{kind}/{{name}}/{{path:path}}")
    ),
    Route("/upload", partial(receive, mode="onboard"), methods=["POST"]),
    Route("/update", partial(receive, mode="update"), methods=["POST"]),
    Route("/package-create", partial(fetch, mode="onboard"), methods=["POST"]),
    Route("/package-update", partial(fetch, mode="update"), methods=["POST"]),
    Route("/upload/{transaction_id}/state", partial(transaction_state, mode="onboard")),
    Route("/update/{transaction_id}/state", partial(transaction_state, mode="update")),
    Route("/package/{id}/files/", list_files, methods=["GET"]),
    Route("/package/{id}/files/{path:path}", read_file, methods=["GET", "HEAD"]),
    Route("/package/{id}", delete_package, methods=["DELETE"]),
    Route("/package/{id}/images", list_images, methods=["GET", "HEAD"]),
    Route("/package-export", export_rpc, methods=["POST"]),
    Route("/export/{transaction_id}/state", export_state, methods=["GET", "HEAD"]),
    Route("/export/{id}", export, methods=["GET", "HEAD"]),
]
