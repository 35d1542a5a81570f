"""Queries on tasks: the oldest due task claimed under a lease (or one whose lease ran
out), by type or besides some types; progress and outcome written only by the runner
that holds the lease; unexpired tasks listed newest first, page after page."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Connection

from lading.db import tasks
from lading.db.engine import Database
from lading.domain import Task, TaskStatus
from tests.db.rows import NOW

LEASE = NOW + timedelta(minutes=1)


def task(task_id: str, minutes: int = 0, task_type: str = "import", **values: object) -> Task:
    created = NOW + timedelta(minutes=minutes)
    made = Task(task_id, task_type, TaskStatus.PENDING, "project", {"n": 1}, created, created)
    return replace(made, **values)  # type: ignore[arg-type]


def inserted(database: Database, *made: Task) -> None:
    def scene(connection: Connection) -> None:
        for one in made:
            tasks.insert_task(connection, one)

    database.run(True, scene)


def test_the_oldest_due_task_is_claimed_once(database: Database) -> None:
    later = NOW + timedelta(hours=1)
    inserted(database, task("new", 2), task("old", 1), task("waits", 0, not_before=later))
    claimed = database.run(True, tasks.claim, "r1", LEASE, NOW)
    assert claimed is not None and claimed.id == "old"
    assert (claimed.status, claimed.attempts) == (TaskStatus.PROCESSING, 1)
    claimed = database.run(True, tasks.claim, "r2", LEASE, NOW)
    assert claimed is not None and claimed.id == "new"
    assert database.run(True, tasks.claim, "r3", LEASE, NOW) is None
    claimed = database.run(True, tasks.claim, "r3", LEASE, later)  # due, and leases ran out
    assert claimed is not None and claimed.id == "waits"


def test_a_task_whose_lease_ran_out_is_taken_over(database: Database) -> None:
    inserted(database, task("t"))
    first = database.run(True, tasks.claim, "r1", LEASE, NOW)
    assert first is not None
    assert database.run(True, tasks.claim, "r2", LEASE, LEASE) is None  # not yet out
    after = LEASE + timedelta(seconds=1)
    taken = database.run(True, tasks.claim, "r2", after + timedelta(minutes=1), after)
    assert taken is not None and taken.attempts == 2
    progressed = replace(first, done_bytes=10, message="copying")
    assert not database.run(True, tasks.renew, progressed, "r1", after, after)
    done = tasks.finish
    assert not database.run(True, done, first, "r1", TaskStatus.SUCCESS, {}, "", after, after)
    assert database.run(True, tasks.renew, replace(taken, done_bytes=10), "r2", after, after)
    result = {"image_id": "i"}
    assert database.run(True, done, taken, "r2", TaskStatus.SUCCESS, result, "ok", after, LEASE)
    found = database.run(False, tasks.fetch_task, "t")
    assert found is not None
    assert (found.status, found.result, found.done_bytes) == (TaskStatus.SUCCESS, result, 10)


def test_claims_choose_among_types_or_besides_them(database: Database) -> None:
    inserted(database, task("copy", 0, "copy"), task("imp", 1, "import"))
    besides = database.run(True, tasks.claim, "r1", LEASE, NOW, ["copy"])
    assert besides is not None and besides.id == "imp"
    assert database.run(True, tasks.claim, "r2", LEASE, NOW, ["copy"]) is None
    among = database.run(True, tasks.claim, "r2", LEASE, NOW, ["copy"], True)
    assert among is not None and among.id == "copy"


def test_a_postponed_task_waits_its_attempts_kept(database: Database) -> None:
    inserted(database, task("t"))
    claimed = database.run(True, tasks.claim, "r1", LEASE, NOW)
    assert claimed is not None
    later = NOW + timedelta(minutes=10)
    assert not database.run(True, tasks.postpone, claimed, "other", later, "retry", NOW)
    assert database.run(True, tasks.postpone, claimed, "r1", later, "retry", NOW)
    assert database.run(False, tasks.backlog) == {"pending": 1, "processing": 0}
    assert database.run(True, tasks.claim, "r2", LEASE, LEASE + timedelta(minutes=5)) is None
    again = database.run(True, tasks.claim, "r2", later + timedelta(minutes=1), later)
    assert again is not None and (again.attempts, again.message) == (2, "retry")
    assert database.run(False, tasks.backlog) == {"pending": 0, "processing": 1}


def test_unexpired_tasks_are_listed_newest_first_page_by_page(database: Database) -> None:
    expired = NOW - timedelta(seconds=1)
    inserted(
        database,
        task("a", 0),
        task("b", 1),
        task("c", 1),
        task("gone", 2, expires_at=expired),
        task("hidden", 3, "internal"),
        task("theirs", 4, owner="them"),
    )
    listed = database.run(False, tasks.list_tasks, NOW, "project", unlisted=["internal"])
    assert [one.id for one in listed] == ["c", "b", "a"]
    page = database.run(False, tasks.list_tasks, NOW, "project", limit=2, unlisted=["internal"])
    rest = database.run(False, tasks.list_tasks, NOW, "project", before=page[-1])
    assert [one.id for one in page + rest] == ["c", "b", "a"]
    asked = database.run(False, tasks.list_tasks, NOW, task_type="internal", unlisted=["internal"])
    assert [one.id for one in asked] == ["hidden"]
    assert database.run(True, tasks.forget_expired, NOW) == 1
    assert database.run(False, tasks.fetch_task, "gone") is None
