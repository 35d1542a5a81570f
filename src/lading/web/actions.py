"""The pages that change an artifact: delete (after a confirmation), publish and
unpublish, and import from a URL (a task, whose page follows it)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lading.display import name_from_url
from lading.errors import BadRequest
from lading.http.requests import request_id, services, settings_of
from lading.web.forms import artifact_changes, read_form
from lading.web.pages import pages_of
from lading.web.paths import path_for
from lading.web.session import Session, action, page
from lading.web.uploads import form_choices


@page
async def confirm_delete(request: Request, session: Session) -> Response:
    artifact = await services(request).catalogue.get(
        session.caller, request.path_params["artifact_id"]
    )
    return pages_of(request).render(request, "delete.html", session, {"artifact": artifact})


@action
async def delete(request: Request, session: Session) -> Response:
    """Only the confirmation page's form deletes: it names the artifact it confirms. An
    artifact the visitor cannot see is 404 before any confirmation is asked for."""
    artifact_id = request.path_params["artifact_id"]
    artifact = await services(request).catalogue.get(session.caller, artifact_id)
    form = await read_form(request)
    if form.get("confirm") != artifact_id:
        return RedirectResponse(path_for(request, "delete", artifact_id=artifact.id), 303)
    await services(request).catalogue.delete(session.caller, artifact_id)
    return RedirectResponse(path_for(request, "list") + "?done=deleted", 303)


@action
async def publish(request: Request, session: Session) -> Response:
    return await _set_published(request, session, True)


@action
async def unpublish(request: Request, session: Session) -> Response:
    return await _set_published(request, session, False)


@page
async def import_form(request: Request, session: Session) -> Response:
    return pages_of(request).render(request, "import.html", session, form_choices())


@action
async def start_import(request: Request, session: Session) -> Response:
    """A new artifact, and a task that fetches its data from the URL given."""
    form = await read_form(request)
    url = form.get("url", "").strip()
    if not url:
        raise BadRequest("give the URL to import from")
    task = await services(request).imports.start_fetched(
        session.caller,
        artifact_changes(form, name_from_url(url)),
        None,
        url,
        form.get("sha256", "").strip().lower() or None,
        published=settings_of(request).published_by_default.web,
        request_id=request_id(request),
    )
    return RedirectResponse(path_for(request, "task", task_id=task.id), 303)


async def _set_published(request: Request, session: Session, published: bool) -> Response:
    artifact = await services(request).catalogue.set_published(
        session.caller, request.path_params["artifact_id"], published
    )
    done = "published" if published else "unpublished"
    page = path_for(request, "artifact", artifact_id=artifact.id)
    return RedirectResponse(f"{page}?done={done}", 303)
