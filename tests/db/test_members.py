"""Queries on the projects an artifact is shared with: one membership per project,
listed in the order they were made, a status changed or a member removed only if there."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lading.db import members
from lading.db.engine import Database
from lading.domain import Member, MemberStatus, Status
from lading.errors import Conflict
from tests.db.rows import NOW, artifact, insert

LATER = NOW + timedelta(minutes=1)


def member(project: str, minutes: int = 0) -> Member:
    made = NOW + timedelta(minutes=minutes)
    return Member("a", project, MemberStatus.PENDING, made, made)


def test_a_project_is_a_member_once_listed_as_added(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.ACTIVE))
    for project, minutes in (("late", 2), ("early", 0), ("b", 1), ("a", 1)):
        database.run(True, members.add, member(project, minutes))
    with pytest.raises(Conflict, match="already a member"):
        database.run(True, members.add, member("early", 5))
    listed = database.run(False, members.list_members, "a")
    assert [made.member for made in listed] == ["early", "a", "b", "late"]
    assert database.run(False, members.find, "a", "b") == member("b", 1)
    assert database.run(False, members.find, "a", "nobody") is None


def test_a_status_changes_and_a_member_goes_only_if_there(database: Database) -> None:
    database.run(True, insert, artifact("a", Status.ACTIVE))
    database.run(True, members.add, member("b"))
    accepted = MemberStatus.ACCEPTED
    assert database.run(True, members.set_status, "a", "b", accepted, LATER)
    assert not database.run(True, members.set_status, "a", "c", accepted, LATER)
    found = database.run(False, members.find, "a", "b")
    assert found is not None and (found.status, found.updated_at) == (accepted, LATER)
    assert database.run(True, members.remove, "a", "b")
    assert not database.run(True, members.remove, "a", "b")
