"""openstacksdk's metadata definition calls against a live lading, as its functional image
tests make them (namespaces, tags, objects, properties, resource types, schemas)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openstack.connection import Connection

from tests.clients.support import images, unique
from tests.clients.test_openstacksdk import connect

pytestmark = [
    pytest.mark.clients,
    # openstacksdk announces its own upcoming API removals (see test_openstacksdk).
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK50Warning"),
    pytest.mark.filterwarnings("ignore::openstack.warnings.RemovedInSDK60Warning"),
]


@pytest.fixture
def conn(server_url: str, api_token: str) -> Iterator[Connection]:
    connection = connect(server_url, api_token)
    yield connection
    connection.close()


@pytest.fixture
def namespace(conn: Connection) -> Iterator[str]:
    name = unique("sdk-ns")[:80]
    made = images(conn).create_metadef_namespace(namespace=name)
    assert made.namespace == name
    yield name
    images(conn).delete_metadef_namespace(name, ignore_missing=True)
    images(conn).wait_for_delete(made)


def test_namespace_and_tags(conn: Connection, namespace: str) -> None:
    image = images(conn)
    assert image.get_metadef_namespace(namespace).namespace == namespace
    assert namespace in {n.namespace for n in image.metadef_namespaces()}
    image.update_metadef_namespace(namespace, display_name="A name", description="A text")
    shown = image.get_metadef_namespace(namespace)
    assert (shown.display_name, shown.description) == ("A name", "A text")

    shown.add_tag(image, "t1")
    shown.add_tag(image, "t2")
    shown.fetch_tags(image)
    assert {"t1", "t2"} <= {tag["name"] for tag in shown.tags}
    shown.remove_tag(image, "t1")
    names = {tag["name"] for tag in image.get_metadef_namespace(namespace).tags}
    assert "t2" in names and "t1" not in names
    shown.set_tags(image, ["t1", "t2"])
    shown.set_tags(image, ["t3", "t4"], append=True)
    shown.fetch_tags(image)
    assert {tag["name"] for tag in shown.tags} == {"t1", "t2", "t3", "t4"}
    shown.remove_all_tags(image)
    assert shown.tags == []


def test_objects(conn: Connection, namespace: str) -> None:
    image = images(conn)
    made = image.create_metadef_object(name="obj", namespace=namespace)
    assert made.name == "obj"
    got = image.get_metadef_object("obj", namespace)
    assert (got.name, got.namespace_name) == ("obj", namespace)
    assert "obj" in {o.name for o in image.metadef_objects(namespace)}
    updated = image.update_metadef_object(
        "obj", namespace=namespace, name="New object name", description="New description"
    )
    assert (updated.name, updated.description) == ("New object name", "New description")
    image.delete_metadef_object("New object name", namespace)
    assert list(image.metadef_objects(namespace)) == []


def test_properties(conn: Connection, namespace: str) -> None:
    image = images(conn)
    attrs = {"name": "port", "title": "port", "type": "string",
             "description": "Web Server port", "enum": ["80", "443"]}  # fmt: skip
    made = image.create_metadef_property(namespace, **attrs)
    assert (made.name, made.title, made.enum) == ("port", "port", ["80", "443"])
    got = image.get_metadef_property(made, namespace)
    assert (got.type, got.description) == ("string", "Web Server port")
    listed = list(image.metadef_properties(namespace))
    assert [one.name for one in listed] == ["port"]
    image.update_metadef_property(made, namespace, **{**attrs, "title": "Port", "description": "d"})
    got = image.get_metadef_property("port", namespace)
    assert (got.title, got.description) == ("Port", "d")
    image.delete_metadef_property(made, namespace)
    assert list(image.metadef_properties(namespace)) == []


def test_resource_types(conn: Connection, namespace: str) -> None:
    image = images(conn)
    made = image.create_metadef_resource_type_association(
        metadef_namespace=namespace, name="test-resource-type"
    )
    assert made.name == "test-resource-type"
    associations = image.metadef_resource_type_associations(metadef_namespace=namespace)
    assert "test-resource-type" in {a.name for a in associations}
    assert "test-resource-type" in {t.name for t in image.metadef_resource_types()}
    image.delete_metadef_resource_type_association(made, metadef_namespace=namespace)
    assert list(image.metadef_resource_type_associations(metadef_namespace=namespace)) == []


def test_schemas(conn: Connection) -> None:
    image = images(conn)
    for name in ("namespace", "namespaces", "resource_type", "resource_types", "object",
                 "objects", "property", "properties", "tag", "tags"):  # fmt: skip
        schema = getattr(image, f"get_metadef_{name}_schema")()
        assert schema.properties, name
