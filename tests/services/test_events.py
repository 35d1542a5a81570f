"""Events are recorded in the transaction of the change that makes them (an outbox), once
per real change, for the webhooks that want them; what they carry never says where the
data lies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select
from starlette.routing import Router

from lading import faces
from lading.api.glance_v2.views import image_view
from lading.db.artifacts import fetch_artifact
from lading.db.engine import Database
from lading.db.models import tasks
from lading.domain import (
    Artifact,
    EventType,
    Location,
    Maker,
    Status,
    Task,
    TaskStatus,
    Visibility,
)
from lading.errors import BadRequest, Conflict, Forbidden
from lading.services import Services
from lading.services.access import Caller
from lading.services.events import Events, Outbox, artifact_data
from lading.services.roles import MEMBER
from lading.services.tasks import Progress
from lading.services.transfers import Expected
from lading.services.validation import Changes
from lading.settings import Settings, WebhookSettings
from lading.stores.registry import StoreRegistry
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio
HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 32}


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def built(
    tmp_path: Path, database: Database, store: FaultyStore, webhooks: dict[str, Any], **more: Any
) -> Services:
    settings = Settings(data_dir=tmp_path, webhooks=webhooks, **more)
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"))


def recorded(database: Database, webhook: str | None = None) -> list[dict[str, Any]]:
    """The events recorded for delivery (to ``webhook``), oldest first."""
    query = select(tasks.c.input).where(tasks.c.type == "webhook").order_by(tasks.c.created_at)
    rows = database.run(False, lambda connection: list(connection.execute(query).scalars()))
    found = [json.loads(row) for row in rows]
    return [
        json.loads(task_input["body"])
        for task_input in found
        if webhook is None or task_input["webhook"] == webhook
    ]


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(event["type"], event["data"]["id"]) for event in events]


async def test_a_change_and_its_events_commit_or_roll_back_together(
    tmp_path: Path, database: Database, store: FaultyStore, admin: Caller
) -> None:
    services = built(tmp_path, database, store, {"hook": HOOK})
    artifact = await services.catalogue.create(admin, Changes({"name": "a"}))
    (created,) = recorded(database)
    assert created["type"] == "artifact.created" and created["data"]["name"] == "a"

    def change_then_fail(connection: Connection) -> None:
        events = Events({"hook": WebhookSettings.model_validate(HOOK)})
        events.artifact(connection, EventType.ARTIFACT_UPDATED, artifact.id, admin)
        raise Conflict("the change failed after its event was recorded")

    with pytest.raises(Conflict):
        await database.write(change_then_fail)
    # An upload whose bytes are wrong never activates anything.
    with pytest.raises(BadRequest):
        await services.transfers.upload(
            admin, artifact.id, body(b"data"), expected=Expected(md5="0" * 32)
        )
    assert kinds(recorded(database)) == [("artifact.created", artifact.id)]


async def test_the_outbox_records_an_event_only_for_a_change_that_happened(
    tmp_path: Path, database: Database, store: FaultyStore, admin: Caller
) -> None:
    services = built(tmp_path, database, store, {"hook": HOOK})
    artifact = await services.catalogue.create(admin, Changes({"name": "a"}))
    outbox = Outbox(database, Events({"hook": WebhookSettings.model_validate(HOOK)}))
    updated = EventType.ARTIFACT_UPDATED
    assert await outbox.write(lambda connection: False, updated, artifact.id, admin) is False
    assert await outbox.write(lambda connection: True, None, artifact.id, admin) is True
    assert kinds(recorded(database)) == [("artifact.created", artifact.id)]
    assert await outbox.write(lambda connection: True, updated, artifact.id, admin) is True
    assert kinds(recorded(database))[-1] == ("artifact.updated", artifact.id)


async def test_without_webhooks_nothing_is_recorded(
    services: Services, admin: Caller, database: Database
) -> None:
    artifact = await services.catalogue.create(admin, Changes({"name": "a"}))
    await services.transfers.upload(admin, artifact.id, body(b"data"))
    await services.catalogue.delete(admin, artifact.id)
    counted = database.run(False, lambda c: c.execute(select(tasks.c.id)).all())
    assert counted == []


async def test_each_webhook_is_told_what_it_wants(
    tmp_path: Path, database: Database, store: FaultyStore, admin: Caller
) -> None:
    webhooks = {"all": HOOK, "deletions": {**HOOK, "events": ["artifact.deleted"]},
                "tasks": {**HOOK, "events": ["task.*"]}}  # fmt: skip
    services = built(tmp_path, database, store, webhooks)
    artifact = await services.catalogue.create(admin, Changes({"name": "a"}))
    await services.catalogue.add_tag(admin, artifact.id, "x")
    await services.catalogue.add_tag(admin, artifact.id, "x")  # had it: no change
    with pytest.raises(Forbidden):  # queued: refused, no event
        await services.catalogue.deactivate(admin, artifact.id)
    await services.catalogue.delete(admin, artifact.id)

    async def count(task: Task, progress: Progress) -> dict[str, int]:
        return {"counted": 1}

    services.tasks.register("count", count)
    task = await services.tasks.run_here("p", "count", {}, count)  # the queue has deliveries
    assert kinds(recorded(database, "all")) == [
        ("artifact.created", artifact.id), ("artifact.updated", artifact.id),
        ("artifact.deleted", artifact.id), ("task.finished", task.id),
    ]  # fmt: skip
    assert kinds(recorded(database, "deletions")) == [("artifact.deleted", artifact.id)]
    (finished,) = recorded(database, "tasks")
    assert finished["data"] == finished["data"] | {"type": "count", "status": "success",
                                                   "result": {"counted": 1}}  # fmt: skip
    # One event, one id, whoever is told of it.
    assert recorded(database, "deletions")[0]["id"] == recorded(database, "all")[2]["id"]


async def test_each_event_names_who_made_the_change_and_the_row_who_made_it(
    tmp_path: Path, database: Database, store: FaultyStore, admin: Caller
) -> None:
    """The caller's project and user (a Keystone token's); lading's own tokens name no
    user; what lading does on its own (a task's end) names nobody."""
    services = built(tmp_path, database, store, {"hook": HOOK})
    alice = replace(Caller.with_role("p", MEMBER), user="u-alice")
    made = await services.catalogue.create(alice, Changes({"name": "a"}))
    await services.transfers.upload(alice, made.id, body(b"data"))
    await services.catalogue.add_tag(admin, made.id, "checked")  # an admin of another project
    await services.catalogue.delete(alice, made.id)
    # An administrator's artifact for another project is made by the administrator's.
    for_p = await services.catalogue.create(admin, Changes({"name": "b", "owner": "p"}))
    # An upload that fails takes back the artifact it made: alice's doing too.
    with pytest.raises(BadRequest):
        await services.transfers.create_uploaded(
            alice, Changes({"name": "c"}), body(b"data"), expected=Expected(md5="0" * 32)
        )

    async def count(task: Task, progress: Progress) -> dict[str, int]:
        return {"counted": 1}

    services.tasks.register("count", count)
    task = await services.tasks.run_here(
        "p", "count", {}, count, request_id="req-1", user_id="u-alice"
    )
    events = recorded(database)
    by_alice = {"project_id": "p", "user_id": "u-alice"}
    by_admin = {"project_id": "project", "user_id": None}
    failed = events[-3]["data"]["id"]
    assert [(event["type"], event["data"]["id"], event["actor"]) for event in events] == [
        ("artifact.created", made.id, by_alice), ("artifact.activated", made.id, by_alice),
        ("artifact.updated", made.id, by_admin), ("artifact.deleted", made.id, by_alice),
        ("artifact.created", for_p.id, by_admin),
        ("artifact.created", failed, by_alice), ("artifact.deleted", failed, by_alice),
        ("task.finished", task.id, None),
    ]  # fmt: skip
    finished = events[-1]["data"]
    assert (finished["request_id"], finished["user_id"]) == ("req-1", "u-alice")
    # Who made it is the row's, not the image's: Glance v2 has no such key.
    assert "created_by" not in events[0]["data"] and "user_id" not in events[0]["data"]
    rows = {
        artifact_id: await database.read(fetch_artifact, artifact_id)
        for artifact_id in (made.id, for_p.id, failed)
    }
    assert {key: (row.owner, row.created_by_project, row.created_by)
            for key, row in rows.items() if row is not None} == {
        made.id: ("p", "p", "u-alice"), for_p.id: ("p", "project", None),
        failed: ("p", "p", "u-alice"),
    }  # fmt: skip
    # Who made it is told to its project, the maker's and administrators, not to others.
    shown = replace(
        made, created_by_project="p", created_by="u-alice", visibility=Visibility.PUBLIC
    )
    catalogue, bob = services.catalogue, Caller.with_role("q", MEMBER)
    assert (
        catalogue.made_by(alice, shown) == catalogue.made_by(admin, shown) == Maker("p", "u-alice")
    )
    assert catalogue.made_by(bob, shown) is None
    assert catalogue.made_by(bob, replace(shown, created_by_project="q")) == Maker("q", "u-alice")


async def test_deactivating_updates_and_reactivating_activates(
    tmp_path: Path, database: Database, store: FaultyStore, admin: Caller
) -> None:
    services = built(tmp_path, database, store, {"hook": {**HOOK, "events": ["artifact.*"]}})
    artifact = await services.catalogue.create(admin, Changes({"name": "a"}))
    await services.transfers.upload(admin, artifact.id, body(b"data"))
    await services.catalogue.deactivate(admin, artifact.id)
    await services.catalogue.deactivate(admin, artifact.id)  # deactivated already
    await services.catalogue.reactivate(admin, artifact.id)
    events = recorded(database)
    assert [event["type"] for event in events] == [
        "artifact.created", "artifact.activated", "artifact.updated", "artifact.activated"
    ]  # fmt: skip
    assert [event["data"]["status"] for event in events] == [
        "queued", "active", "deactivated", "active"
    ]  # fmt: skip


async def test_a_delayed_delete_is_told_once(
    tmp_path: Path, database: Database, store: FaultyStore, admin: Caller
) -> None:
    webhooks = {"hook": {**HOOK, "events": ["artifact.deleted"]}}
    services = built(tmp_path, database, store, webhooks, delayed_delete=True)
    artifact = await services.catalogue.create(admin, Changes({"name": "a"}))
    await services.catalogue.delete(admin, artifact.id)
    assert await services.catalogue.scrub(0) == 1  # the scrub that follows tells nothing
    (deleted,) = recorded(database)
    assert deleted["data"]["status"] == "pending_delete" and "deleted_at" in deleted["data"]


async def test_a_replaced_package_is_deleted_and_its_successor_named(
    tmp_path: Path, database: Database, store: FaultyStore, admin: Caller
) -> None:
    services = built(tmp_path, database, store, {"hook": HOOK}, pnda={"immutable": False})
    first = await services.packages.put_file(admin, "app-1.0.tar.gz", body(b"one"))
    second = await services.packages.put_file(admin, "app-1.0.tar.gz", body(b"two"))
    # A package is stored unnamed, then named as it becomes active, replacing one if any.
    assert kinds(recorded(database)) == [
        ("artifact.created", first.id), ("artifact.activated", first.id),
        ("artifact.created", second.id), ("artifact.deleted", first.id),
        ("artifact.activated", second.id),
    ]  # fmt: skip
    assert recorded(database)[-1]["data"]["filename"] == "app-1.0.tar.gz"


async def test_a_delivery_ending_is_no_event(database: Database) -> None:
    events = Events({"hook": WebhookSettings.model_validate(HOOK)})
    moment = datetime(2026, 1, 1)

    def ended(task_type: str) -> Task:
        return Task(id=task_type, type=task_type, status=TaskStatus.SUCCESS, owner="p",
                    input={}, created_at=moment, updated_at=moment)  # fmt: skip

    await database.write(events.task_finished, ended("webhook"))
    assert recorded(database) == []
    await database.write(events.task_finished, ended("api_image_import"))
    assert kinds(recorded(database)) == [("task.finished", "api_image_import")]


def test_artifact_data_is_the_v2_image_without_where_its_data_lies() -> None:
    moment = datetime(2026, 1, 1)
    artifact = Artifact(
        id="6b7a1a1e-7a39-4c4e-9d55-7d0f61b4a1f2", owner="p", status=Status.ACTIVE,
        visibility=Visibility.PUBLIC, created_at=moment, updated_at=moment, name="n",
        version="1.0", filename="n-1.0.tar", size=3, checksum="c", os_hash_algo="sha256",
        os_hash_value="h", properties={"os_distro": "ubuntu"}, tags=["t"], published=False,
        locations=[Location("default", "ab/secretly-placed-key", 3, "c", "h")],
    )  # fmt: skip
    shown = image_view(artifact, multistore=True, routes=Router(faces.routes()))
    for link in ("self", "file", "schema", "stores"):
        del shown[link]
    data = artifact_data(artifact)
    assert data == shown | {"published": False}
    assert "secretly-placed-key" not in json.dumps(data)
