"""Data in and out: the upload form, the upload itself, and downloads.

With scripts, the upload page creates the artifact first (``POST /ui/api/artifacts``),
then sends the chosen file as the body of a ``PUT`` that streams into the same upload
path as the API's, so that the page can show its progress. Without scripts, the form is
posted as ``multipart/form-data``, fields before the file, and the file streams into the
store as it arrives: no progress bar, but the same result.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from lading.domain import CONTAINER_FORMATS, DISK_FORMATS, Artifact, Visibility
from lading.errors import Conflict
from lading.http.disposition import attachment
from lading.http.downloads import DataResponse
from lading.http.multipart import FormReader
from lading.http.requests import body_stream, parse_count, services, settings_of
from lading.web.forms import artifact_changes, read_form
from lading.web.pages import NO_STORE, pages_of
from lading.web.paths import path_for
from lading.web.session import Session, action, page


@page
async def upload_form(request: Request, session: Session) -> Response:
    return pages_of(request).render(request, "upload.html", session, form_choices())


@action
async def upload_with_form(request: Request, session: Session) -> Response:
    """The form posted without scripts: create, then stream the file in."""
    fields, file = await FormReader(request).fields()
    chosen = file.filename.replace("\\", "/").rpartition("/")[2]  # a path, from old browsers
    if not chosen:  # no file chosen: the artifact waits for data
        artifact = await _create(request, session, fields, None)
        page = path_for(request, "artifact", artifact_id=artifact.id)
        return RedirectResponse(f"{page}?done=created", 303)
    artifact = await services(request).transfers.create_uploaded(
        session.caller, artifact_changes(fields, chosen), file.chunks, published=_published(request)
    )
    page = path_for(request, "artifact", artifact_id=artifact.id)
    return RedirectResponse(f"{page}?done=uploaded", 303)


@action
async def create_artifact(request: Request, session: Session) -> Response:
    """The upload page's first step, with scripts: the artifact, without its data."""
    fields = await read_form(request)
    artifact = await _create(request, session, fields, fields.get("filename") or None)
    return JSONResponse(_summary(request, artifact), 201, NO_STORE)


@action
async def upload_data(request: Request, session: Session) -> Response:
    """The upload page's second step: the file as the request's body, streamed."""
    length = request.headers.get("content-length")
    artifact = await services(request).transfers.upload(
        session.caller,
        request.path_params["artifact_id"],
        body_stream(request),
        announced_size=None if length is None else parse_count("content-length", length),
    )
    return JSONResponse(_summary(request, artifact), headers=NO_STORE)


@page
async def download(request: Request, session: Session) -> Response:
    found = await services(request).transfers.download(
        session.caller, request.path_params["artifact_id"]
    )
    if found.location is None:
        raise Conflict(f"artifact {found.artifact.id} has no data to download")
    # Saved under its file name, or its name.
    artifact = found.artifact
    disposition = attachment(artifact.filename or artifact.name or artifact.id, artifact.id)
    return DataResponse(found, "private, no-cache", disposition)


def form_choices() -> dict[str, Any]:
    """What the upload and import forms offer to choose."""
    return {
        "disk_formats": DISK_FORMATS,
        "container_formats": CONTAINER_FORMATS,
        "visibilities": tuple(visibility.value for visibility in Visibility),
    }


async def _create(
    request: Request, session: Session, fields: dict[str, str], filename: str | None
) -> Artifact:
    return await services(request).catalogue.create(
        session.caller, artifact_changes(fields, filename), published=_published(request)
    )


def _published(request: Request) -> bool:
    return settings_of(request).published_by_default.web


def _summary(request: Request, artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.id,
        "name": artifact.name,
        "status": artifact.status.value,
        "size": artifact.size,
        "page": path_for(request, "artifact", artifact_id=artifact.id),
        "data": path_for(request, "data", artifact_id=artifact.id),
    }
