"""Onboarding when things break under it: a store that fails mid-package, a process that
died while it received an upload."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from lading.api.osm import state_view as state
from lading.db import tasks as task_queries
from lading.db.engine import Database
from lading.db.models import artifacts
from lading.domain import TaskStatus
from lading.errors import NotFound
from lading.services import Services
from lading.services.access import Caller
from lading.services.onboarding import attempt_id
from lading.services.roles import MEMBER
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
from tests.http_origin import serving
from tests.osm_packages import package
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 1000):
        yield data[start : start + 1000]


async def test_a_store_failing_mid_package_keeps_nothing(
    services: Services, store: FaultyStore, admin: Caller
) -> None:
    store.failing_puts = True
    task = await services.onboarding.upload(admin, "onboard", "p.tgz", chunks(package()))
    shown = state(task)
    assert shown["status"] == "failure" and "full" in shown["errors"][0]["text"]
    assert shown["errors"][0]["name"] == "onboard-error"
    store.failing_puts = False
    assert store.objects == {}
    task = await services.onboarding.upload(admin, "onboard", "p.tgz", chunks(package()))
    assert state(task)["status"] == "success"  # nothing of the first try was in the way


async def test_an_upload_cut_off_by_a_dead_process_fails_and_keeps_nothing(
    services: Services, database: Database, admin: Caller, clock: MovableClock
) -> None:
    """As run_here leaves it when its process dies: claimed, an artifact half received."""
    task = services.tasks.new(admin.project, "osm_onboard", {"source": "upload", "role": "admin"})
    task.status, task.attempts = TaskStatus.PROCESSING, 1
    lease = clock.now() + timedelta(seconds=1)
    await database.write(task_queries.insert_claimed, task, "dead", lease)
    half = await services.catalogue.create(admin, Changes({"name": "half"}), attempt_id(task.id, 1))
    clock.move(seconds=2)  # the lease runs out
    assert await services.tasks.run_one()
    shown = state(await services.onboarding.transaction(admin, "onboard", task.id))
    assert shown["status"] == "failure" and "send it again" in shown["errors"][0]["text"]
    with pytest.raises(NotFound):
        await services.catalogue.get(admin, half.id)


async def test_a_package_is_made_by_whoever_asked_for_it(
    tmp_path: Path, database: Database, store: FaultyStore
) -> None:
    """Uploaded, or fetched from a URL by a task that any process runs later: the
    package's row names the caller's project and user, the task its request and user."""
    alice = replace(Caller.with_role("p", MEMBER), user="u-alice")
    with serving(package()) as origin:
        fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
        settings = Settings(data_dir=tmp_path, fetch=fetch)
        services = Services.build(settings, database, StoreRegistry({"default": store}, "default"))
        fetched = await services.onboarding.from_url(
            alice, "onboard", {"external_url": origin.url()}, request_id="req-url"
        )
        assert await services.tasks.run_one()
    uploaded = await services.onboarding.upload(  # a new version of the same package
        alice, "update", "p.tgz", chunks(package(version="2")), request_id="req-upload"
    )
    for mode, task, request_id in (
        ("onboard", fetched, "req-url"), ("update", uploaded, "req-upload")
    ):  # fmt: skip
        done = await services.onboarding.transaction(alice, mode, task.id)
        assert done.status is TaskStatus.SUCCESS, state(done)
        assert (done.request_id, done.user_id) == (request_id, "u-alice")
        assert "_origin" not in done.input and done.result is not None
        made = await services.catalogue.get(alice, done.result["package_id"])
        assert (made.created_by_project, made.created_by) == ("p", "u-alice")


async def test_an_image_cut_off_as_it_is_stored_is_never_active(
    services: Services, database: Database, store: FaultyStore, admin: Caller
) -> None:
    """The package is stored, its image's bytes fail part-way (a disk filling up): the
    image is not left active, nor is anything else, and the store keeps nothing."""
    store.healthy_puts = 1  # the package's
    data = package(extra={"images/disk.img": bytes(range(256)) * 4096})
    task = await services.onboarding.upload(admin, "onboard", "p.tgz", chunks(data))
    shown = state(task)
    assert shown["status"] == "failure", shown
    (error,) = shown["errors"]
    assert error["name"] == "onboard-image-error" and "images/disk.img" in error["value"]
    assert "full" in error["value"]
    statuses = await database.read(lambda c: c.scalars(select(artifacts.c.status)).all())
    assert len(statuses) == 2 and set(statuses) == {"deleted"}
    assert store.objects == {}
