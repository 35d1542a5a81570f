"""Retention: each keep rule alone and together, the staging (hidden, deactivated, deleted)
on a moving clock with its events, the restore of what retention did and only that, what
no policy retires (protected, tagged, downloaded lately, brought by a package), a plan
that changes nothing, another project's policy, and bytes freed only when nobody else
holds them. On SQLite and PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from lading.db import packages, retention
from lading.db.artifacts import fetch_artifact
from lading.db.engine import Database
from lading.db.models import blobs, metadata, tasks
from lading.domain import Artifact, Status, TaskStatus
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services import Services
from lading.services.access import Caller
from lading.services.retention import Action, RunReport
from lading.services.roles import ADMIN, MEMBER, READER
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio
OWNER = Caller.with_role("A", MEMBER)
OTHER = Caller.with_role("B", MEMBER)
HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 32,
        "events": ["retention.*", "artifact.updated", "artifact.deleted"]}  # fmt: skip
STAGES: dict[str, Any] = {"hide_after_days": 1, "deactivate_after_days": 2, "delete_after_days": 3}


@pytest.fixture
def services(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> Services:
    """With a webhook that wants retention's events (so that they are recorded), and
    nothing in use unless downloaded within a day (the rule of the tests that need it)."""
    settings = Settings(data_dir=tmp_path, webhooks={"hook": HOOK}, retention={"in_use_days": 1})
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"), clock)


async def data(content: bytes) -> AsyncIterator[bytes]:
    yield content


async def made(
    services: Services, caller: Caller = OWNER, content: bytes | None = None, **fields: Any
) -> Artifact:
    """An active artifact with data (its own bytes unless ``content`` is given)."""
    tags = fields.pop("tags", None)
    artifact = await services.catalogue.create(caller, Changes(fields, tags=tags))
    body = content if content is not None else artifact.id.encode() * 10
    return await services.transfers.upload(caller, artifact.id, data(body))


async def policy(services: Services, caller: Caller = OWNER, **fields: Any) -> str:
    return (await services.retention.create_policy(caller, fields)).id


def fetched(database: Database, artifact_id: str) -> Artifact:
    found = database.run(False, fetch_artifact, artifact_id)
    assert found is not None
    return found


async def planned(services: Services, project: str | None = "A") -> dict[str, str]:
    """Each artifact of the plan and its next action."""
    plan = await services.retention.plan(project)
    return {step.artifact_id: step.action for step in plan.steps}


def events(database: Database) -> list[tuple[str, str]]:
    """The events recorded for the webhook: (type, artifact id), oldest first."""
    query = select(tasks.c.input).where(tasks.c.type == "webhook").order_by(tasks.c.created_at)
    rows = database.run(False, lambda connection: list(connection.execute(query).scalars()))
    found = []
    for row in rows:
        body = json.loads(json.loads(row)["body"])
        data = body["data"]
        found.append((body["type"], data["artifact"]["id"] if "artifact" in data else data["id"]))
    return found


async def test_keep_newest_versions_per_name_and_images_by_creation(
    services: Services, clock: MovableClock
) -> None:
    versions = []
    for version in ("1.0", "2.0", "10.0", "3.0"):  # 10.0 is newer than 3.0 (not as text)
        versions.append(
            await made(services, name="tool", version=version, filename=f"tool-{version}.tgz")
        )
        clock.move(seconds=1)
    other = await made(services, name="other", version="0.1", filename="other-0.1.tgz")
    images = []
    for _ in range(3):
        images.append(await made(services, name="disk"))
        clock.move(seconds=1)
    await policy(services, keep_newest=2)
    retired = await planned(services)
    assert set(retired) == {versions[0].id, versions[1].id, images[0].id}
    assert set(retired.values()) == {Action.HIDE}
    assert other.id not in retired  # each name its own newest


async def test_keep_younger_than_days(services: Services, clock: MovableClock) -> None:
    old = await made(services, name="a")
    clock.move(days=40)
    young = await made(services, name="a")
    await policy(services, keep_younger_days=30)
    assert set(await planned(services)) == {old.id}
    clock.move(days=31)
    assert set(await planned(services)) == {old.id, young.id}


async def test_keep_what_was_downloaded_within_days(
    services: Services, database: Database, clock: MovableClock
) -> None:
    fetched_one, idle = await made(services, name="a"), await made(services, name="b")
    download = await services.transfers.download(OWNER, fetched_one.id)
    assert b"".join([chunk async for chunk in download.read(0, 10)])
    assert await services.downloads.flush() == 1
    clock.move(days=2)  # past in_use_days (1): the rule alone keeps it
    await policy(services, keep_downloaded_days=30)
    assert set(await planned(services)) == {idle.id}
    clock.move(days=30)
    assert set(await planned(services)) == {idle.id, fetched_one.id}


async def test_rules_of_a_policy_and_of_several_keep_together(
    services: Services, clock: MovableClock
) -> None:
    oldest = await made(services, name="app", version="1", filename="app-1.tgz")
    clock.move(days=20)
    middle = await made(services, name="app", version="2", filename="app-2.tgz")
    newest = await made(services, name="app", version="3", filename="app-3.tgz")
    clock.move(days=20)  # oldest 40 days old, the others 20
    await policy(services, keep_newest=1, keep_younger_days=30)
    assert set(await planned(services)) == {oldest.id}  # middle: young; newest: newest
    # A second policy over the same name keeps what it keeps, whatever the first says.
    await policy(services, pattern="app*", keep_younger_days=60)
    assert await planned(services) == {}
    assert {middle.id, newest.id}.isdisjoint(await planned(services))


async def test_a_policy_covers_its_pattern_and_kind_only(services: Services) -> None:
    image = await made(services, name="ci-build")
    package = await made(services, name="ci-tool", version="1", filename="ci-tool-1.tgz")
    kept = await made(services, name="release")
    clock_free = await made(services, name="ci-build")
    await policy(services, pattern="ci-*", kind="image", keep_newest=1)
    retired = await planned(services)
    assert retired.keys() == {image.id}
    assert {package.id, kept.id, clock_free.id}.isdisjoint(retired)


async def test_staged_hide_deactivate_delete_with_events(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    old = await made(services, name="a")
    clock.move(days=10)
    await made(services, name="a")
    policy_id = await policy(services, keep_newest=1, **STAGES)

    report = await services.retention.apply("A")  # scheduled: hidden a day from now
    assert (report.hidden, fetched(database, old.id).os_hidden) == ([], False)
    mark = database.run(False, retention.mark_of, old.id)
    assert mark is not None and (mark.step, mark.policy_id) == ("scheduled", policy_id)

    clock.move(days=1, seconds=1)
    assert (await services.retention.apply("A")).hidden == [old.id]
    artifact = fetched(database, old.id)
    assert (artifact.os_hidden, artifact.status) == (True, Status.ACTIVE)
    assert (await services.retention.apply("A")).hidden == []  # nothing due twice

    clock.move(days=1)  # not yet: two days after hiding
    assert (await services.retention.apply("A")).deactivated == []
    clock.move(days=1, seconds=1)
    assert (await services.retention.apply("A")).deactivated == [old.id]
    assert fetched(database, old.id).status is Status.DEACTIVATED

    clock.move(days=3, seconds=1)
    report = await services.retention.apply("A")
    assert report.deleted == [old.id] and report.freed_bytes == old.size
    assert fetched(database, old.id).status is Status.DELETED
    assert database.run(False, retention.mark_of, old.id) is None
    assert len(store.objects) == 1  # the kept artifact's bytes only
    assert events(database) == [
        ("artifact.updated", old.id), ("retention.hidden", old.id),
        ("artifact.updated", old.id), ("retention.deactivated", old.id),
        ("artifact.deleted", old.id), ("retention.deleted", old.id),
    ]  # fmt: skip


async def test_without_graces_every_step_is_one_run(
    services: Services, clock: MovableClock
) -> None:
    old = await made(services, name="a")
    clock.move(seconds=1)
    await made(services, name="a")
    await policy(services, keep_newest=1, hide_after_days=0, deactivate_after_days=0,
                 delete_after_days=0)  # fmt: skip
    report = await services.retention.apply("A")
    assert (report.hidden, report.deactivated, report.deleted) == ([old.id],) * 3


async def test_kept_again_is_restored_and_only_what_retention_did_is_undone(
    services: Services, database: Database, clock: MovableClock
) -> None:
    tagged = await made(services, name="a")
    hidden_before = await made(services, name="b", os_hidden=True)
    deactivated_before = await made(services, name="c")
    await services.catalogue.deactivate(OWNER, deactivated_before.id)
    clock.move(days=10)
    await policy(services, keep_younger_days=5, hide_after_days=0, deactivate_after_days=1,
                 delete_after_days=30)  # fmt: skip
    await services.retention.apply("A")
    clock.move(days=1, seconds=1)
    report = await services.retention.apply("A")
    everyone = sorted([tagged.id, hidden_before.id, deactivated_before.id])
    assert sorted(report.deactivated) == everyone
    mark = database.run(False, retention.mark_of, hidden_before.id)
    assert mark is not None and (mark.hid, mark.deactivated) == (False, True)
    mark = database.run(False, retention.mark_of, deactivated_before.id)
    assert mark is not None and (mark.hid, mark.deactivated) == (True, False)

    await services.catalogue.add_tag(OWNER, tagged.id, "retention:keep")
    for artifact in (hidden_before, deactivated_before):
        await services.catalogue.update(OWNER, artifact.id, lambda _: _protect())
    assert await planned(services) == dict.fromkeys(everyone, Action.RESTORE)
    report = await services.retention.apply("A")
    assert sorted(report.restored) == everyone
    restored = fetched(database, tagged.id)
    assert (restored.os_hidden, restored.status) == (False, Status.ACTIVE)
    kept_hidden = fetched(database, hidden_before.id)  # hidden by its owner: stays so
    assert (kept_hidden.os_hidden, kept_hidden.status) == (True, Status.ACTIVE)
    kept_off = fetched(database, deactivated_before.id)  # deactivated by its owner: stays
    assert (kept_off.os_hidden, kept_off.status) == (False, Status.DEACTIVATED)
    assert await planned(services) == {}
    assert ("retention.restored", tagged.id) in events(database)


def _protect() -> Changes:
    return Changes({"protected": True})


async def test_a_deleted_policy_restores_what_it_retired(
    services: Services, database: Database, clock: MovableClock
) -> None:
    old = await made(services, name="a")
    clock.move(days=10)
    policy_id = await policy(services, keep_younger_days=1, hide_after_days=0)
    await services.retention.apply("A")
    assert fetched(database, old.id).os_hidden
    await services.retention.delete_policy(OWNER, policy_id)
    assert (await services.retention.apply()).restored == [old.id]
    assert not fetched(database, old.id).os_hidden


async def test_undoing_a_step_by_hand_starts_the_course_over(
    services: Services, database: Database, clock: MovableClock
) -> None:
    old = await made(services, name="a")
    clock.move(days=10)
    await policy(services, keep_younger_days=1, hide_after_days=0, deactivate_after_days=2)
    await services.retention.apply("A")
    await services.catalogue.update(OWNER, old.id, lambda _: _shown())
    clock.move(days=3)  # the deactivation would be due, but the hide was undone
    report = await services.retention.apply("A")
    assert (report.hidden, report.deactivated) == ([old.id], [])


async def test_a_course_started_over_keeps_what_retention_did_its_own(
    services: Services, database: Database, clock: MovableClock
) -> None:
    """Reactivated by hand while still hidden by retention: the course starts over, and a
    restore later still shows the artifact again (retention hid it, not its owner)."""
    old = await made(services, name="a")
    clock.move(days=10)
    await policy(services, keep_younger_days=1, hide_after_days=0, deactivate_after_days=0,
                 delete_after_days=30)  # fmt: skip
    await services.retention.apply("A")
    await services.catalogue.reactivate(OWNER, old.id)
    assert await planned(services) == {old.id: Action.HIDE}  # over again
    report = await services.retention.apply("A")
    assert (report.hidden, report.deactivated) == ([old.id], [old.id])
    mark = database.run(False, retention.mark_of, old.id)
    assert mark is not None and (mark.hid, mark.deactivated) == (True, True)
    await services.catalogue.add_tag(OWNER, old.id, "retention:keep")
    assert (await services.retention.apply("A")).restored == [old.id]
    artifact = fetched(database, old.id)
    assert (artifact.os_hidden, artifact.status) == (False, Status.ACTIVE)


def _shown() -> Changes:
    return Changes({"os_hidden": False})


async def test_protected_tagged_downloaded_and_linked_artifacts_are_never_retired(
    services: Services, database: Database, clock: MovableClock
) -> None:
    protected = await made(services, name="a", protected=True)
    tagged = await made(services, name="a", tags=["retention:keep"])
    downloaded = await made(services, name="a")
    linked = await made(services, name="a")
    package = await made(services, name="pkg", version="1", filename="pkg-1.tar.gz")
    retired = await made(services, name="a")
    database.run(True, packages.link_images, package.id, [("images/disk", linked.id)])
    clock.move(days=30)
    download = await services.transfers.download(OWNER, downloaded.id)
    assert download.local_path() is None  # a memory store: the bytes are read
    assert [chunk async for chunk in download.read(0, 1)]
    await services.downloads.flush()
    await policy(services, pattern="a", keep_younger_days=1, hide_after_days=0,
                 deactivate_after_days=0, delete_after_days=0)  # fmt: skip
    assert set(await planned(services)) == {retired.id}
    assert (await services.retention.apply("A")).deleted == [retired.id]
    for artifact in (protected, tagged, downloaded, linked):
        assert fetched(database, artifact.id).status is Status.ACTIVE
    # The package gone, its image is no longer in use.
    await services.catalogue.drop(package.id)
    assert set(await planned(services)) == {linked.id}


async def test_a_step_looks_again_at_what_keeps_the_artifact(
    services: Services, database: Database, clock: MovableClock
) -> None:
    """Tagged, or downloaded, between the plan and the step: the step keeps it (the run's
    steps, taken after its plan, as a run takes them)."""
    tagged, downloaded = await made(services, name="a"), await made(services, name="a")
    clock.move(days=10)
    await policy(services, keep_younger_days=1, hide_after_days=0)
    plan = await services.retention.plan("A")
    await services.catalogue.add_tag(OWNER, tagged.id, "retention:keep")
    services.downloads.served(downloaded.id)
    await services.downloads.flush()
    report = RunReport()
    assert await services.retention._advance(plan.steps, plan.made_at, report) == []
    assert (report.hidden, sorted(report.kept)) == ([], sorted([tagged.id, downloaded.id]))
    assert not fetched(database, tagged.id).os_hidden
    assert database.run(False, retention.mark_of, tagged.id) is None


def rows(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    def read(connection: Any) -> dict[str, list[tuple[Any, ...]]]:
        return {
            table.name: sorted(map(tuple, connection.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }

    found: dict[str, list[tuple[Any, ...]]] = database.run(False, read)
    return found


async def test_a_plan_changes_nothing(
    services: Services, database: Database, clock: MovableClock
) -> None:
    for _ in range(3):
        await made(services, name="a")
        clock.move(days=5)
    await policy(services, keep_newest=1, hide_after_days=0, deactivate_after_days=0,
                 delete_after_days=0)  # fmt: skip
    await services.retention.apply("A")  # the first two gone; a third one now
    clock.move(days=1)
    await made(services, name="a")
    before = rows(database)
    plan = await services.retention.plan("A")
    assert plan.steps and plan.frees_bytes > 0
    await services.retention.plan_for(OWNER)
    await services.retention.reclaimable()
    assert rows(database) == before


async def test_another_projects_policy_never_touches_yours(
    services: Services, database: Database, clock: MovableClock
) -> None:
    mine = [await made(services, name="a") for _ in range(3)]
    clock.move(days=10)
    theirs = [await made(services, OTHER, name="a") for _ in range(3)]
    await policy(services, OTHER, keep_newest=1, hide_after_days=0, deactivate_after_days=0,
                 delete_after_days=0)  # fmt: skip
    report = await services.retention.apply()  # every project's policies
    assert len(report.deleted) == 2 and set(report.deleted) <= {a.id for a in theirs}
    for artifact in mine:
        assert fetched(database, artifact.id).status is Status.ACTIVE
    with pytest.raises(Forbidden):  # nor may B make one for A
        await policy(services, OTHER, project="A", keep_newest=1)


async def test_bytes_are_freed_only_when_nobody_else_holds_them(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    shared = b"same bytes" * 100
    retired = await made(services, name="old", content=shared)
    holder = await made(services, name="keeper", content=shared)  # same blob, not retired
    alone = await made(services, name="old", content=b"own" * 100)
    twin = await made(services, name="old", content=b"twin" * 100)
    twin_too = await made(services, name="old", content=b"twin" * 100)
    clock.move(days=10)
    await policy(services, pattern="old", keep_younger_days=1, hide_after_days=0,
                 deactivate_after_days=0, delete_after_days=0)  # fmt: skip
    plan = await services.retention.plan("A")
    frees = {step.artifact_id: step.frees_bytes for step in plan.steps}
    assert frees[retired.id] == 0  # the keeper holds its bytes
    assert frees[alone.id] == 300
    assert frees[twin.id] + frees[twin_too.id] == 400  # one object for both, counted once
    assert plan.frees_bytes == 700 == plan.policies[0].frees_bytes
    report = await services.retention.apply("A")
    assert report.freed_bytes == 700
    assert fetched(database, holder.id).status is Status.ACTIVE
    download = await services.transfers.download(OWNER, holder.id)
    assert b"".join([chunk async for chunk in download.read(0, len(shared))]) == shared
    live = database.run(False, lambda c: list(c.execute(select(blobs.c.refcount)).scalars()))
    assert live == [1] and len(store.objects) == 1


async def test_who_may_manage_and_see_policies(services: Services) -> None:
    with pytest.raises(BadRequest, match="keep rule"):
        await policy(services)
    with pytest.raises(BadRequest):
        await policy(services, keep_newest=0)
    with pytest.raises(BadRequest):
        await policy(services, keep_newest=1, colour="red")
    with pytest.raises(Forbidden):
        await policy(services, Caller.with_role("A", READER), keep_newest=1)
    mine = await policy(services, keep_newest=1)
    theirs = await policy(services, OTHER, keep_newest=1)
    assert [found.id for found in await services.retention.policies(OWNER)] == [mine]
    admin = Caller.with_role("ops", ADMIN)
    assert {found.id for found in await services.retention.policies(admin)} == {mine, theirs}
    with pytest.raises(NotFound):
        await services.retention.policy(OWNER, theirs)
    with pytest.raises(NotFound):
        await services.retention.delete_policy(OWNER, theirs)
    with pytest.raises(Forbidden):
        await services.retention.plan_for(OWNER, "B")
    await services.retention.delete_policy(admin, theirs)
    assert [found.id for found in await services.retention.policies(admin)] == [mine]


async def test_a_run_is_a_task_that_reports_what_it_did(
    services: Services, database: Database, clock: MovableClock
) -> None:
    old = await made(services, name="a")
    clock.move(days=10)
    await policy(services, keep_younger_days=1, hide_after_days=0)
    task = await services.retention.submit_run(OWNER)
    assert await services.tasks.run_one()
    done = await services.tasks.get(OWNER, task.id)
    assert done.status is TaskStatus.SUCCESS
    assert done.result is not None and done.result["hidden"] == [old.id]
    assert done.result["counts"]["hidden"] == 1 and "hid 1" in done.message


async def test_the_recurring_run_is_submitted_once_per_period(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    settings = Settings(data_dir=tmp_path, retention={"run_every": 3600})
    registry = StoreRegistry({"default": store}, "default")
    one, two = (Services.build(settings, database, registry, clock) for _ in range(2))
    assert await one.retention.submit_recurring() == 1
    assert await two.retention.submit_recurring() == 0  # another process, same period
    clock.move(hours=1)
    assert await two.retention.submit_recurring() == 1
    quiet = Services.build(Settings(data_dir=tmp_path), database, registry, clock)
    assert await quiet.retention.submit_recurring() == 0  # off by default


async def test_a_download_is_written_once_per_interval_across_processes(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    settings = Settings(data_dir=tmp_path, retention={"download_record_interval": 600})
    registry = StoreRegistry({"default": store}, "default")
    one, two = (Services.build(settings, database, registry, clock) for _ in range(2))
    artifact = await made(one, name="a")
    for services in (one, one, two):
        services.downloads.served(artifact.id)
    assert await one.downloads.flush() == 1
    first = database.run(False, retention.last_downloaded, artifact.id)
    assert first is not None
    clock.move(seconds=1)
    assert await two.downloads.flush() == 0  # one was written within the interval
    one.downloads.served(artifact.id)
    assert await one.downloads.flush() == 0  # not noted again within the interval
    clock.move(seconds=600)
    one.downloads.served(artifact.id)
    assert await one.downloads.flush() == 1
    later = database.run(False, retention.last_downloaded, artifact.id)
    assert later is not None and later > first


async def test_two_runs_at_once_take_each_step_once(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    """Two processes' runs at the same moment (a recurring one, one asked for): each
    artifact is hidden once, and stays retention's own to restore."""
    settings = Settings(data_dir=tmp_path, retention={"in_use_days": 0})
    registry = StoreRegistry({"default": store}, "default")
    one, two = (Services.build(settings, database, registry, clock) for _ in range(2))
    old = [await made(one, name="a") for _ in range(30)]
    clock.move(days=10)
    await policy(one, keep_younger_days=1, hide_after_days=0)
    reports = []

    async def run(services: Services) -> None:
        reports.append(await services.retention.apply())

    async with anyio.create_task_group() as runs:
        runs.start_soon(run, one)
        runs.start_soon(run, two)
    hidden = sorted(reports[0].hidden + reports[1].hidden)
    assert hidden == sorted(artifact.id for artifact in old)
    for artifact in old:
        mark = database.run(False, retention.mark_of, artifact.id)
        assert mark is not None and mark.hid and fetched(database, artifact.id).os_hidden
