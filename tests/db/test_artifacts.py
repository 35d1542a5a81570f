"""Queries on artifacts: a quota checked as the row goes in, one package per address,
compare-and-set transitions, metadata rewritten against what was read, deletes that
free data and file names, and the reasons data stays in a store (``KeptInStore``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Connection

from lading.db import artifacts
from lading.db.artifacts import KeptInStore
from lading.db.engine import Database
from lading.domain import Status
from lading.errors import Conflict, NotFound
from tests.db.rows import NOW, artifact, insert, stored


def test_the_limit_counts_only_the_owners_live_artifacts(database: Database) -> None:
    def scene(connection: Connection) -> None:
        insert(connection, artifact("a", Status.ACTIVE, size=10))
        insert(connection, artifact("b", Status.QUEUED))
        insert(connection, artifact("gone", Status.DELETED, size=1000))
        insert(connection, artifact("theirs", owner="other", size=7))

    database.run(True, scene)
    assert database.run(False, artifacts.usage, "project") == (2, 10)
    assert not database.run(True, artifacts.insert_artifact, artifact("c"), 2)
    assert database.run(False, artifacts.fetch_artifact, "c") is None
    assert database.run(True, artifacts.insert_artifact, artifact("c"), 3)


def test_an_id_or_a_package_address_is_taken_once(database: Database) -> None:
    package = artifact("p1", name="tool", version="1.0", filename="tool-1.0.tgz")
    database.run(True, insert, package)
    with pytest.raises(Conflict, match="new version"):
        database.run(True, artifacts.insert_artifact, replace(package, id="p2"))
    with pytest.raises(Conflict, match="already exists"):
        database.run(True, artifacts.insert_artifact, artifact("p1"))
    assert database.run(False, artifacts.package_address, "p1") == ("tool", "project")


def test_a_status_moves_only_from_an_expected_one(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.QUEUED))
    assert not database.run(True, artifacts.set_status, "a", [Status.SAVING], Status.ACTIVE)
    assert database.run(False, artifacts.status_of, "a") is Status.QUEUED
    assert database.run(True, artifacts.set_status, "a", [Status.QUEUED], Status.SAVING)
    assert database.run(False, artifacts.status_of, "a") is Status.SAVING
    assert database.run(False, artifacts.status_of, "nobody") is None


def test_an_update_rewrites_what_changed_unless_deleted_meanwhile(database: Database) -> None:
    before = artifact("a", name="old", properties={"keep": "1", "drop": "2"}, tags=["x"])
    database.run(True, insert, before)
    after = replace(before, name="new", properties={"keep": "1", "add": "3"}, tags=["y", "z"])
    assert database.run(True, artifacts.update_artifact, after, before)
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None
    assert (found.name, found.properties, found.tags) == ("new", after.properties, ["y", "z"])
    database.run(True, artifacts.mark_deleted, "a", NOW)
    assert not database.run(True, artifacts.update_artifact, before, after)


def test_an_update_onto_another_packages_address_conflicts(database: Database) -> None:
    database.run(True, insert, artifact("p1", name="tool", version="1", filename="t.tgz"))
    other = database.run(True, insert, artifact("p2", name="tool", version="2", filename="t.tgz"))
    with pytest.raises(Conflict, match="another package"):
        database.run(True, artifacts.update_artifact, replace(other, version="1"), other)


def test_deleting_frees_a_never_filled_file_name_and_happens_once(database: Database) -> None:
    package = artifact("p1", name="tool", version="1", filename="t.tgz")
    database.run(True, insert, package)
    assert database.run(True, artifacts.mark_deleted, "p1", NOW) == []
    database.run(True, insert, replace(package, id="p2"))  # the retry of a failed upload
    with pytest.raises(NotFound):
        database.run(True, artifacts.mark_deleted, "p1", NOW)
    with pytest.raises(NotFound):
        database.run(False, artifacts.refuse_if_gone, "p1")


def test_deleting_returns_the_blobs_no_one_else_references(database: Database) -> None:
    def scene(connection: Connection) -> None:
        for artifact_id in ("a", "b"):
            insert(connection, artifact(artifact_id, Status.ACTIVE, checksum="m" * 32))
        stored(connection, "a", "default", "1" * 64)
        stored(connection, "b", "default", "1" * 64)  # the same bytes: shared
        stored(connection, "a", "default", "2" * 64)

    database.run(True, scene)
    freed = database.run(True, artifacts.mark_deleted, "a", NOW)
    assert [blob.key for blob in freed] == ["a-default-22"]  # the shared one stays for b
    freed = database.run(True, artifacts.mark_deleted, "b", NOW)
    assert [blob.key for blob in freed] == ["a-default-11"]


def test_a_delayed_delete_is_due_for_scrub_once_its_delay_is_over(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.ACTIVE, size=100))
    database.run(True, artifacts.mark_pending_delete, "a", NOW)
    assert database.run(False, artifacts.reclaimable) == 100
    assert database.run(False, artifacts.due_for_scrub, NOW) == []
    assert database.run(False, artifacts.due_for_scrub, NOW + timedelta(seconds=1)) == ["a"]
    with pytest.raises(NotFound):  # pending_delete is no status to delay again from
        database.run(True, artifacts.mark_pending_delete, "a", NOW)
    database.run(True, artifacts.mark_deleted, "a", NOW)  # the scrub
    assert database.run(False, artifacts.reclaimable) == 0


def test_tags_and_publication_say_whether_they_changed(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.ACTIVE))
    assert database.run(True, artifacts.add_tag, "a", "t", NOW)
    assert not database.run(True, artifacts.add_tag, "a", "t", NOW)
    assert database.run(True, artifacts.remove_tag, "a", "t", NOW)
    assert not database.run(True, artifacts.remove_tag, "a", "t", NOW)
    assert database.run(True, artifacts.set_published, "a", False, NOW)
    assert not database.run(True, artifacts.set_published, "a", False, NOW)


def test_uploads_under_way_count_receivers_and_staged_bytes(database: Database) -> None:
    def scene(connection: Connection) -> None:
        insert(connection, artifact("s", Status.SAVING))
        insert(connection, artifact("u", Status.UPLOADING, size=40))
        insert(connection, artifact("i", Status.IMPORTING, size=1000))
        insert(connection, artifact("a", Status.ACTIVE, size=9))

    database.run(True, scene)
    assert database.run(False, artifacts.uploads_under_way, "project") == (3, 40)
    assert database.run(False, artifacts.uploads_under_way, "other") == (0, 0)


def test_data_stays_in_a_store_for_a_reason(database: Database) -> None:
    def scene(connection: Connection) -> None:
        insert(connection, artifact("a", Status.ACTIVE))
        stored(connection, "a", "one", "1" * 64)
        insert(connection, artifact("q", Status.QUEUED))

    database.run(True, scene)
    remove = artifacts.remove_from_store
    assert database.run(True, remove, "q", "one", NOW) is KeptInStore.NOT_ACTIVE
    assert database.run(True, remove, "a", "two", NOW) is KeptInStore.NOT_IN_STORE
    assert database.run(True, remove, "a", "one", NOW) is KeptInStore.ONLY_COPY
    database.run(True, stored, "a", "two", "1" * 64)
    freed = database.run(True, remove, "a", "one", NOW)
    assert isinstance(freed, list) and [blob.store for blob in freed] == ["one"]
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None and [place.store for place in found.locations] == ["two"]
