"""The transactions of an import, held by its task: started only from the status it
expects, activated or failed only by the task that holds the image (another import's is
left alone), and a copy-image that leaves Glance's os_glance_* properties as Glance does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lading.db import artifacts, blobs, imports
from lading.db.engine import Database
from lading.domain import Digests, Status, Task, TaskStatus
from lading.errors import Gone, NotFound
from tests.db.rows import NOW, artifact, insert, stored

LATER = NOW + timedelta(minutes=1)
RECEIVED = Digests(5, "m" * 32, "3" * 64)


def task(task_id: str, artifact_id: str = "a") -> Task:
    return Task(task_id, "import", TaskStatus.PENDING, "project", {}, NOW, NOW, artifact_id)


def properties(database: Database, artifact_id: str = "a") -> dict[str, str]:
    found = database.run(False, artifacts.fetch_artifact, artifact_id)
    assert found is not None
    return found.properties


def test_an_import_starts_from_the_status_it_expects_once(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.QUEUED))
    start = imports.start
    assert not database.run(True, start, task("t0"), Status.UPLOADING, ["one"], NOW)
    assert database.run(True, start, task("t1"), Status.QUEUED, ["one", "two"], NOW)
    assert database.run(False, artifacts.status_of, "a") is Status.IMPORTING
    assert properties(database) == {imports.TASK: "t1", imports.IMPORTING_TO: "one,two"}
    assert not database.run(True, start, task("t2"), Status.QUEUED, ["one"], NOW)
    database.run(True, insert, artifact("gone", Status.DELETED))
    with pytest.raises(NotFound):
        database.run(True, start, task("t3", "gone"), Status.QUEUED, ["one"], NOW)


def test_only_the_holding_task_activates_the_image(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.QUEUED))
    database.run(True, imports.start, task("t1"), Status.QUEUED, ["one", "two"], NOW)
    assert not database.run(True, imports.activate, "a", "t2", [], LATER)
    assert database.run(True, imports.activate, "a", "t1", ["two"], LATER)
    assert database.run(False, artifacts.status_of, "a") is Status.ACTIVE
    assert properties(database) == {imports.FAILED: "two"}


def test_a_failed_import_queues_the_image_without_its_data(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.QUEUED))
    database.run(True, imports.start, task("t1"), Status.QUEUED, ["one"], NOW)
    database.run(True, stored, "a", "one", "1" * 64)
    assert database.run(True, imports.fail, "a", "t2", ["one"], LATER) == []  # not its image
    assert database.run(False, artifacts.status_of, "a") is Status.IMPORTING
    freed = database.run(True, imports.fail, "a", "t1", ["one"], LATER, Status.KILLED)
    assert [blob.store for blob in freed] == ["one"]
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None and (found.status, found.size, found.locations) == (
        Status.KILLED, None, [],
    )  # fmt: skip
    assert found.properties == {imports.FAILED: "one"}


def test_a_copy_holds_an_active_image_and_says_where_it_failed(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.ACTIVE))
    database.run(True, insert, artifact("q", Status.QUEUED))
    assert not database.run(True, imports.start_copy, task("c0", "q"), ["two"], NOW)
    assert database.run(True, imports.start_copy, task("c1"), ["two", "three"], NOW)
    assert not database.run(True, imports.start_copy, task("c2"), ["two"], NOW)  # held
    database.run(True, imports.copying, "a", ["three"], ["two"])
    assert properties(database) == {
        imports.TASK: "c1", imports.IMPORTING_TO: "three", imports.FAILED: "two",
    }  # fmt: skip
    database.run(True, imports.end_copy, "a", "c2", ["three"])  # not the holder: no effect
    assert properties(database)[imports.TASK] == "c1"
    database.run(True, imports.end_copy, "a", "c1", ["two", "three"])
    assert properties(database) == {imports.IMPORTING_TO: "", imports.FAILED: "two,three"}
    assert database.run(False, artifacts.status_of, "a") is Status.ACTIVE


def test_a_copy_is_kept_only_while_the_image_has_data(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.ACTIVE))
    database.run(True, stored, "a", "one", "1" * 64)
    database.run(True, imports.start_copy, task("c1"), ["two"], NOW)
    copy = database.run(True, blobs.reserve, "two", "a-copy", NOW)
    assert database.run(True, imports.add_copy, copy, "a", RECEIVED) is None
    assert sorted(database.run(False, imports.blob_ids, "a"))[-1] == copy
    database.run(True, imports.succeed_copy, "a", [])
    assert properties(database) == {imports.IMPORTING_TO: "", imports.FAILED: ""}
    assert [blob.id for blob in database.run(True, imports.remove_copy, "a", "two")] == [copy]
    database.run(True, artifacts.mark_deleted, "a", NOW)
    late = database.run(True, blobs.reserve, "two", "a-late", NOW)
    with pytest.raises(Gone):
        database.run(True, imports.add_copy, late, "a", RECEIVED)


def test_a_conversion_replaces_the_data_and_says_its_format(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.IMPORTING, disk_format="qcow2"))
    database.run(True, stored, "a", "one", "1" * 64)
    original = database.run(False, imports.blob_ids, "a")
    database.run(True, stored, "a", "one", "2" * 64)  # the converted data
    freed = database.run(True, imports.converted, "a", original, "raw")
    assert [blob.id for blob in freed] == original
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None and found.disk_format == "raw"
    assert [place.os_hash_value for place in found.locations] == ["2" * 64]
    database.run(True, imports.describe, "a", "vmdk", "ova", {"os_distro": "debian"})
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None
    assert (found.disk_format, found.container_format, found.properties) == (
        "vmdk", "ova", {"os_distro": "debian"},
    )  # fmt: skip
