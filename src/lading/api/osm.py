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
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.domain import Task, TaskStatus
from lading.errors import BadRequest, UnsupportedMediaType
from lading.http.disposition import attachment
from lading.http.downloads import DataResponse
from lading.http.multipart import FormReader
from lading.http.requests import caller, read_json, request_id, services

PACKAGE_PART = "descriptor"  # OSM's name for the form part that carries the package


async def list_files(request: Request) -> Response:
    found = await services(request).onboarding.files(caller(request), request.path_params["id"])
    return JSONResponse({"files": [asdict(member) for member in found]})


async def read_file(request: Request) -> Response:
    params = request.path_params
    part = await services(request).onboarding.file(caller(request), params["id"], params["path"])
    name = params["path"].rstrip("/").rpartition("/")[2]
    return DataResponse(part, "private, no-cache", attachment(name, part.artifact.id))


async def export(request: Request) -> Response:
    download = await services(request).onboarding.export(caller(request), request.path_params["id"])
    return DataResponse(
        download, "private, no-cache", attachment(download.artifact.filename or "package.tar")
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
        entry = {"value": event["name"], "text": event["text"], "timestamp": event["timestamp"]}
        shown[{"event": "events", "warning": "warnings"}.get(event["kind"], "errors")].append(entry)
    if status == "failure" and not shown["errors"]:  # failed before it could say why
        shown["errors"].append({"value": "failure", "text": task.message,
                                "timestamp": task.updated_at.timestamp()})  # fmt: skip
    if task.result is not None:
        shown["package_id"] = task.result["package_id"]
    return shown


# OSM names each request twice: one for a new package (onboard), one for a new version.
ROUTES: list[BaseRoute] = [
    Route("/upload", partial(receive, mode="onboard"), methods=["POST"]),
    Route("/update", partial(receive, mode="update"), methods=["POST"]),
    Route("/package-create", partial(fetch, mode="onboard"), methods=["POST"]),
    Route("/package-update", partial(fetch, mode="update"), methods=["POST"]),
    Route("/upload/{transaction_id}/state", partial(transaction_state, mode="onboard")),
    Route("/update/{transaction_id}/state", partial(transaction_state, mode="update")),
    Route("/package/{id}/files/", list_files, methods=["GET"]),
    Route("/package/{id}/files/{path:path}", read_file, methods=["GET", "HEAD"]),
    Route("/export/{id}", export, methods=["GET", "HEAD"]),
]
