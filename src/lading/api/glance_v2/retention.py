"""/v2/retention: retention policies, their plan, and runs (docs/retention.md).

lading's own addition beside Glance's API (Glance clients never call it):

- ``GET /v2/retention/policies?project=``: the caller's project's policies (an
  administrator's: every project's, or ``project``'s).
- ``POST /v2/retention/policies``: a new policy (201).
- ``GET``, ``DELETE /v2/retention/policies/{policy_id}``.
- ``GET /v2/retention/plan?project=&limit=``: what the policies would do, changing
  nothing: each artifact's next step and when, the bytes each policy frees.
- ``POST /v2/retention/runs`` ``{"project": ...}``: a run, as a task (202).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.paths import Routes, path_for
from lading.api.glance_v2.tasks import task_view
from lading.api.query import single
from lading.clock import timestamp
from lading.domain import RetentionPolicy
from lading.errors import BadRequest
from lading.http.requests import caller, endpoint, parse_count, read_json, request_id, services
from lading.services.retention import Plan, PlannedStep

PLAN_LIMIT = 1000  # steps a plan shows unless asked for fewer or more
PLAN_LIMIT_MAX = 100_000


def policy_view(routes: Routes, policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "project": policy.project,
        "pattern": policy.pattern,
        "kind": policy.kind.value,
        "keep_newest": policy.keep_newest,
        "keep_younger_days": policy.keep_younger_days,
        "keep_downloaded_days": policy.keep_downloaded_days,
        "hide_after_days": policy.hide_after_days,
        "deactivate_after_days": policy.deactivate_after_days,
        "delete_after_days": policy.delete_after_days,
        "created_at": timestamp(policy.created_at),
        "self": path_for(routes, "retention_policy", policy_id=policy.id),
    }


def step_view(step: PlannedStep) -> dict[str, Any]:
    return {
        "image_id": step.artifact_id,
        "owner": step.owner,
        "name": step.name,
        "version": step.version,
        "size": step.size,
        "action": step.action,
        "due_at": timestamp(step.due_at),
        "reached": step.reached,
        "policies": list(step.policies),
        "frees_bytes": step.frees_bytes,
    }


def plan_view(routes: Routes, plan: Plan, limit: int) -> dict[str, Any]:
    steps = sorted(plan.steps, key=lambda step: (step.due_at, step.artifact_id))
    return {
        "made_at": timestamp(plan.made_at),
        "frees_bytes": plan.frees_bytes,
        "policies": [
            policy_view(routes, summary.policy)
            | {"retires": summary.artifacts, "frees_bytes": summary.frees_bytes}
            for summary in plan.policies
        ],
        "steps": [step_view(step) for step in steps[:limit]],
        "steps_total": len(steps),
    }


async def list_policies(request: Request) -> Response:
    project = _only(request, {"project"}).get("project")
    found = await services(request).retention.policies(caller(request), project)
    return JSONResponse({"policies": [policy_view(request.app, policy) for policy in found]})


async def create_policy(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    policy = await services(request).retention.create_policy(caller(request), body)
    location = f"{endpoint(request)}/v2/retention/policies/{policy.id}"
    return JSONResponse(policy_view(request.app, policy), 201, {"location": location})


async def show_policy(request: Request) -> Response:
    policy = await services(request).retention.policy(
        caller(request), request.path_params["policy_id"]
    )
    return JSONResponse(policy_view(request.app, policy))


async def delete_policy(request: Request) -> Response:
    await services(request).retention.delete_policy(
        caller(request), request.path_params["policy_id"]
    )
    return Response(status_code=204)


async def show_plan(request: Request) -> Response:
    params = _only(request, {"project", "limit"})
    limit = PLAN_LIMIT
    if "limit" in params:
        limit = min(parse_count("limit", params["limit"]), PLAN_LIMIT_MAX)
    plan = await services(request).retention.plan_for(caller(request), params.get("project"))
    return JSONResponse(plan_view(request.app, plan, limit))


async def start_run(request: Request) -> Response:
    body = await read_json(request)
    if not isinstance(body, dict) or not set(body) <= {"project"}:
        raise BadRequest("the body must be a JSON object, with a project or none")
    project = body.get("project")
    if project is not None and not isinstance(project, str):
        raise BadRequest("project is a project id")
    task = await services(request).retention.submit_run(
        caller(request), project, request_id=request_id(request)
    )
    headers = {"location": f"{endpoint(request)}/v2/tasks/{task.id}"}
    return JSONResponse(task_view(request.app, task), 202, headers)


def _only(request: Request, names: set[str]) -> dict[str, str]:
    params = request.query_params.multi_items()
    if unknown := {key for key, _ in params} - names:
        raise BadRequest(f"unknown query parameters: {', '.join(sorted(unknown))}")
    return {name: value for name in names if (value := single(params, name)) is not None}


ROUTES: list[BaseRoute] = [
    Route("/retention/policies", list_policies, methods=["GET"], name="retention_policies"),
    Route("/retention/policies", create_policy, methods=["POST"]),
    Route("/retention/policies/{policy_id}", show_policy, methods=["GET"], name="retention_policy"),
    Route("/retention/policies/{policy_id}", delete_policy, methods=["DELETE"]),
    Route("/retention/plan", show_plan, methods=["GET"]),
    Route("/retention/runs", start_run, methods=["POST"]),
]
