"""The transactions of a resumable upload (``lading.db.tus``): one PATCH holds it at a
time, a part moves the offset only under its PATCH's claim and from the offset it began
at, a dead process's claim is released, and only an unclaimed upload is removed; and the
registry's chunked uploads (``lading.db.oci``), claimed the same way by the request
writing a chunk in place."""

from __future__ import annotations

from datetime import timedelta

from lading.db import holders, oci, tus
from lading.db.engine import Database
from lading.processes import Holder
from tests.db.rows import NOW

LATER = NOW + timedelta(minutes=5)
UPLOAD = tus.Upload(
    "u1", "A", None, "default", "tus/u1", 100, 0, 0, "", "image", None, False, tus.RECEIVING,
    NOW + timedelta(days=1), NOW,
)  # fmt: skip


def made(database: Database) -> None:
    database.run(True, tus.insert_upload, UPLOAD)


def test_one_patch_holds_an_upload_at_a_time(database: Database) -> None:
    made(database)
    assert database.run(True, tus.claim, "u1", 0, "first", "h1", LATER, NOW)
    assert not database.run(True, tus.claim, "u1", 0, "second", "h2", LATER, NOW)
    # Past its claim's time, another takes it over.
    assert database.run(True, tus.claim, "u1", 0, "second", "h2", LATER, LATER + timedelta(1))
    assert not database.run(True, tus.add_part, "u1", "first", tus.Part(0, 0, 10), None, LATER, NOW)
    assert database.run(True, tus.add_part, "u1", "second", tus.Part(0, 0, 10), None, LATER, NOW)
    found = database.run(False, tus.find, "u1")
    assert found is not None and (found.offset, found.parts) == (10, 1)
    assert database.run(False, tus.parts, "u1") == [tus.Part(0, 0, 10)]
    # A claim at the old offset is refused: the offset moved.
    assert not database.run(True, tus.claim, "u1", 0, "third", "h3", LATER, NOW)
    assert database.run(True, tus.claim, "u1", 10, "third", "h3", LATER, NOW)


def test_an_empty_patch_moves_nothing_and_adds_no_part(database: Database) -> None:
    made(database)
    assert database.run(True, tus.claim, "u1", 0, "t", "h", LATER, NOW)
    assert database.run(True, tus.add_part, "u1", "t", tus.Part(0, 0, 0), None, LATER, NOW)
    found = database.run(False, tus.find, "u1")
    assert found is not None and (found.offset, found.parts) == (0, 0)
    assert database.run(False, tus.parts, "u1") == []


def test_a_dead_processs_claim_is_released(database: Database) -> None:
    made(database)
    database.run(True, holders.beat, Holder("dead", None, 1, "1"), NOW)
    assert database.run(True, tus.claim, "u1", 0, "t", "dead", LATER, NOW)
    assert database.run(True, tus.release_dead, NOW - timedelta(seconds=1), []) == 0
    assert database.run(True, tus.release_dead, NOW + timedelta(seconds=1), []) == 1
    assert database.run(True, tus.claim, "u1", 0, "t2", "alive", LATER, NOW)


def test_a_claimed_upload_is_not_removed(database: Database) -> None:
    made(database)
    long_claim = NOW + timedelta(days=3)  # a PATCH still sending past the expiry
    assert database.run(True, tus.claim, "u1", 0, "t", "h", long_claim, NOW)
    assert database.run(True, tus.begin_removal, "u1", (tus.RECEIVING,), NOW) is None
    assert database.run(False, tus.expired, NOW + timedelta(days=2), 10) == []
    database.run(True, tus.release, "u1", "t")
    assert database.run(False, tus.expired, NOW + timedelta(days=2), 10) == ["u1"]
    removed = database.run(True, tus.begin_removal, "u1", (tus.RECEIVING,), NOW)
    assert removed is not None and removed.id == "u1"
    # Its record stays, being removed, until its parts are gone: not expired again.
    assert [found.id for found in database.run(False, tus.removing, 10)] == ["u1"]
    assert database.run(False, tus.expired, NOW + timedelta(days=2), 10) == []
    assert database.run(True, tus.begin_removal, "u1", (tus.RECEIVING,), NOW) is None
    database.run(True, tus.remove, "u1")
    assert database.run(False, tus.find, "u1") is None


def test_one_request_writes_a_registry_chunk_in_place_at_a_time(database: Database) -> None:
    upload = oci.Upload("o1", "team/app", "A", "default", 0, 0)
    database.run(True, oci.insert_upload, upload, NOW)
    assert database.run(True, oci.claim_writer, upload, "first", LATER, NOW)
    assert not database.run(True, oci.claim_writer, upload, "second", LATER, NOW)
    assert not database.run(True, oci.claim_upload, upload, NOW)  # no finish meanwhile
    database.run(True, oci.release_writer, "o1", "first")
    assert database.run(True, oci.claim_writer, upload, "second", LATER, NOW)
    assert database.run(True, oci.claim_writer, upload, "third", LATER, LATER + timedelta(1))


def test_a_dead_finish_goes_back_to_receiving_and_a_done_upload_stays_done(
    database: Database,
) -> None:
    made(database)
    database.run(True, holders.beat, Holder("dead", None, 1, "1"), NOW)
    assert database.run(True, tus.claim, "u1", 0, "t", "dead", LATER, NOW)
    assert database.run(True, tus.set_state, "u1", tus.RECEIVING, tus.FINISHING, NOW)
    assert database.run(True, tus.release_dead, NOW + timedelta(seconds=1), []) == 1
    found = database.run(False, tus.find, "u1")
    assert found is not None and found.state == tus.RECEIVING
    assert database.run(True, tus.claim, "u1", 0, "t2", "dead", LATER, NOW)
    assert database.run(True, tus.set_state, "u1", tus.RECEIVING, tus.DONE, NOW)
    assert database.run(True, tus.release_dead, NOW + timedelta(seconds=1), []) == 1
    done = database.run(False, tus.find, "u1")
    assert done is not None and done.state == tus.DONE
