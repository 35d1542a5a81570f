"""Who sees what and who may change it, decided on the Caller alone (no catalogue): Glance
v2's visibility, Click's review gate, ownership, and a signing client's own actions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from lading.domain import Artifact, Status, Visibility
from lading.errors import Forbidden
from lading.services.access import Caller, can_see
from lading.services.roles import ADMIN, MEMBER, READER

NOW = datetime(2026, 12, 6, 12, 0, 0)
MINE = Caller.with_role("A", MEMBER)
THEIRS = Caller.with_role("B", MEMBER)
ADMINISTRATOR = Caller.with_role("C", ADMIN)


def artifact(visibility: Visibility, published: bool = True) -> Artifact:
    return Artifact("id-1", "A", Status.ACTIVE, visibility, NOW, NOW, published=published)


@pytest.mark.parametrize(
    ("visibility", "published", "member", "seen"),
    [
        (Visibility.PRIVATE, True, False, False),
        (Visibility.PRIVATE, True, True, False),  # a membership of a private one: nothing
        (Visibility.SHARED, True, False, False),
        (Visibility.SHARED, True, True, True),
        (Visibility.SHARED, False, True, False),  # not yet through Click's review
        (Visibility.COMMUNITY, True, False, True),
        (Visibility.PUBLIC, True, False, True),
        (Visibility.PUBLIC, False, False, False),
    ],
)
def test_another_project_sees_by_visibility_membership_and_review(
    visibility: Visibility, published: bool, member: bool, seen: bool
) -> None:
    made = artifact(visibility, published)
    assert can_see(THEIRS, made, is_member=member) is seen
    assert can_see(MINE, made)  # its own project sees it, published or not
    assert can_see(ADMINISTRATOR, made)


def test_roles_imply_the_ones_below() -> None:
    assert Caller.with_role("A", ADMIN).roles == {ADMIN, MEMBER, READER}
    assert Caller.with_role("A", MEMBER).roles == {MEMBER, READER}
    assert Caller.with_role("A", READER).roles == {READER}
    assert ADMINISTRATOR.is_admin and not MINE.is_admin


def test_only_the_owner_or_an_administrator_changes_an_artifact() -> None:
    made = artifact(Visibility.PUBLIC)
    assert MINE.may_change(made, "modify_image")
    MINE.require_owner(made, "modify_image")
    assert not THEIRS.may_change(made, "modify_image")
    with pytest.raises(Forbidden):  # Glance's rule names the project: the policy refuses
        THEIRS.require_owner(made, "modify_image")
    assert ADMINISTRATOR.may_change(made, "modify_image")
    reader = Caller.with_role("A", READER)
    assert not reader.may_change(made, "modify_image")  # the policy: readers change nothing
    with pytest.raises(Forbidden, match="policy"):
        reader.require_owner(made, "modify_image")


def test_a_signing_client_publishes_for_its_project_whatever_its_role() -> None:
    made = artifact(Visibility.PRIVATE, published=False)
    reader = Caller.with_role("A", READER)
    assert not reader.may("publish_image", made)
    assert replace(reader, signed_by="software-center").may("publish_image", made)
    assert not replace(reader, signed_by="software-center").may("delete_image", made)


def test_the_policy_sees_the_artifacts_fields_and_properties_as_plain_values() -> None:
    made = replace(artifact(Visibility.SHARED), properties={"os_distro": "cirros"})
    target = MINE._target(made, member="B")
    assert target["visibility"] == "shared"  # the enum's value, as a check string compares
    assert target["owner"] == target["project_id"] == "A"
    assert target["os_distro"] == "cirros" and target["member_id"] == "B"
    assert MINE.credentials == {"roles": ["member", "reader"], "project_id": "A",
                                "user_id": None, "service_roles": []}  # fmt: skip
