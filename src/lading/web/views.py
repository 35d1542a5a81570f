"""The pages that show: the artifact list, an artifact, a task (and its progress)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lading.domain import DISK_FORMATS, Artifact, Status, Task, TaskStatus
from lading.http.requests import services
from lading.services.access import Caller
from lading.web.listing import LIMITS, SORT_KEYS, STATUSES, VISIBILITIES, Search
from lading.web.pages import pages_of
from lading.web.paths import path_for
from lading.web.session import Session, page, script

# What a redirect after an action asks the next page to say (``?done=...``): only these.
NOTICES = {
    "deleted": "The artifact was deleted.",
    "published": "The artifact is published.",
    "unpublished": "The artifact is no longer published.",
    "uploaded": "The data was uploaded.",
    "created": "The artifact was created, without data.",
}
TASK_POLL_MS = 1000
CHOICES = {"status": STATUSES, "visibility": VISIBILITIES, "limit": LIMITS, "sort": SORT_KEYS,
           "disk_format": DISK_FORMATS}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Allowed:
    """What the page offers to do with an artifact: what its caller may do now."""

    download: bool
    upload: bool
    delete: bool
    publish: bool

    @classmethod
    def of(cls, caller: Caller, artifact: Artifact) -> Allowed:
        has_data = artifact.status is Status.ACTIVE or (
            artifact.status is Status.DEACTIVATED and caller.is_admin
        )
        return cls(
            download=has_data
            and bool(artifact.locations)
            and caller.may("download_image", artifact),
            upload=artifact.status is Status.QUEUED and caller.may_change(artifact, "upload_image"),
            delete=not artifact.protected and caller.may_change(artifact, "delete_image"),
            publish=caller.may_change(artifact, "publish_image"),
        )


def notice(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("done", ""))


@page
async def artifact_list(request: Request, session: Session) -> Response:
    search = Search.parse(request.query_params, path_for(request, "list"))
    found = await services(request).catalogue.list_page(
        session.caller, search.query(), search.marker or None
    )
    following = search.link(marker=found[-1].id) if len(found) == search.limit else None
    return pages_of(request).render(
        request,
        "list.html",
        session,
        {
            "artifacts": found,
            "search": search,
            "next_page": following,
            "notice": notice(request),
            "choices": CHOICES,
        },
    )


@page
async def artifact_page(request: Request, session: Session) -> Response:
    found = services(request)
    artifact = await found.catalogue.get(session.caller, request.path_params["artifact_id"])
    locations = found.transfers.shown_locations(session.caller, artifact).places
    return pages_of(request).render(
        request,
        "artifact.html",
        session,
        {
            "artifact": artifact,
            "allowed": Allowed.of(session.caller, artifact),
            "made_by": found.catalogue.made_by(session.caller, artifact),
            "tasks": await found.tasks.of_artifact(session.caller, artifact),
            "locations": locations,
            "multistore": bool(found.transfers.store_choices()),
            "notice": notice(request),
        },
    )


@page
async def task_page(request: Request, session: Session) -> Response:
    task = await services(request).tasks.get(session.caller, request.path_params["task_id"])
    return pages_of(request).render(
        request, "task.html", session, {"task": task, "poll_ms": TASK_POLL_MS}
    )


@script
async def task_progress(request: Request, session: Session) -> Response:
    """A task's state, for the page that follows it."""
    task = await services(request).tasks.get(session.caller, request.path_params["task_id"])
    return JSONResponse(task_state(request, task), headers={"cache-control": "no-store"})


def task_state(request: Request, task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "type": task.type,
        "status": task.status.value,
        "message": task.message,
        "done_bytes": task.done_bytes,
        "total_bytes": task.total_bytes,
        "artifact": (
            path_for(request, "artifact", artifact_id=task.artifact_id)
            if task.artifact_id
            else None
        ),
        "finished": task.status in (TaskStatus.SUCCESS, TaskStatus.FAILURE),
    }
