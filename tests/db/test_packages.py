"""Queries on packages: the newest versions ranked by version order, a file name taken
over from the packages that held it, an onboarded package named only as a new package
or an update should be (``Unnamed`` saying why not), and the images a package brought."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection

from lading.db import artifacts, packages
from lading.db.engine import Database
from lading.db.packages import KIND_PROPERTY, OnboardedName, Unnamed
from lading.domain import ArchiveMember, Artifact, PackageFile, Status, Visibility
from lading.errors import Conflict
from tests.db.rows import NOW, artifact, insert

MEMBERS = [ArchiveMember("b.yaml", "file", 3, 512, "m" * 32), ArchiveMember("a", "directory", 0, 0)]


def packaged(artifact_id: str, name: str, version: str, **values: Any) -> Artifact:
    values.setdefault("filename", f"{name}-{version}.tgz")
    status = values.pop("status", Status.ACTIVE)
    return artifact(artifact_id, status, name=name, version=version, **values)


def test_the_newest_versions_follow_version_order_and_visibility(database: Database) -> None:
    def scene(connection: Connection) -> None:
        for number, version in enumerate(("1.9", "1.10", "1.2")):
            insert(connection, packaged(f"t{number}", "tool", version))
        insert(connection, packaged("o", "other", "1", owner="them"))
        public = packaged("pub", "shown", "1", owner="them", visibility=Visibility.PUBLIC)
        insert(connection, public)
        insert(connection, packaged("q", "tool", "9.0", status=Status.QUEUED))
        insert(connection, artifact("image", Status.ACTIVE, name="tool", version="99"))

    database.run(True, scene)
    newest = database.run(False, packages.newest_versions, "project", 2)
    assert newest == [
        PackageFile("shown", "1", "shown-1.tgz"),
        PackageFile("tool", "1.10", "tool-1.10.tgz"),
        PackageFile("tool", "1.9", "tool-1.9.tgz"),
    ]
    everyone = database.run(False, packages.newest_versions, None, 1)
    assert [file.name for file in everyone] == ["other", "shown", "tool"]


def test_taking_a_file_name_replaces_live_holders_and_clears_deleted_ones(
    database: Database,
) -> None:
    address = PackageFile("tool", "1", "tool-1.tgz")

    def scene(connection: Connection) -> None:
        insert(connection, packaged("old", "tool", "1"))
        insert(connection, packaged("new", "tool", "1", filename=None))

    database.run(True, scene)
    holders = database.run(True, packages.file_holders, "new", address)
    assert [holder.id for holder in holders] == ["old"]
    assert database.run(True, packages.take_name, "new", "tool-1.tgz", holders, NOW) == ["old"]
    assert database.run(False, artifacts.status_of, "old") is Status.DELETED
    found = database.run(False, artifacts.find_package, "tool", "1", "tool-1.tgz", None)
    assert found[0] is not None and found[0].id == "new"
    assert database.run(True, packages.file_holders, "new", address) == []


def test_a_file_name_taken_meanwhile_conflicts(database: Database) -> None:
    def scene(connection: Connection) -> None:
        insert(connection, packaged("first", "tool", "1"))
        insert(connection, packaged("second", "tool", "1", filename=None))

    database.run(True, scene)
    with pytest.raises(Conflict, match="meanwhile"):  # holders read before "first" came
        database.run(True, packages.take_name, "second", "tool-1.tgz", [], NOW)


def onboarded(version: str, update: bool) -> OnboardedName:
    return OnboardedName("vnf", version, f"vnf-{version}.tar.gz", "vnfd", update)


def test_an_onboarded_package_is_named_as_new_then_as_update(database: Database) -> None:
    def scene(connection: Connection) -> None:
        for artifact_id in ("v1", "v1-again", "v2", "v2-copy"):
            insert(connection, artifact(artifact_id, Status.ACTIVE, os_hidden=True))
        insert(connection, artifact("queued", Status.QUEUED))

    database.run(True, scene)
    name = packages.name_onboarded
    unnamed = database.run(True, name, "queued", onboarded("1", False), [], NOW)
    assert unnamed is Unnamed.NOT_ACTIVE
    unnamed = database.run(True, name, "v2", onboarded("2", True), [], NOW)
    assert unnamed is Unnamed.NOTHING_TO_UPDATE
    assert database.run(True, name, "v1", onboarded("1", False), MEMBERS, NOW) is None
    again = database.run(True, name, "v1-again", onboarded("1.1", False), [], NOW)
    assert again is Unnamed.ALREADY_ONBOARDED
    assert database.run(True, name, "v2", onboarded("2", True), [], NOW) is None
    copy = database.run(True, name, "v2-copy", onboarded("2", True), [], NOW)
    assert copy is Unnamed.VERSION_EXISTS
    found = database.run(False, artifacts.fetch_artifact, "v1")
    assert found is not None and not found.os_hidden
    assert found.properties == {KIND_PROPERTY: "vnfd"}
    assert database.run(False, packages.list_files, "v1") == sorted(MEMBERS, key=lambda m: m.path)
    assert database.run(False, packages.find_file, "v1", "b.yaml") == MEMBERS[0]
    assert database.run(False, packages.find_file, "v1", "c.yaml") is None
    listed = database.run(False, packages.onboarded_named, "project", "vnfd", "vnf", 10)
    assert listed == ["v2", "v1"]
    assert database.run(False, packages.onboarded_named, "them", "vnfd", "vnf", 10) == []


def test_a_package_image_is_reused_and_linked(database: Database) -> None:
    def scene(connection: Connection) -> None:
        insert(connection, artifact("img", Status.ACTIVE, name="disk", checksum="c" * 32))
        insert(connection, artifact("hid", Status.ACTIVE, name="disk2", checksum="c" * 32,
                                    os_hidden=True))  # fmt: skip
        insert(connection, packaged("p1", "vnf", "1"))
        insert(connection, packaged("p2", "vnf", "2"))

    database.run(True, scene)
    assert database.run(False, packages.image_like, "project", "disk", "c" * 32) == "img"
    assert database.run(False, packages.image_like, "them", "disk", "c" * 32) is None
    assert database.run(False, packages.image_like, "project", "disk2", "c" * 32) is None
    database.run(True, packages.link_images, "p1", [("images/disk", "img")])
    database.run(True, packages.link_images, "p2", [("disk", "img")])
    assert database.run(False, packages.linked_images, "p1") == [("images/disk", "img")]
    assert database.run(False, packages.other_holders, "img", "p1") == ["p2"]
    database.run(True, artifacts.mark_deleted, "p2", NOW)
    assert database.run(False, packages.other_holders, "img", "p1") == []
    database.run(True, packages.unlink_images, "p1")
    assert database.run(False, packages.linked_images, "p1") == []
    database.run(True, packages.show, ["hid"], NOW)
    assert database.run(False, packages.image_like, "project", "disk2", "c" * 32) == "hid"
