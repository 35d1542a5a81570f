"""Queries on package names: recorded once per namespace and key, look-alikes found by
skeleton, names listed by key to their owner and publishers, and the projects that have
live packages under each name."""

from __future__ import annotations

from sqlalchemy import Connection

from lading.db import names
from lading.db.engine import Database
from lading.domain import PackageName, Status
from tests.db.rows import NOW, artifact, insert

NS = "packages"


def name(text: str, owner: str = "A") -> PackageName:
    return PackageName(text, owner, [], NOW)


def recorded(connection: Connection) -> None:
    assert names.insert_name(connection, NS, "tool", "tool", name("Tool"))
    assert names.insert_name(connection, NS, "t00l", "tool", name("t00l", "B"))
    assert names.insert_name(connection, NS, "zed", "zed", name("zed", "B"))
    assert names.insert_name(connection, "other", "tool", "tool", name("tool", "C"))


def test_a_name_is_recorded_once_per_namespace(database: Database) -> None:
    database.run(True, recorded)
    assert not database.run(True, names.insert_name, NS, "tool", "tool", name("TOOL", "B"))
    assert database.run(False, names.find, NS, "tool") == name("Tool")
    assert database.run(False, names.find, NS, "Tool") is None  # found by key only
    found = database.run(False, names.find, "other", "tool")
    assert found is not None and found.owner == "C"


def test_look_alikes_share_a_skeleton_but_not_the_key(database: Database) -> None:
    database.run(True, recorded)
    alike = database.run(False, names.look_alikes, NS, "tool", "tool")
    assert [found.name for found in alike] == ["t00l"]
    database.run(True, names.lock_skeleton, NS, "tool")  # PostgreSQL's lock; SQLite: none
    assert database.run(False, names.look_alikes, NS, "zed", "zed") == []


def test_names_are_listed_to_their_owner_and_publishers(database: Database) -> None:
    database.run(True, recorded)
    database.run(True, names.set_publishers, NS, "zed", ["A", "D"])
    listed = database.run(False, names.list_names, NS, "A", None, 10)
    assert [(key, found.publishers) for key, found in listed] == [("tool", []), ("zed", ["A", "D"])]
    assert [key for key, _ in database.run(False, names.list_names, NS, None, "t00l", 10)] == [
        "tool", "zed",
    ]  # fmt: skip
    assert [key for key, _ in database.run(False, names.list_names, NS, None, None, 1)] == ["t00l"]
    database.run(True, names.set_publishers, NS, "zed", [])
    database.run(True, names.set_owner, NS, "tool", "D")
    assert [key for key, _ in database.run(False, names.list_names, NS, "A", None, 10)] == []
    found = database.run(False, names.find, NS, "tool")
    assert found is not None and found.owner == "D"


def test_package_owners_count_live_versions(database: Database) -> None:
    def scene(connection: Connection) -> None:
        for artifact_id, owner, status in (
            ("1", "A", Status.ACTIVE), ("2", "A", Status.QUEUED), ("3", "B", Status.ACTIVE),
            ("4", "C", Status.DELETED),
        ):  # fmt: skip
            insert(connection, artifact(artifact_id, status, owner=owner, name="tool",
                                        version=artifact_id, filename="t.tgz"))  # fmt: skip
        insert(connection, artifact("image", Status.ACTIVE, name="tool"))  # no file: no package

    database.run(True, scene)
    assert [tuple(row) for row in database.run(False, names.package_owners)] == [
        ("tool", "A", 2), ("tool", "B", 1),
    ]  # fmt: skip
