"""The metadata rules every face's ``Changes`` pass through: read-only and unknown fields,
formats and bounds, who may set visibility, owner and core fields, a package's address
fixed once it has a file name, reserved and protected properties, tags and quotas."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lading.domain import Artifact, Status, Visibility
from lading.errors import BadRequest, Forbidden, TooLarge
from lading.services.access import Caller
from lading.services.policy import Policy
from lading.services.protections import PropertyProtections
from lading.services.roles import ADMIN, MEMBER
from lading.services.validation import (
    Changes,
    apply,
    check_project,
    match_amazon_formats,
    new_id,
    require_formats,
)
from lading.settings import QuotaSettings

NOW = datetime(2026, 12, 6, 12, 0, 0)
QUOTA = QuotaSettings(properties=2, tags=2)
MEMBER_A = Caller.with_role("A", MEMBER)
ADMIN_A = Caller.with_role("A", ADMIN)
QUEUED = Artifact("i", "A", Status.QUEUED, Visibility.PRIVATE, NOW, NOW)
ACTIVE = replace(QUEUED, status=Status.ACTIVE, disk_format="raw", container_format="bare")


def changed(fields: dict[str, Any] | None = None, previous: Artifact | None = None,
            caller: Caller = MEMBER_A, **changes: Any) -> Artifact:  # fmt: skip
    artifact = previous or QUEUED
    return apply(caller, artifact, Changes(fields or {}, **changes), previous, QUOTA)


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"status": "active"}, Forbidden),
        ({"size": 1}, Forbidden),
        ({"colour": "red"}, BadRequest),
        ({"name": "x" * 256}, BadRequest),
        ({"name": "a\x00b"}, BadRequest),
        ({"visibility": "everyone"}, BadRequest),
        ({"protected": "yes"}, BadRequest),
        ({"disk_format": "floppy"}, BadRequest),
        ({"min_ram": -1}, BadRequest),
        ({"min_disk": True}, BadRequest),
        ({"min_disk": 2**31}, BadRequest),
        ({"visibility": "public"}, Forbidden),  # publicize_image: admins by default
        ({"owner": "B"}, Forbidden),
    ],
)
def test_fields_a_member_may_not_set(fields: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        changed(fields)


def test_fields_within_the_rules_are_set_in_their_types() -> None:
    made = changed({"name": "n", "visibility": "shared", "min_ram": 2**31 - 1, "protected": True})
    assert (made.name, made.visibility, made.min_ram, made.protected) == (
        "n", Visibility.SHARED, 2**31 - 1, True,
    )  # fmt: skip
    assert changed({"owner": "B"}, caller=ADMIN_A).owner == "B"


def test_only_what_differs_from_before_is_checked() -> None:
    # Carrying the read-only status along unchanged is no attempt to set it.
    assert changed({"status": "active", "name": "n"}, ACTIVE).name == "n"


def test_core_fields_are_for_administrators_once_an_artifact_has_data() -> None:
    assert changed({"disk_format": "qcow2"}, QUEUED).disk_format == "qcow2"
    with pytest.raises(Forbidden, match="disk_format"):
        changed({"disk_format": "qcow2"}, ACTIVE)
    assert changed({"disk_format": "qcow2"}, ACTIVE, ADMIN_A).disk_format == "qcow2"


def test_a_packages_address_is_checked_then_fixed() -> None:
    with pytest.raises(BadRequest, match="needs a name and a version"):
        changed({"filename": "t.tgz", "name": "tool"})
    with pytest.raises(BadRequest):
        changed({"filename": "t.tgz", "name": "-tool", "version": "1"})
    package = changed({"filename": "t.tgz", "name": "tool", "version": "1"})
    for field in ("name", "version", "filename"):
        with pytest.raises(Forbidden, match="download URLs"):
            changed({field: "other"}, package, ADMIN_A)


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("os_glance_x", "v", Forbidden),
        ("locations", "v", Forbidden),
        ("tags", "v", Forbidden),
        ("name", "v", BadRequest),  # a base field is no property
        ("", "v", BadRequest),
        ("p", 3, BadRequest),
        ("p", "x" * 65536, BadRequest),
        ("kernel_id", "not-a-uuid", BadRequest),
    ],
)
def test_properties_a_caller_may_not_set(name: str, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        changed(properties={name: value})


def test_properties_and_tags_are_counted_against_the_quota() -> None:
    assert changed(properties={"a": "1", "b": "2"}).properties == {"a": "1", "b": "2"}
    with pytest.raises(TooLarge):
        changed(properties={"a": "1", "b": "2", "c": "3"})
    assert changed(tags=["x", "y", "x"]).tags == ["x", "y"]  # repeats are one tag
    with pytest.raises(TooLarge):
        changed(tags=["x", "y", "z"])
    for bad in (["a\nb"], [""], "x", [1]):
        with pytest.raises(BadRequest):
            changed(tags=bad)


def test_a_protected_property_is_neither_written_nor_lost(tmp_path: Path) -> None:
    path = tmp_path / "protections.conf"
    path.write_text("[^x_]\ncreate = admin\nread = admin\nupdate = admin\ndelete = admin\n"
                    "[.*]\ncreate = @\nread = @\nupdate = @\ndelete = @\n")  # fmt: skip
    policy = Policy(protections=PropertyProtections.load(path))
    member = Caller.with_role("A", MEMBER, policy)
    before = replace(ACTIVE, properties={"x_billing": "gold", "os_glance_y": "1"})
    # The member does not see x_billing: leaving it out does not delete it.
    seen = {"os_glance_y": "1", "mine": "v"}
    after = apply(member, before, Changes({}, seen), before, QuotaSettings())
    assert after.properties == {"x_billing": "gold", "os_glance_y": "1", "mine": "v"}
    with pytest.raises(Forbidden, match="protected"):  # whether or not it exists
        apply(member, before, Changes({}, {**seen, "x_new": "1"}), before, QuotaSettings())
    with pytest.raises(Forbidden, match="reserved"):  # a reserved one is not deleted
        apply(member, before, Changes({}, {"mine": "v"}), before, QuotaSettings())


def test_ids_projects_and_formats() -> None:
    assert new_id("0123456789ABCDEF0123456789ABCDEF") == "01234567-89ab-cdef-0123-456789abcdef"
    assert len(new_id(None)) == 36
    for bad in ("{01234567-89ab-cdef-0123-456789abcdef}", "nope", 7):
        with pytest.raises(BadRequest):
            new_id(bad)
    assert check_project("owner", "p") == "p"
    for project in ("   ", "", "x" * 256, None):
        with pytest.raises(BadRequest):
            check_project("owner", project)
    with pytest.raises(BadRequest, match="disk_format and container_format"):
        require_formats(QUEUED)
    require_formats(ACTIVE)


def test_amazon_formats_go_in_pairs() -> None:
    fields: dict[str, Any] = {"disk_format": "aki"}
    match_amazon_formats(fields)
    assert fields == {"disk_format": "aki", "container_format": "aki"}
    fields = {"container_format": "ami"}
    match_amazon_formats(fields)
    assert fields == {"disk_format": "ami", "container_format": "ami"}
    fields = {"disk_format": "raw"}
    match_amazon_formats(fields)
    assert fields == {"disk_format": "raw"}
    with pytest.raises(BadRequest, match="must be the same"):
        match_amazon_formats({"disk_format": "aki", "container_format": "bare"})
