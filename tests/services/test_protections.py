"""Property protections (Glance's property-protections-roles.conf): the first section
whose pattern a name matches decides, ``@`` admits everyone and ``!`` nobody, roles imply
those below them, a name no section matches is refused, and a file that cannot be used
is refused whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from lading.services.policy import Policy
from lading.services.protections import PropertyProtections
from lading.services.roles import IMPLIED_ROLES, PolicyError

RULES = """
[^x_audit_]
create = admin
read = member
update = admin
delete = !

[^x_]
create = @
read = @
update = @
delete = @
"""


@pytest.fixture
def rules(tmp_path: Path) -> PropertyProtections:
    path = tmp_path / "protections.conf"
    path.write_text(RULES)
    return PropertyProtections.load(path)


def test_the_first_matching_section_decides(rules: PropertyProtections) -> None:
    admin, member, reader = (IMPLIED_ROLES[role] for role in ("admin", "member", "reader"))
    assert rules.allows(admin, "x_audit_log", "create")
    assert not rules.allows(member, "x_audit_log", "create")  # not [^x_]'s @
    assert rules.allows(admin, "x_audit_log", "read")  # member admits the roles above it
    assert not rules.allows(reader, "x_audit_log", "read")
    assert not rules.allows(admin, "x_audit_log", "delete")  # ! admits nobody
    assert rules.allows(reader, "x_other", "delete")


def test_patterns_are_searched_not_matched_whole(tmp_path: Path) -> None:
    path = tmp_path / "protections.conf"
    path.write_text("[secret]\ncreate = !\nread = !\nupdate = !\ndelete = !\n"
                    "[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n")  # fmt: skip
    rules = PropertyProtections.load(path)
    assert not rules.allows(IMPLIED_ROLES["admin"], "my_secret_key", "read")
    assert rules.allows(IMPLIED_ROLES["reader"], "public_key", "read")


def test_a_file_that_cannot_be_read_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read"):
        PropertyProtections.load(tmp_path / "missing.conf")


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[(unclosed]\ncreate = @\nread = @\nupdate = @\ndelete = @\n", "regular expression"),
        ("[.*]\ncreate = @\nread = @\nupdate = @\n", "who may delete"),
        ("[.*]\ncreate = _member_\nread = @\nupdate = @\ndelete = @\n", "must list roles"),
        ("[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\nshare = @\n", "unknown"),
        ("", "no property protection rules"),
    ],
)
def test_bad_protection_files_are_refused(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "protections.conf"
    path.write_text(text)
    with pytest.raises(PolicyError, match=complaint):
        Policy.load(None, path)


def test_a_name_no_rule_matches_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "protections.conf"
    path.write_text("[^os_]\ncreate = @\nread = @\nupdate = @\ndelete = @\n")
    rules = PropertyProtections.load(path)
    assert rules.allows(IMPLIED_ROLES["reader"], "os_distro", "read")
    assert not rules.allows(IMPLIED_ROLES["admin"], "other", "read")
