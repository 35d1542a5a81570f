"""Events told to webhooks, over real HTTP on loopback: every event type once per change,
whichever face made it, signed (checked with the documented recipe); a receiver that
fails is tried again with backoff, one that keeps failing is dropped with a log line."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from lading.app import create_app
from lading.db.models import blobs, tasks
from lading.settings import Settings
from tests.api.helpers import PATCH_TYPE
from tests.clients.conftest import free_port
from tests.http_origin import Origin, serving
from tests.webhook_receiver import Delivery, Receiver, receiving
from tests.world import World, open_world

SECRET, OTHER_SECRET = "webhook-secret-" + "s" * 24, "another-secret-" + "o" * 24
DATA = b"image bytes " * 1000
FETCHED = b"fetched bytes " * 1000


def world_with(
    tmp_path: Path, database_url: str, **settings: Any
) -> contextlib.AbstractContextManager[World]:
    settings = {"task_poll_interval": 0.02, **settings}
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=database_url, **settings))
    return open_world(app, {"owner": ("A", "member"), "admin": ("ops", "admin")})


def ok(world: World, method: str, path: str, who: str = "owner", **kwargs: Any) -> Any:
    response = world.request(method, path, who, **kwargs)
    assert response.status_code < 400, response.text
    return response


def new_image(world: World, name: str = "events") -> str:
    body = {"name": name, "disk_format": "raw", "container_format": "bare"}
    image_id: str = ok(world, "POST", "/v2/images", json=body).json()["id"]
    return image_id


def upload_data(world: World, image_id: str) -> None:
    octets = {"content-type": "application/octet-stream"}
    ok(world, "PUT", f"/v2/images/{image_id}/file", content=DATA, headers=octets)


def rows(world: World, table: Any) -> list[Any]:
    engine = create_engine(world.settings.resolved_database_url)
    with engine.connect() as connection:
        found = list(connection.execute(select(table)).mappings())
    engine.dispose()
    return found


def deliveries_counted(world: World) -> dict[str, float]:
    text = world.client.get("/metrics").text
    counted = {}
    for line in text.splitlines():
        if line.startswith("lading_webhook_deliveries_total{"):
            label, _, value = line.partition(" ")
            counted[label.split('"')[1]] = float(value)
    return counted


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(FETCHED) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    secrets = {"/all": SECRET, "/filtered": OTHER_SECRET, "/flaky": SECRET, "/down": SECRET}
    with receiving(secrets, failing={"/flaky": 2, "/down": -1}) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, database_url: str, receiver: Receiver, origin: Origin) -> Iterator[World]:
    webhooks = {
        "all": {"url": receiver.url("/all"), "secret": SECRET},
        "filtered": {"url": receiver.url("/filtered"), "secret": OTHER_SECRET,
                     "events": ["artifact.deleted", "task.*"]},
    }  # fmt: skip
    fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
    with world_with(tmp_path, database_url, webhooks=webhooks, fetch=fetch) as opened:
        yield opened


def told(deliveries: list[Delivery]) -> Counter[tuple[str, str]]:
    return Counter((d.event["type"], d.event["data"]["id"]) for d in deliveries)


def test_every_change_is_told_once_signed_to_whoever_wants_it(
    world: World, receiver: Receiver, origin: Origin
) -> None:
    image = new_image(
        world,
    )
    upload_data(world, image)
    patch = {"content-type": PATCH_TYPE}
    renamed = [{"op": "replace", "path": "/name", "value": "renamed"}]
    ok(world, "PATCH", f"/v2/images/{image}", json=renamed, headers=patch)
    ok(world, "PATCH", f"/v2/images/{image}", json=renamed, headers=patch)  # no change: no event
    ok(world, "POST", f"/click/packages/{image}/unpublish", who="admin")
    ok(world, "POST", f"/click/packages/{image}/unpublish", who="admin")  # no change either
    ok(world, "POST", f"/click/packages/{image}/publish", who="admin")
    ok(world, "DELETE", f"/v2/images/{image}")
    imported = new_image(world, "imported")
    method = {"method": {"name": "web-download", "uri": origin.url()}}
    asked = ok(world, "POST", f"/v2/images/{imported}/import", json=method)
    world.settled()

    task = ok(world, "GET", f"/v2/images/{imported}/tasks").json()["tasks"][0]
    assert told(receiver.to("/all")) == Counter({
        ("artifact.created", image): 1, ("artifact.activated", image): 1,
        ("artifact.updated", image): 1, ("artifact.unpublished", image): 1,
        ("artifact.published", image): 1, ("artifact.deleted", image): 1,
        ("artifact.created", imported): 1, ("artifact.activated", imported): 1,
        ("task.finished", task["id"]): 1,  # the deliveries' own tasks tell nothing
    })  # fmt: skip
    assert told(receiver.to("/filtered")) == Counter(
        {("artifact.deleted", image): 1, ("task.finished", task["id"]): 1}
    )
    for delivery in receiver.deliveries:
        assert delivery.verified, delivery
        event = delivery.event
        assert delivery.headers["X-Lading-Event"] == event["type"]
        assert delivery.headers["X-Lading-Event-Id"] == event["id"]
        assert delivery.headers["Content-Type"] == "application/json"
        assert {"locations", "direct_url", "stores", "file", "self"}.isdisjoint(event["data"])
    # Each event has one id, the same for every webhook told of it.
    ids = {(d.event["type"], d.event["data"]["id"]): d.event["id"] for d in receiver.deliveries}
    assert len(set(ids.values())) == len(ids) == 9

    by_type = {
        d.event["type"]: d.event for d in receiver.to("/all") if d.event["data"]["id"] == image
    }
    active = by_type["artifact.activated"]["data"]
    assert active["status"] == "active" and active["size"] == len(DATA)
    assert active["checksum"] == hashlib.md5(DATA).hexdigest()
    assert active["os_hash_value"] == hashlib.sha256(DATA).hexdigest()
    assert active["owner"] == "A" and active["name"] == "events"
    assert by_type["artifact.updated"]["data"]["name"] == "renamed"
    assert by_type["artifact.unpublished"]["data"]["published"] is False
    assert by_type["artifact.published"]["data"]["published"] is True
    assert by_type["artifact.deleted"]["data"]["status"] == "deleted"
    finished = next(d.event for d in receiver.to("/all") if d.event["type"] == "task.finished")
    assert finished["data"]["status"] == "success" and finished["data"]["image_id"] == imported
    assert finished["data"]["type"] == "api_image_import" and "input" not in finished["data"]
    assert finished["data"]["result"]["image_id"] == imported
    # Who made each change: the caller's project (lading's tokens name no user); nobody
    # for what the import's worker did, whose task says which request asked for it.
    actors = {
        (d.event["type"], d.event["data"]["id"]): d.event["actor"] for d in receiver.to("/all")
    }
    owner, admin = {"project_id": "A", "user_id": None}, {"project_id": "ops", "user_id": None}
    assert actors == {
        ("artifact.created", image): owner, ("artifact.activated", image): owner,
        ("artifact.updated", image): owner, ("artifact.unpublished", image): admin,
        ("artifact.published", image): admin, ("artifact.deleted", image): owner,
        ("artifact.created", imported): owner, ("artifact.activated", imported): None,
        ("task.finished", task["id"]): None,
    }  # fmt: skip
    assert finished["data"]["request_id"] == asked.headers["x-openstack-request-id"]
    assert finished["data"]["user_id"] is None

    # No store key, URL or secret in any body; the task rows hold no secret either.
    keys = [row["key"] for row in rows(world, blobs)]
    assert keys and all(
        key.encode() not in d.body and origin.url().encode() not in d.body
        for key in keys for d in receiver.deliveries
    )  # fmt: skip
    for row in rows(world, tasks):
        assert SECRET not in str(dict(row)) and OTHER_SECRET not in str(dict(row))
    assert deliveries_counted(
        world,
    ) == {"delivered": 11.0}


def test_deliveries_stay_out_of_task_listings(world: World, receiver: Receiver) -> None:
    new_image(
        world,
    )
    receiver.wait_for("/all", 1)
    world.settled()
    assert ok(world, "GET", "/v2/tasks").json()["tasks"] == []
    assert ok(world, "GET", "/v2/tasks", who="admin").json()["tasks"] == []
    assert ok(world, "GET", "/v2/tasks", params={"type": "webhook"}).json()["tasks"] == []
    asked = ok(world, "GET", "/v2/tasks", who="admin", params={"type": "webhook"}).json()
    assert [(t["type"], t["status"], t["owner"]) for t in asked["tasks"]] == [
        ("webhook", "success", "")
    ]


def test_a_receiver_that_fails_twice_gets_a_third_try_after_backoff(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    webhooks = {"flaky": {"url": receiver.url("/flaky"), "secret": SECRET,
                          "events": ["artifact.created"]}}  # fmt: skip
    delivery = {"attempts": 5, "backoff": 0.4, "backoff_max": 10, "timeout": 2}
    with world_with(tmp_path, database_url, webhooks=webhooks, webhook_delivery=delivery) as world:
        image = new_image(
            world,
        )
        upload_data(world, image)  # activated: not wanted
        first, second, third = receiver.wait_for("/flaky", 3)
        world.settled()
        assert [d.answered for d in receiver.to("/flaky")] == [500, 500, 204]  # no fourth
        assert all(d.verified for d in (first, second, third))
        assert {d.event["id"] for d in (first, second, third)} == {first.event["id"]}
        assert first.event["type"] == "artifact.created" and first.event["data"]["id"] == image
        # The n-th wait is between half and all of 0.4 * 2^(n-1) seconds, and the worker
        # looks for due tasks every 0.02 s (more on a busy machine).
        assert 0.2 <= second.at - first.at < 0.4 + 1.0
        assert 0.4 <= third.at - second.at < 0.8 + 1.0
        asked = ok(world, "GET", "/v2/tasks", who="admin", params={"type": "webhook"})
        (task,) = asked.json()["tasks"]
        assert task["status"] == "success"
        assert deliveries_counted(
            world,
        ) == {"delivered": 1.0, "failed": 2.0}


def test_a_delivery_that_keeps_failing_is_dropped_with_a_log_line(
    tmp_path: Path, database_url: str, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}/gone"  # connections refused
    webhooks = {"down": {"url": receiver.url("/down"), "secret": SECRET},
                "refusing": {"url": nobody, "secret": SECRET}}  # fmt: skip
    delivery = {"attempts": 3, "backoff": 0.05, "backoff_max": 0.1, "timeout": 2}
    with (
        caplog.at_level(logging.WARNING, logger="lading.services.webhooks"),
        world_with(tmp_path, database_url, webhooks=webhooks, webhook_delivery=delivery) as world,
    ):
        image = new_image(
            world,
        )
        receiver.wait_for("/down", 3)
        world.settled()
        assert len(receiver.to("/down")) == 3
        asked = ok(world, "GET", "/v2/tasks", who="admin", params={"type": "webhook"})
        ended = {t["status"] for t in asked.json()["tasks"]}
        assert ended == {"failure"} and len(asked.json()["tasks"]) == 2
        assert deliveries_counted(
            world,
        ) == {"failed": 4.0, "dropped": 2.0}
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    event_id = receiver.to("/down")[0].event["id"]
    down, refusing = sorted(dropped)
    assert (
        down == f"webhook down: dropped artifact.created event {event_id} after 3 tries: "
        "answered 500"
    )
    assert refusing.startswith(
        f"webhook refusing: dropped artifact.created event {event_id} after 3 tries: ConnectError"
    )
    assert receiver.to("/down")[0].event["data"]["id"] == image


def test_glance_notifications_carry_v1_fields_for_every_face(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    webhooks = {
        "glance": {"url": receiver.url("/all"), "secret": SECRET, "events": ["image.*"]},
        "lading": {"url": receiver.url("/filtered"), "secret": OTHER_SECRET},  # "*"
    }  # fmt: skip
    with world_with(tmp_path, database_url, webhooks=webhooks) as world:
        v1_headers = {"x-image-meta-name": "v1", "x-image-meta-disk_format": "raw",
                      "x-image-meta-container_format": "bare",
                      "x-image-meta-property-os_distro": "cirros",
                      "content-type": "application/octet-stream"}  # fmt: skip
        v1 = ok(world, "POST", "/v1/images", headers=v1_headers, content=DATA)
        v1_id = v1.json()["image"]["id"]
        ok(world, "PUT", f"/v1/images/{v1_id}", headers={"x-image-meta-name": "renamed"})
        ok(world, "DELETE", f"/v1/images/{v1_id}")
        v2_id = new_image(world, "v2")  # the v2 face's changes are told the same way
        upload_data(world, v2_id)
        world.settled()

    glance = receiver.to("/all")
    assert [d.event["type"] for d in glance if d.event["data"]["id"] == v1_id] == [
        "image.create", "image.prepare", "image.upload", "image.activate", "image.update",
        "image.update", "image.delete",
    ]  # fmt: skip
    assert [d.event["type"] for d in glance if d.event["data"]["id"] == v2_id] == [
        "image.create", "image.prepare", "image.upload", "image.activate", "image.update",
    ]  # fmt: skip
    by_type = {d.event["type"]: d.event for d in glance if d.event["data"]["id"] == v1_id}
    prepared, activated = by_type["image.prepare"]["data"], by_type["image.activate"]["data"]
    assert prepared["status"] == "saving" and prepared["size"] is None
    assert activated["status"] == "active" and activated["size"] == len(DATA)
    assert activated["checksum"] == hashlib.md5(DATA).hexdigest()
    assert activated["properties"] == {"os_distro": "cirros"} and activated["is_public"] is False
    assert "visibility" not in activated and "location" not in activated
    deleted = by_type["image.delete"]
    assert deleted["data"]["deleted"] is True and deleted["data"]["status"] == "deleted"
    assert deleted["actor"]["project_id"] == "A"
    # "*" is lading's own events: Glance's tell the same changes again, so only by name.
    assert {d.event["type"].partition(".")[0] for d in receiver.to("/filtered")} == {"artifact"}
