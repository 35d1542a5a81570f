"""Queries on an artifact's locations as Glance's clients edit them: placed at their
index, a queued image activated by its first, never the same one twice nor the last one
removed, and ``Refused`` saying why a change was not made."""

from __future__ import annotations

import pytest

from lading.db import artifacts, locations
from lading.db.engine import Database
from lading.db.locations import NewLocation, Refusal, Refused
from lading.domain import Status
from tests.db.rows import NOW, artifact, insert

A, B, C = (NewLocation("http", f"https://x/{name}", 7, {"n": name}) for name in "abc")


def keys(database: Database, artifact_id: str = "a") -> list[str]:
    return [key for _, _, key in database.run(False, locations.ordered, artifact_id)]


@pytest.fixture
def active(database: Database) -> Database:
    """An image activated by two locations, a then c, b then placed between them."""
    database.run(True, insert, artifact("a", Status.QUEUED))
    placed = database.run(
        True, locations.place, "a", Status.QUEUED, [(0, A), (1, C)], {"size": 7}, NOW
    )
    assert placed == []
    assert database.run(True, locations.place, "a", Status.ACTIVE, [(1, B)], {}, NOW) == []
    return database


def test_locations_keep_the_order_clients_gave_and_their_metadata(active: Database) -> None:
    assert keys(active) == [A.key, B.key, C.key]
    found = active.run(False, artifacts.fetch_artifact, "a")
    assert found is not None and (found.status, found.size) == (Status.ACTIVE, 7)
    assert [place.metadata for place in found.locations] == [{"n": "a"}, {"n": "b"}, {"n": "c"}]


def test_a_location_is_not_added_twice(active: Database) -> None:
    refused = active.run(True, locations.place, "a", Status.ACTIVE, [(0, B)], {}, NOW)
    assert refused == Refused(Refusal.HAS_IT, B.key)


def test_a_change_expecting_another_status_is_refused(active: Database) -> None:
    refused = active.run(True, locations.place, "a", Status.QUEUED, [(0, A)], {}, NOW)
    assert refused == Refused(Refusal.CHANGED)
    active.run(True, artifacts.mark_deleted, "a", NOW)
    assert active.run(True, locations.rewrite, "a", [], NOW) == Refused(Refusal.CHANGED)
    assert active.run(True, locations.remove, "a", 1, NOW) == Refused(Refusal.CHANGED)


def test_locations_are_removed_but_never_the_last(active: Database) -> None:
    order = active.run(False, locations.ordered, "a")
    for blob_id, _, key in order[:2]:
        freed = active.run(True, locations.remove, "a", blob_id, NOW)
        assert isinstance(freed, list) and [blob.key for blob in freed] == [key]
    last = order[2][0]
    assert active.run(True, locations.remove, "a", last, NOW) == Refused(Refusal.LAST)
    assert keys(active) == [C.key]


def test_a_rewrite_reorders_and_replaces_metadata(active: Database) -> None:
    order = active.run(False, locations.ordered, "a")
    reversed_order = [(blob_id, {"at": str(i)}) for i, (blob_id, _, _) in enumerate(order[::-1])]
    assert active.run(True, locations.rewrite, "a", reversed_order, NOW) is None
    assert keys(active) == [C.key, B.key, A.key]
    found = active.run(False, artifacts.fetch_artifact, "a")
    assert found is not None
    assert [place.metadata for place in found.locations] == [{"at": "0"}, {"at": "1"}, {"at": "2"}]


def test_a_hash_activates_an_importing_image_or_a_mismatch_queues_it(
    database: Database,
) -> None:
    for artifact_id in ("i", "j"):
        database.run(True, insert, artifact(artifact_id, Status.IMPORTING, size=7))
    digests = {"os_hash_algo": "sha512", "os_hash_value": "f" * 128}
    assert not database.run(True, locations.hashed, "i", [Status.ACTIVE], digests, NOW)
    assert database.run(True, locations.hashed, "i", [Status.IMPORTING], digests, NOW)
    found = database.run(False, artifacts.fetch_artifact, "i")
    assert found is not None and (found.status, found.os_hash_value) == (
        Status.ACTIVE, "f" * 128,
    )  # fmt: skip
    database.run(True, locations.unverified, "j", NOW)
    found = database.run(False, artifacts.fetch_artifact, "j")
    assert found is not None and (found.status, found.size) == (Status.QUEUED, None)


def test_a_location_left_by_a_failed_hash_and_given_again_keeps_its_bytes(
    database: Database,
) -> None:
    database.run(True, insert, artifact("a", Status.QUEUED))
    database.run(True, locations.place, "a", Status.QUEUED, [(0, A)], {}, NOW, Status.IMPORTING)
    database.run(True, locations.unverified, "a", NOW)  # queued again, the location kept
    assert keys(database) == [A.key]
    again = database.run(True, locations.place, "a", Status.QUEUED, [(0, A)], {}, NOW)
    assert again == []  # released and referred to again: nothing to remove
    freed = database.run(True, locations.place, "a", Status.QUEUED, [(0, B)], {}, NOW)
    assert freed == Refused(Refusal.CHANGED)  # active now: a change must expect it
