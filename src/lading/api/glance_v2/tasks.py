"""Tasks as Glance v2 shows them: /v2/tasks, /v2/tasks/{id} and /v2/images/{id}/tasks."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.listing import page_links
from lading.api.glance_v2.paths import Routes, path_for, schema
from lading.api.query import page_limit, single
from lading.clock import timestamp
from lading.documents import task_document
from lading.domain import Task, TaskStatus
from lading.errors import BadRequest
from lading.http.requests import caller, endpoint, read_json, request_id, services

FILTERS = ("type", "status")


def task_view(routes: Routes, task: Task, brief: bool = False) -> dict[str, Any]:
    """The task document; listings leave out ``input``, ``result`` and who made the task,
    as Glance does. ``user_id`` is null for lading's own tokens (they name no user), as
    ``request_id`` is for tasks made before lading kept it; Glance leaves such keys out."""
    document = task_document(task) | {
        "progress": {"done_bytes": task.done_bytes, "total_bytes": task.total_bytes},
        "expires_at": timestamp(task.expires_at) if task.expires_at else None,
        "self": path_for(routes, "task", task_id=task.id),
        "schema": schema(routes, "task"),
    }
    if not brief:
        document |= {
            "input": task.shown_input,
            "result": task.result,
            "request_id": task.request_id,
            "user_id": task.user_id,
        }
    return document


async def list_tasks(request: Request) -> Response:
    params = request.query_params.multi_items()
    unknown = {key for key, _ in params} - {*FILTERS, "limit", "marker", "sort_dir", "sort_key"}
    if unknown:
        raise BadRequest(f"unknown parameters {sorted(unknown)}")
    status = single(params, "status")
    if status is not None and status not in {s.value for s in TaskStatus}:
        raise BadRequest(f"status must be one of {[s.value for s in TaskStatus]}")
    sort_key, sort_dir = single(params, "sort_key"), single(params, "sort_dir")
    if sort_key not in (None, "created_at") or sort_dir not in (None, "desc"):
        raise BadRequest("tasks are listed newest first (sort_key=created_at, sort_dir=desc)")
    limit = page_limit(params)
    found = await services(request).tasks.list_page(
        caller(request),
        status=status,
        task_type=single(params, "type"),
        limit=limit,
        marker=single(params, "marker"),
    )
    last = found[-1].id if found else None
    return JSONResponse(
        {
            "tasks": [task_view(request.app, task, brief=True) for task in found],
            "schema": schema(request.app, "tasks"),
            **page_links(path_for(request.app, "tasks"), params, last, full=len(found) == limit),
        }
    )


async def create_task(request: Request) -> Response:
    """Glance's legacy import task (administrators, by Glance's default policy)."""
    task = await services(request).imports.start_legacy(
        caller(request), await read_json(request), request_id=request_id(request)
    )
    headers = {"location": f"{endpoint(request)}/v2/tasks/{task.id}"}
    return JSONResponse(task_view(request.app, task), 201, headers)


async def show_task(request: Request) -> Response:
    task = await services(request).tasks.get(caller(request), request.path_params["task_id"])
    return JSONResponse(task_view(request.app, task))


async def image_tasks(request: Request) -> Response:
    who = caller(request)
    artifact = await services(request).catalogue.get(who, request.path_params["image_id"])
    found = await services(request).tasks.of_artifact(who, artifact)
    return JSONResponse({"tasks": [task_view(request.app, task) for task in found]})


ROUTES: list[BaseRoute] = [
    Route("/tasks", list_tasks, methods=["GET"], name="tasks"),
    Route("/tasks", create_task, methods=["POST"], name="tasks"),
    Route("/tasks/{task_id}", show_task, methods=["GET"], name="task"),
    Route("/images/{image_id}/tasks", image_tasks, methods=["GET"]),
]
