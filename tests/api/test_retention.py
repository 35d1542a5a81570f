"""/v2/retention over HTTP: policies made, listed and deleted by their project (every
project's by administrators), the plan each caller may see, a run as a task, downloads
through the faces recorded for the rules, and the plan's bytes in the metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lading.app import create_app
from lading.db import retention
from lading.settings import Settings
from tests.world import World, open_world

POLICY = {"keep_newest": 1, "hide_after_days": 0, "deactivate_after_days": 0,
          "delete_after_days": 0}  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, task_poll_interval=0.05
    )
    with open_world(create_app(settings)) as opened:
        yield opened


def image(world: World, name: str, who: str = "owner", data: bytes | None = None) -> str:
    made = world.request("POST", "/v2/images", who, json={
        "name": name, "disk_format": "raw", "container_format": "bare"})  # fmt: skip
    assert made.status_code == 201, made.text
    image_id: str = made.json()["id"]
    body = data if data is not None else image_id.encode()
    stored = world.request("PUT", f"/v2/images/{image_id}/file", who, content=body,
                           headers={"content-type": "application/octet-stream"})  # fmt: skip
    assert stored.status_code == 204, stored.text
    return image_id


def test_policies_belong_to_their_project(world: World) -> None:
    made = world.request("POST", "/v2/retention/policies", "owner", json={
        "pattern": "ci-*", "keep_newest": 3})  # fmt: skip
    assert made.status_code == 201, made.text
    policy = made.json()
    assert (policy["project"], policy["kind"], policy["deactivate_after_days"]) == ("A", "any", 7)
    assert made.headers["location"].endswith(policy["self"])
    assert world.get("owner", "/v2/retention/policies").json()["policies"] == [policy]
    assert world.get("other", "/v2/retention/policies").json()["policies"] == []
    assert world.get("admin", "/v2/retention/policies").json()["policies"] == [policy]
    assert world.get("other", policy["self"]).status_code == 404
    assert world.request("DELETE", policy["self"], "other").status_code == 404
    for body in ({"keep_newest": "3"}, {"pattern": "x"}, {"keep_newest": 1, "project": "B"},
                 ["keep_newest"]):  # fmt: skip
        refused = world.request("POST", "/v2/retention/policies", "owner", json=body)
        assert refused.status_code in (400, 403), (body, refused.text)
    assert world.request("DELETE", policy["self"], "owner").status_code == 204
    assert world.get("owner", policy["self"]).status_code == 404


def test_the_plan_a_run_and_the_metric(world: World) -> None:
    old = image(world, "disk", data=b"o" * 1000)
    new = image(world, "disk")
    theirs = [image(world, "disk", "other") for _ in range(2)]
    assert world.request("POST", "/v2/retention/policies", "owner", json=POLICY).status_code == 201

    plan = world.get("owner", "/v2/retention/plan").json()
    assert [(step["image_id"], step["action"]) for step in plan["steps"]] == [(old, "hide")]
    assert plan["frees_bytes"] == 1000 == plan["policies"][0]["frees_bytes"]
    assert (plan["steps_total"], plan["policies"][0]["retires"]) == (1, 1)
    assert world.get("other", "/v2/retention/plan").json()["steps"] == []
    assert world.get("other", "/v2/retention/plan", project="A").status_code == 403
    assert world.get("admin", "/v2/retention/plan", project="A").json()["frees_bytes"] == 1000
    assert world.get("owner", "/v2/retention/plan", limit="0").json()["steps"] == []
    assert world.get("owner", "/v2/retention/plan", colour="red").status_code == 400

    metrics = world.client.get("/metrics").text
    assert re.search(r'lading_reclaimable_bytes\{reason="retention"\} 1000', metrics), metrics

    started = world.request("POST", "/v2/retention/runs", "owner", json={})
    assert started.status_code == 202, started.text
    task = world.wait(started.json()["id"])
    assert task["status"] == "success", task
    assert (task["type"], task["result"]["deleted"]) == ("retention", [old])
    assert task["result"]["freed_bytes"] == 1000
    assert world.get("owner", f"/v2/images/{old}").status_code == 404
    for kept in (new, *theirs):
        assert world.get("admin", f"/v2/images/{kept}").json()["status"] == "active"
    refused = world.request("POST", "/v2/retention/runs", "other", json={"project": "A"})
    assert refused.status_code == 403


def test_downloads_on_any_face_are_recorded(world: World) -> None:
    image_id = image(world, "disk")
    answer = world.get("owner", f"/v2/images/{image_id}/file")
    assert answer.status_code == 200
    stored = world.request("PUT", "/packages/tool-1.0.tar.gz", "owner", content=b"package")
    assert stored.status_code in (200, 201, 204), stored.text
    assert world.get("owner", "/packages/tool-1.0.tar.gz").content == b"package"
    listed: Any = world.get("owner", "/v2/images", name="tool").json()["images"]
    package_id = listed[0]["id"]
    written = world.call(world.services.downloads.flush)
    assert written == 2
    database = world.services.tasks._database  # the app's own catalogue
    for artifact_id in (image_id, package_id):
        assert database.run(False, retention.last_downloaded, artifact_id) is not None
    untouched = image(world, "other")
    head = world.request("HEAD", f"/v2/images/{untouched}/file", "owner")
    assert head.status_code == 200
    assert world.call(world.services.downloads.flush) == 0  # a HEAD serves no data
    assert database.run(False, retention.last_downloaded, untouched) is None


@pytest.mark.parametrize(
    "body",
    [
        {"keep_newest": 1, "kind": ["image"]},
        {"keep_newest": 1, "kind": "disk"},
        {"keep_newest": 1, "pattern": 7},
        {"keep_newest": 1, "pattern": "x" * 256},
        {"keep_newest": 1.5},
        {"keep_newest": True},
        {"keep_newest": 10**30},
        {"keep_younger_days": -1},
        {"keep_newest": 1, "delete_after_days": None},
        {"keep_newest": 1, "project": ["A"]},
        {"keep_newest": 1, "project": ""},
        {"keep_newest": None, "keep_younger_days": None},
        "keep_newest",
        None,
    ],
)
def test_hostile_policies_are_400(world: World, body: Any) -> None:
    refused = world.request("POST", "/v2/retention/policies", "owner", json=body)
    assert refused.status_code == 400, refused.text
    assert world.get("owner", "/v2/retention/policies").json()["policies"] == []


def test_hostile_plan_and_run_requests_are_400(world: World) -> None:
    for params in ({"limit": "-1"}, {"limit": "x" * 40}, {"project": ["A", "B"]}):
        assert world.get("admin", "/v2/retention/plan", **params).status_code == 400, params
    bodies: list[Any] = [{"project": 7}, {"everything": True}, [], "x"]
    for body in bodies:
        started = world.request("POST", "/v2/retention/runs", "admin", json=body)
        assert started.status_code == 400, (body, started.text)
    broken = world.request("POST", "/v2/retention/runs", "admin", content=b"{not json",
                           headers={"content-type": "application/json"})  # fmt: skip
    assert broken.status_code == 400
    for policy_id in ("not-a-policy", "%2E%2E%2Fimages", "x" * 5000):
        assert world.get("owner", f"/v2/retention/policies/{policy_id}").status_code == 404
