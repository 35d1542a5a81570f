"""Queries on metadata definitions: namespaces unique by name, listed to a project as
the public ones and its own, renamed with their items and associations; items unique by
namespace, kind and name; a resource type made by its first association."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import Connection

from lading.db import metadefs
from lading.db.engine import Database
from lading.domain import Association, ItemKind, MetadefItem, Namespace
from lading.errors import Conflict
from tests.db.rows import NOW


def namespace(name: str, owner: str = "A", visibility: str = "private") -> Namespace:
    return Namespace(name, None, None, visibility, False, owner, NOW, NOW)


def item(name: str, kind: ItemKind = ItemKind.PROPERTY, where: str = "ns-a") -> MetadefItem:
    return MetadefItem(where, kind, name, {"type": "string", "title": name}, NOW, NOW)


def link(where: str, resource_type: str) -> Association:
    return Association(where, resource_type, "hw_", None, NOW, NOW)


def scene(connection: Connection) -> None:
    metadefs.add_namespace(connection, namespace("ns-a"))
    metadefs.add_namespace(connection, namespace("ns-b", "B"))
    metadefs.add_namespace(connection, namespace("ns-c", "B", "public"))


def listed(
    database: Database,
    project: str | None,
    visibility: str | None = None,
    resource_types: tuple[str, ...] = (),
    limit: int = 10,
    after: str | None = None,
    descending: bool = False,
) -> list[str]:
    found = database.run(False, metadefs.list_namespaces, project, visibility,
                         resource_types, limit, after, descending)  # fmt: skip
    return [one.namespace for one in found]


def test_namespaces_are_listed_to_a_project_as_public_and_its_own(database: Database) -> None:
    database.run(True, scene)
    with pytest.raises(Conflict, match="already exists"):
        database.run(True, metadefs.add_namespace, namespace("ns-a", "C"))
    assert listed(database, "A") == ["ns-a", "ns-c"]
    assert listed(database, None) == ["ns-a", "ns-b", "ns-c"]
    assert listed(database, None, visibility="public") == ["ns-c"]
    assert listed(database, None, after="ns-a", limit=1) == ["ns-b"]
    assert listed(database, None, after="ns-c", descending=True) == ["ns-b", "ns-a"]
    database.run(True, metadefs.add_association, link("ns-b", "OS::Glance::Image"))
    assert listed(database, None, resource_types=("OS::Glance::Image",)) == ["ns-b"]


def test_a_rename_carries_items_and_associations(database: Database) -> None:
    database.run(True, scene)
    database.run(True, metadefs.add_items, [item("cpu"), item("gpu", ItemKind.TAG)])
    database.run(True, metadefs.add_association, link("ns-a", "OS::Nova::Flavor"))
    renamed = namespace("ns-z")
    assert database.run(True, metadefs.update_namespace, "ns-a", renamed)
    assert database.run(False, metadefs.find_namespace, "ns-a") is None
    found = database.run(False, metadefs.find_item, "ns-z", ItemKind.PROPERTY, "cpu")
    assert found is not None and found.document == {"type": "string", "title": "cpu"}
    assert [a.resource_type for a in database.run(False, metadefs.list_associations, "ns-z")] == [
        "OS::Nova::Flavor"
    ]
    with pytest.raises(Conflict):
        database.run(True, metadefs.update_namespace, "ns-z", namespace("ns-b"))
    assert not database.run(True, metadefs.update_namespace, "ns-a", renamed)
    assert database.run(True, metadefs.remove_namespace, "ns-z")
    assert not database.run(True, metadefs.remove_namespace, "ns-z")


def test_items_are_unique_by_namespace_kind_and_name(database: Database) -> None:
    database.run(True, scene)
    database.run(True, metadefs.add_items, [item("b"), item("a"), item("a", ItemKind.TAG)])
    with pytest.raises(Conflict, match="already has a property named a"):
        database.run(True, metadefs.add_items, [item("a")])
    properties = database.run(False, metadefs.list_items, "ns-a", ItemKind.PROPERTY)
    assert [one.name for one in properties] == ["a", "b"]
    with pytest.raises(Conflict):
        database.run(True, metadefs.replace_item, "b", item("a"))
    assert database.run(True, metadefs.replace_item, "b", replace(item("c"), document={}))
    assert not database.run(True, metadefs.replace_item, "b", item("d"))
    assert database.run(True, metadefs.remove_items, "ns-a", ItemKind.PROPERTY, "a") == 1
    database.run(True, metadefs.set_items, "ns-a", ItemKind.TAG, [item("x", ItemKind.TAG)])
    tags = database.run(False, metadefs.list_items, "ns-a", ItemKind.TAG)
    assert [one.name for one in tags] == ["x"]
    remaining = database.run(False, metadefs.list_items, "ns-a", ItemKind.PROPERTY)
    assert [(one.name, one.document) for one in remaining] == [("c", {})]


def test_a_first_association_makes_its_resource_type(database: Database) -> None:
    database.run(True, scene)
    database.run(True, metadefs.add_association, link("ns-a", "Lading::New"))
    database.run(True, metadefs.add_association, link("ns-b", "Lading::New"))
    made = [one.name for one in database.run(False, metadefs.list_resource_types)]
    assert made.count("Lading::New") == 1
    with pytest.raises(Conflict, match="already associated"):
        database.run(True, metadefs.add_association, link("ns-a", "Lading::New"))
    assert database.run(True, metadefs.remove_association, "ns-a", "Lading::New")
    assert not database.run(True, metadefs.remove_association, "ns-a", "Lading::New")
