"""Tasks over HTTP: /v2/tasks, /v2/tasks/{id}, /v2/images/{id}/tasks, run by the app's own
worker loop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from lading.app import create_app
from lading.db.engine import Database
from lading.db.models import tasks
from lading.db.tasks import insert_task
from lading.domain import Task
from lading.services.tasks import Progress
from lading.settings import Settings
from tests.api.helpers import assert_error
from tests.json_schemas import conforms
from tests.world import World, open_world


@pytest.fixture
def identities() -> dict[str, tuple[str, str]]:
    return {"owner": ("A", "member"), "other": ("B", "member"), "admin": ("C", "admin")}


@pytest.fixture
def world(
    tmp_path: Path, database_url: str, identities: dict[str, tuple[str, str]]
) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                        task_poll_interval=0.02)  # fmt: skip
    app = create_app(settings)

    async def count(task: Task, progress: Progress) -> dict[str, Any]:
        await progress.report(task.input["n"], task.input["n"], f"Counted {task.input['n']}")
        return {"counted": task.input["n"]}

    app.state.services.tasks.register("count", count)
    with open_world(app, identities) as opened:
        yield opened


def test_tasks_run_and_are_shown_as_glance_shows_them(world: World) -> None:
    image = world.client.post(
        "/v2/images", json={"name": "x"}, headers={"x-auth-token": world.tokens["owner"]}
    ).json()
    submit = world.services.tasks.submit
    task = world.call(submit, "A", "count", {"n": 7}, image["id"])
    done = world.wait(task.id)
    conforms(done, world.get("owner", "/v2/schemas/task").json())
    assert done["status"] == "success" and done["result"] == {"counted": 7}
    assert done["input"] == {"n": 7} and done["image_id"] == image["id"]
    assert done["progress"] == {"done_bytes": 7, "total_bytes": 7}
    assert done["message"] == "Counted 7" and done["self"] == f"/v2/tasks/{task.id}"
    listed = world.get("owner", "/v2/tasks").json()
    conforms(listed, world.get("owner", "/v2/schemas/tasks").json())
    assert [t["id"] for t in listed["tasks"]] == [task.id] and "input" not in listed["tasks"][0]
    of_image = world.get("owner", f"/v2/images/{image['id']}/tasks").json()
    assert [t["id"] for t in of_image["tasks"]] == [task.id]
    assert world.get("owner", "/v2/tasks", status="pending").json()["tasks"] == []
    # Another project sees neither the task nor the image's tasks.
    assert_error(world.get("other", f"/v2/tasks/{task.id}"), 404)
    assert world.get("other", "/v2/tasks").json()["tasks"] == []
    assert_error(world.get("other", f"/v2/images/{image['id']}/tasks"), 404)


def test_a_task_says_which_request_and_user_made_it(world: World, database_url: str) -> None:
    """As Glance's tasks: ``request_id`` and ``user_id`` beside the input (in columns of
    their own), which the runner gets as it was given; null when unknown."""
    seen: list[dict[str, Any]] = []

    async def record(task: Task, progress: Progress) -> dict[str, Any]:
        seen.append(task.input)
        return {}

    world.services.tasks.register("record", record)
    task = world.services.tasks.new("A", "record", {"n": 1}, request_id="req-1", user_id="u-1")
    database = Database(database_url)
    try:
        anyio.run(database.write, insert_task, task)
        query = select(tasks).where(tasks.c.id == task.id)
        row = database.run(False, lambda connection: connection.execute(query).one())
    finally:
        database.dispose()
    assert (row.request_id, row.user_id) == ("req-1", "u-1")
    assert json.loads(row.input) == {"n": 1}
    done = world.wait(task.id)
    conforms(done, world.get("owner", "/v2/schemas/task").json())
    assert done["request_id"] == "req-1" and done["user_id"] == "u-1"
    assert done["input"] == {"n": 1} and seen == [{"n": 1}]
    listed = world.get("owner", "/v2/tasks").json()["tasks"]
    assert "request_id" not in listed[0] and "user_id" not in listed[0]  # as Glance lists
    unknown = world.wait(world.call(world.services.tasks.submit, "A", "count", {"n": 2}).id)
    conforms(unknown, world.get("owner", "/v2/schemas/task").json())
    assert unknown["request_id"] is None and unknown["user_id"] is None


def test_an_image_s_tasks_are_shown_only_to_whom_may_see_them(world: World) -> None:
    """As Glance's ``GET /v2/images/{id}/tasks``: the image's tasks that the caller may
    see, which for another project are none of the owner's, even of a public image (a
    task's input, result and message may carry URLs and their credentials); the same
    rule as ``GET /v2/tasks/{id}``."""
    owner = {"x-auth-token": world.tokens["owner"]}
    image = world.client.post("/v2/images", json={"name": "shown"}, headers=owner).json()
    made_public = world.client.patch(
        f"/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/visibility", "value": "public"}],
        headers={"x-auth-token": world.tokens["admin"],
                 "content-type": "application/openstack-images-v2.1-json-patch"},
    )  # fmt: skip
    assert made_public.status_code == 200, made_public.text
    submit = world.services.tasks.submit
    secret = {"n": 1, "uri": "https://user:s3cret@example.org/disk.img"}
    theirs = world.wait(world.call(submit, "A", "count", secret, image["id"]).id)
    mine = world.wait(world.call(submit, "B", "count", {"n": 2}, image["id"]).id, "other")
    path = f"/v2/images/{image['id']}/tasks"

    assert world.get("other", f"/v2/images/{image['id']}").status_code == 200
    seen_by_other = world.get("other", path)
    assert seen_by_other.status_code == 200
    assert [t["id"] for t in seen_by_other.json()["tasks"]] == [mine["id"]]
    assert "s3cret" not in seen_by_other.text and "example.org" not in seen_by_other.text
    assert_error(world.get("other", f"/v2/tasks/{theirs['id']}"), 404)

    seen_by_owner = world.get("owner", path).json()["tasks"]
    assert [t["id"] for t in seen_by_owner] == [theirs["id"]]
    assert seen_by_owner[0]["input"] == secret and seen_by_owner[0]["result"] == {"counted": 1}
    seen_by_admin = world.get("admin", path).json()["tasks"]
    assert {t["id"] for t in seen_by_admin} == {theirs["id"], mine["id"]}
    assert next(t for t in seen_by_admin if t["id"] == theirs["id"])["input"] == secret


def test_task_pages_and_bad_parameters(world: World) -> None:
    submit = world.services.tasks.submit
    made = [world.call(submit, "A", "count", {"n": n}).id for n in range(5)]
    first = world.get("owner", "/v2/tasks", limit=2).json()
    assert len(first["tasks"]) == 2 and "marker=" in first["next"]
    seen = [t["id"] for t in first["tasks"]]
    while "next" in first:
        first = world.client.get(
            first["next"], headers={"x-auth-token": world.tokens["owner"]}
        ).json()
        seen += [t["id"] for t in first["tasks"]]
    assert sorted(seen) == sorted(made) and len(seen) == 5
    for params in ({"status": "done"}, {"sort_key": "type"}, {"sort_dir": "asc"}, {"owner": "A"},
                   {"limit": "-1"}):  # fmt: skip
        assert_error(world.get("owner", "/v2/tasks", **params), 400)
    assert_error(world.get("owner", "/v2/tasks", marker="nope"), 400)
    assert_error(world.get("owner", "/v2/tasks/nope"), 404)
    assert_error(world.client.get("/v2/tasks"), 401)


def test_healthcheck_reports_the_backlog(world: World) -> None:
    assert world.client.get("/healthcheck").text == "OK"
    answer = world.client.get("/healthcheck", headers={"accept": "application/json"}).json()
    assert answer["status"] == "OK" and set(answer["tasks"]) == {"pending", "processing"}
