"""Metadata definitions as Glance checks them: a namespace's body (read-only, unknown
and repeated entries refused, property definitions within Glance's schema), changes for
administrators of the owning project, others' private namespaces unseen, protected ones
kept, definition files loaded without overwriting unless asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from lading.db.engine import Database
from lading.domain import ItemKind
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services.access import Caller
from lading.services.metadefs import Metadefs, checked_namespace, checked_property
from lading.services.roles import ADMIN, MEMBER, READER

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 6, 12, 0, 0)
ADMIN_A = Caller.with_role("A", ADMIN)
PROPERTY = {"title": "Cores", "type": "integer", "minimum": 1}
BODY = {
    "namespace": "OS::Compute::Cpu",
    "properties": {"cores": PROPERTY},
    "objects": [{"name": "cpu", "properties": {"cores": PROPERTY}, "required": ["cores"]}],
    "tags": [{"name": "fast"}],
    "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "hw_"}],
}


def test_a_namespace_body_gives_its_items_and_associations() -> None:
    contents = checked_namespace(BODY, "A", NOW)
    assert (contents.namespace.namespace, contents.namespace.owner) == ("OS::Compute::Cpu", "A")
    assert contents.namespace.visibility == "private" and not contents.namespace.protected
    assert [item.document for item in contents.properties] == [PROPERTY]
    assert [item.name for item in contents.objects + contents.tags] == ["cpu", "fast"]
    assert [link.prefix for link in contents.associations] == ["hw_"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"created_at": "x"}, Forbidden),
        ({"colour": "red"}, BadRequest),
        ({"namespace": " "}, BadRequest),
        ({"namespace": "a\nb"}, BadRequest),
        ({"namespace": "x" * 81}, BadRequest),
        ({"visibility": "shared"}, BadRequest),
        ({"protected": "yes"}, BadRequest),
        ({"tags": [{"name": "t"}, {"name": "t"}]}, BadRequest),
        ({"tags": [{"name": "t", "colour": "red"}]}, BadRequest),
        ({"resource_type_associations": [{"name": "R"}, {"name": "R"}]}, BadRequest),
        ({"objects": [{"name": "o", "required": "cores"}]}, BadRequest),
        ({"properties": {"p": {"title": "P", "type": "number", "default": float("nan")}}},
         BadRequest),
    ],
)  # fmt: skip
def test_a_namespace_body_is_refused_for(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        checked_namespace({**BODY, **changes}, "A", NOW)


@pytest.mark.parametrize(
    "definition",
    [
        {"type": "string"},  # no title
        {"title": "T", "type": "text"},
        {"title": "T", "type": "integer", "minimum": True},  # a boolean is no number here
        {"title": "T", "type": "string", "format": "uri"},  # not in Glance's schema
        {"title": "T", "type": "string", "operators": [1]},
        {"title": "T", "type": "string", "pattern": None},
    ],
)
def test_a_property_definition_outside_glances_schema_is_refused(
    definition: dict[str, Any],
) -> None:
    with pytest.raises(BadRequest):
        checked_property(definition, "property p")


@pytest.fixture
def metadefs(database: Database) -> Metadefs:
    return Metadefs(database)


async def test_namespaces_are_changed_by_administrators_of_their_project(
    metadefs: Metadefs,
) -> None:
    with pytest.raises(Forbidden):  # add_metadef_namespace: administrators
        await metadefs.create_namespace(Caller.with_role("A", MEMBER), BODY)
    await metadefs.create_namespace(ADMIN_A, BODY)
    reader = Caller.with_role("A", READER)
    assert (await metadefs.get_namespace(reader, "OS::Compute::Cpu")).objects[0].name == "cpu"
    with pytest.raises(NotFound):  # another project's private namespace does not exist
        await metadefs.get_namespace(Caller.with_role("B", READER), "OS::Compute::Cpu")
    with pytest.raises(NotFound):
        await metadefs.get_namespace(reader, "a\x00b")
    changed = await metadefs.update_namespace(ADMIN_A, "OS::Compute::Cpu", {"protected": True})
    assert changed.protected and changed.visibility == "private"  # the rest as it was
    with pytest.raises(Forbidden, match="protected"):
        await metadefs.delete_namespace(ADMIN_A, "OS::Compute::Cpu")
    await metadefs.update_namespace(ADMIN_A, "OS::Compute::Cpu", {"protected": False})
    await metadefs.delete_namespace(ADMIN_A, "OS::Compute::Cpu")
    with pytest.raises(NotFound):
        await metadefs.list_items(ADMIN_A, "OS::Compute::Cpu", ItemKind.TAG)


async def test_a_definition_file_is_loaded_once_unless_replacing(metadefs: Metadefs) -> None:
    assert await metadefs.load(BODY, "admin", replace_existing=False) == "OS::Compute::Cpu"
    smaller = {"namespace": "OS::Compute::Cpu", "tags": [{"name": "slow"}]}
    assert await metadefs.load(smaller, "admin", replace_existing=False) is None
    tags = await metadefs.list_items(ADMIN_A, "OS::Compute::Cpu", ItemKind.TAG)
    assert [tag.name for tag in tags] == ["fast"]
    assert await metadefs.load(smaller, "admin", replace_existing=True) == "OS::Compute::Cpu"
    contents = await metadefs.get_namespace(ADMIN_A, "OS::Compute::Cpu")
    assert [tag.name for tag in contents.tags] == ["slow"] and contents.properties == []
