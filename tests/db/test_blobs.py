"""Queries on blobs: the same bytes in a store kept once and shared by reference, an
external URL one blob for every artifact registered at it, a blob doomed when its last
reference goes, and the bytes left behind (doomed, or pending after a crash) found."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, select

from lading.db import blobs
from lading.db.engine import Database
from lading.db.models import blobs as blob_table
from lading.domain import Status
from lading.errors import Conflict
from lading.processes import Holder
from tests.db.rows import NOW, artifact, insert, stored

DEAD = Holder("dead-holder", "host", 1, "1")


def states(connection: Connection) -> dict[str, tuple[str, int]]:
    rows = connection.execute(select(blob_table.c.key, blob_table.c.state, blob_table.c.refcount))
    return {row.key: (row.state, row.refcount) for row in rows}


def blob_ids(connection: Connection) -> list[int]:
    return list(connection.execute(select(blob_table.c.id)).scalars())


def artifacts_ab(connection: Connection) -> None:
    for artifact_id in ("a", "b", "c"):
        insert(connection, artifact(artifact_id, Status.ACTIVE))


def test_the_same_bytes_in_one_store_are_kept_once(database: Database) -> None:
    database.run(True, artifacts_ab)
    assert database.run(True, stored, "a", "one", "1" * 64) is None
    redundant = database.run(True, stored, "b", "one", "1" * 64)
    assert redundant is not None and redundant.key == "b-one-11"  # its bytes to remove
    assert database.run(True, stored, "c", "two", "1" * 64) is None  # another store: kept
    assert database.run(False, states) == {
        "a-one-11": (blobs.READY, 2),
        "b-one-11": (blobs.DOOMED, 0),
        "c-two-11": (blobs.READY, 1),
    }


def test_a_blob_given_up_cannot_be_committed(database: Database) -> None:
    database.run(True, artifacts_ab)
    blob_id = database.run(True, blobs.reserve, "one", "k", NOW)
    database.run(True, blobs.release_ids, "a", [blob_id])  # recovery doomed it meanwhile
    with pytest.raises(Conflict, match="given up"):
        database.run(True, blobs.commit, blob_id, "a", 5, "m" * 32, "1" * 64)


def test_the_last_reference_released_dooms_a_blob(database: Database) -> None:
    database.run(True, artifacts_ab)
    database.run(True, stored, "a", "one", "1" * 64)
    database.run(True, stored, "b", "one", "1" * 64)
    assert [blob.key for blob in database.run(False, blobs.sole, "a")] == []
    assert database.run(True, blobs.release, "a") == []
    assert [blob.key for blob in database.run(False, blobs.sole, "b")] == ["a-one-11"]
    assert [blob.key for blob in database.run(True, blobs.release, "b")] == ["a-one-11"]
    assert database.run(True, blobs.release, "b") == []  # nothing left to release


def test_an_external_url_is_one_blob_whose_size_holds(database: Database) -> None:
    database.run(True, artifacts_ab)
    url = "https://example.org/image.qcow2"
    database.run(True, blobs.refer, "a", "http", url, 100, NOW)
    database.run(True, blobs.refer, "b", "http", url, 100, NOW)
    assert database.run(False, states) == {url: (blobs.READY, 2)}
    with pytest.raises(Conflict, match="before hold 100"):
        database.run(True, blobs.refer, "c", "http", url, 200, NOW)
    database.run(True, blobs.release, "a")
    database.run(True, blobs.release, "b")
    database.run(True, blobs.refer, "c", "http", url, 200, NOW)  # nobody used the old size
    assert database.run(False, states) == {url: (blobs.READY, 1)}


def test_abandoned_bytes_are_doomed_or_pending_too_long(database: Database) -> None:
    database.run(True, artifacts_ab)
    database.run(True, blobs.reserve, "one", "recent", NOW)
    database.run(True, blobs.reserve, "one", "stale", NOW - timedelta(hours=1))
    database.run(True, stored, "a", "one", "1" * 64)
    database.run(True, stored, "b", "one", "1" * 64)  # its pending blob doomed
    found = database.run(False, blobs.abandoned, NOW - timedelta(minutes=1))
    assert sorted(blob.key for blob in found) == ["b-one-11", "stale"]
    for blob in found:
        database.run(True, blobs.forget, blob.id)
    for blob_id in database.run(False, blob_ids):
        database.run(True, blobs.forget, blob_id)  # only a referenced one stays
    assert sorted(database.run(False, states)) == ["a-one-11"]


def test_the_pending_blobs_of_a_dead_holder_are_doomed(database: Database) -> None:
    live = Holder("live-holder", "host", 2, "2")
    database.run(True, blobs.reserve, "one", "of-live", NOW, live)
    database.run(True, blobs.reserve, "one", "of-dead", NOW - timedelta(hours=1), DEAD)
    database.run(True, blobs.reserve, "one", "of-nobody", NOW)  # judged by its age only
    doomed = database.run(True, blobs.doom_dead, NOW - timedelta(minutes=1), [])
    assert [blob.key for blob in doomed] == ["of-dead"]
    doomed = database.run(True, blobs.doom_dead, NOW - timedelta(minutes=1), ["live-holder"])
    assert [blob.key for blob in doomed] == ["of-live"]
    assert database.run(False, states)["of-nobody"] == (blobs.PENDING, 0)
