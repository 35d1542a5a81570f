"""The transactions of an upload, each guarded by its lease: begun only from queued,
renewed and ended only by the lease that holds the artifact, and ``Lost`` saying why
one no longer does (deleted, or given up); expired and dead uploads taken back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection

from lading.db import artifacts, uploads
from lading.db.engine import Database
from lading.db.uploads import Lease, Lost
from lading.domain import Digests, Status
from lading.errors import Conflict, NotFound
from lading.processes import Holder
from tests.db.rows import NOW, artifact, insert

LATER = NOW + timedelta(minutes=5)
RECEIVED = Digests(5, "m" * 32, "1" * 64)


def begun(database: Database, token: str = "lease-1", holder: Holder | None = None) -> Lease:
    lease = Lease("a", token, "one", f"key-{token}", holder=holder)
    lease.blob_id = database.run(True, uploads.begin, lease, LATER, NOW)
    return lease


def queued(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.QUEUED))


def test_an_upload_begins_only_from_queued(database: Database) -> None:
    queued(database)
    begun(database)
    assert database.run(False, artifacts.status_of, "a") is Status.SAVING
    with pytest.raises(Conflict, match="no longer queued"):
        begun(database, "lease-2")
    database.run(True, artifacts.mark_deleted, "a", NOW)
    with pytest.raises(NotFound):
        begun(database, "lease-3")


def test_an_upload_activates_the_artifact_with_what_it_received(database: Database) -> None:
    queued(database)
    lease = begun(database)
    assert database.run(True, uploads.renew, lease, LATER, NOW) is None
    assert database.run(True, uploads.activate, lease, RECEIVED, NOW, virtual_size=9) is None
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None and found.status is Status.ACTIVE
    assert (found.size, found.checksum, found.os_hash_value, found.virtual_size) == (
        5, "m" * 32, "1" * 64, 9,
    )  # fmt: skip
    assert [place.key for place in found.locations] == ["key-lease-1"]


def test_an_upload_given_up_no_longer_holds_the_artifact(database: Database) -> None:
    queued(database)
    lease = begun(database)
    assert database.run(True, uploads.expire, LATER) == 0  # not yet
    assert database.run(True, uploads.expire, LATER + timedelta(seconds=1)) == 1
    assert database.run(False, artifacts.status_of, "a") is Status.QUEUED
    assert database.run(False, uploads.check_held, lease) is Lost.GIVEN_UP
    assert database.run(True, uploads.renew, lease, LATER, NOW) is Lost.GIVEN_UP
    newer = begun(database, "lease-2")  # the retry holds it now; the old lease cannot end it
    database.run(True, uploads.abandon, lease)
    assert database.run(False, artifacts.status_of, "a") is Status.SAVING
    assert database.run(False, uploads.check_held, newer) is None


def test_an_upload_of_a_deleted_artifact_is_lost_as_deleted(database: Database) -> None:
    queued(database)
    lease = begun(database)
    database.run(True, artifacts.mark_deleted, "a", NOW)
    assert database.run(False, uploads.check_held, lease) is Lost.DELETED
    assert database.run(True, uploads.activate, lease, RECEIVED, NOW) is Lost.DELETED


def test_an_abandoned_upload_leaves_the_status_the_face_chose(database: Database) -> None:
    queued(database)
    lease = begun(database)
    lease.failed = Status.KILLED
    database.run(True, uploads.abandon, lease)
    assert database.run(False, artifacts.status_of, "a") is Status.KILLED


def test_an_upload_whose_holder_died_is_taken_back_at_once(database: Database) -> None:
    queued(database)
    holder = Holder("upload-holder", "host", 3, "3")
    lease = begun(database, holder=holder)
    assert database.run(True, uploads.recover_dead, NOW - timedelta(seconds=1), []) == 0
    assert database.run(True, uploads.recover_dead, NOW + timedelta(seconds=1), []) == 1
    assert database.run(False, uploads.check_held, lease) is Lost.GIVEN_UP


def test_registering_an_external_location_needs_a_queued_artifact(database: Database) -> None:
    def scene(connection: Connection) -> None:
        insert(connection, artifact("a", Status.QUEUED))
        insert(connection, artifact("b", Status.ACTIVE))

    database.run(True, scene)
    database.run(True, uploads.register, "a", "http", "https://x/i", 7, None, NOW)
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None and (found.status, found.size) == (Status.ACTIVE, 7)
    with pytest.raises(Conflict, match="no longer queued"):
        database.run(True, uploads.register, "b", "http", "https://x/j", 7, None, NOW)


def test_a_stage_waiting_too_long_goes_back_to_queued_without_its_data(
    database: Database,
) -> None:
    queued(database)
    lease = Lease("a", "stage", "one", "staged", status=Status.UPLOADING)
    lease.blob_id = database.run(True, uploads.begin, lease, LATER, NOW)
    final = Status.UPLOADING
    assert database.run(True, uploads.activate, lease, RECEIVED, NOW, final) is None
    assert database.run(True, uploads.expire_stages, NOW, NOW) == []
    assert database.run(True, uploads.expire_stages, LATER, LATER) == ["a"]
    found = database.run(False, artifacts.fetch_artifact, "a")
    assert found is not None
    assert (found.status, found.size, found.checksum, found.locations) == (
        Status.QUEUED, None, None, [],
    )  # fmt: skip
