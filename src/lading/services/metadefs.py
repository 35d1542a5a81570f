"""Metadata definitions, as Glance's metadefs: namespaces of properties, objects and tags
that clients (Horizon's "Update Metadata") offer for images, flavors, volumes and servers.

A namespace belongs to a project (``owner``) and is ``public`` or ``private``: a private
one does not exist for other projects (404). Reading needs the get policies (a reader of
the owning project, or a public namespace); changing needs the add/modify/delete ones
(administrators, under Glance's defaults), and a non-administrator whom a policy file lets
change namespaces may change only its project's. A ``protected`` namespace cannot be
deleted, nor can its objects, properties or tags (403), until it is unprotected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import metadefs as queries
from lading.db.engine import Database
from lading.domain import Association, ItemKind, MetadefItem, Namespace, ResourceType
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services.access import Caller
from lading.services.validation import CONTROL

VISIBILITIES = ("public", "private")
NAME_LIMITS = {ItemKind.OBJECT: 255, ItemKind.PROPERTY: 255, ItemKind.TAG: 255}
NAMESPACE_LIMIT = 80
RESOURCE_TYPE_LIMIT = 80
MAX_PAGE = 1000
PROPERTY_TYPES = ("array", "boolean", "integer", "number", "object", "string")
# The keywords a property definition may use (Glance's property schema), by JSON type.
PROPERTY_KEYS: dict[str, type | tuple[type, ...]] = {
    "name": str, "title": str, "description": str, "type": str, "enum": list,
    "default": (str, int, float, bool, list, dict), "pattern": str, "minLength": int,
    "maxLength": int, "minimum": (int, float), "maximum": (int, float), "readonly": bool,
    "operators": list, "items": dict, "uniqueItems": bool, "minItems": int, "maxItems": int,
    "additionalItems": bool,
}  # fmt: skip
NAMESPACE_KEYS = {
    "namespace", "display_name", "description", "visibility", "protected", "owner",
    "resource_type_associations", "properties", "objects", "tags",
}  # fmt: skip
READ_ONLY = {"created_at", "updated_at", "self", "schema"}
# The policy rules of each kind of item: (one, all, add, modify, delete).
ACTIONS = {
    ItemKind.OBJECT: ("get_metadef_object", "get_metadef_objects", "add_metadef_object",
                      "modify_metadef_object", "delete_metadef_object"),
    ItemKind.PROPERTY: ("get_metadef_property", "get_metadef_properties",
                        "add_metadef_property", "modify_metadef_property",
                        "remove_metadef_property"),
    ItemKind.TAG: ("get_metadef_tag", "get_metadef_tags", "add_metadef_tag",
                   "modify_metadef_tag", "delete_metadef_tag"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class NamespaceContents:
    """A namespace with what it holds, as a namespace's show (and the loader) sees it."""

    namespace: Namespace
    associations: list[Association] = field(default_factory=list)
    properties: list[MetadefItem] = field(default_factory=list)
    objects: list[MetadefItem] = field(default_factory=list)
    tags: list[MetadefItem] = field(default_factory=list)


class Metadefs:
    def __init__(self, database: Database, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._database = database

    # Namespaces.

    async def list_namespaces(
        self,
        caller: Caller,
        visibility: str | None = None,
        resource_types: tuple[str, ...] = (),
        limit: int = MAX_PAGE,
        marker: str | None = None,
        descending: bool = False,
    ) -> list[Namespace]:
        caller.require("get_metadef_namespaces")
        if visibility is not None and visibility not in VISIBILITIES:
            raise BadRequest(f"visibility must be one of {', '.join(VISIBILITIES)}")
        if marker is not None:
            await self._visible(caller, marker)
        project = None if caller.is_admin else caller.project
        found = await self._database.read(
            queries.list_namespaces,
            project, visibility, resource_types, min(limit, MAX_PAGE), marker, descending,
        )  # fmt: skip
        return [one for one in found if caller.may("get_metadef_namespace", namespace=one)]

    async def get_namespace(self, caller: Caller, name: str) -> NamespaceContents:
        namespace = await self._visible(caller, name)
        return await self._database.read(_contents, namespace)

    async def create_namespace(self, caller: Caller, body: object) -> NamespaceContents:
        caller.require("add_metadef_namespace")
        moment = self._clock.now()
        contents = checked_namespace(body, caller.project, moment)
        if contents.namespace.owner != caller.project and not caller.is_admin:
            raise Forbidden("only an administrator may create a namespace for another project")
        await self._database.write(_add_contents, contents)
        return contents

    async def update_namespace(self, caller: Caller, name: str, body: object) -> Namespace:
        namespace = await self._changeable(caller, name, "modify_metadef_namespace")
        fields = _object(body, "namespace")
        _refuse_read_only(fields)
        unknown = set(fields) - NAMESPACE_KEYS
        if unknown:
            raise BadRequest(f"additional properties are not allowed: {sorted(unknown)}")
        changed = replace(
            _namespace_fields(fields, namespace, namespace.owner, namespace.created_at),
            updated_at=self._clock.now(),
        )
        if changed.owner != namespace.owner and not caller.is_admin:
            raise Forbidden("only an administrator may give a namespace to another project")
        if not await self._database.write(queries.update_namespace, name, changed):
            raise NotFound(f"no namespace named {name}")
        return changed

    async def delete_namespace(self, caller: Caller, name: str) -> None:
        namespace = await self._changeable(caller, name, "delete_metadef_namespace")
        _unprotected(namespace)
        if not await self._database.write(queries.remove_namespace, name):
            raise NotFound(f"no namespace named {name}")

    # Objects, properties and tags.

    async def list_items(self, caller: Caller, name: str, kind: ItemKind) -> list[MetadefItem]:
        namespace = await self._visible(caller, name)
        caller.require(ACTIONS[kind][1], namespace=namespace)
        return await self._database.read(queries.list_items, name, kind)

    async def get_item(self, caller: Caller, name: str, kind: ItemKind, item: str) -> MetadefItem:
        namespace = await self._visible(caller, name)
        caller.require(ACTIONS[kind][0], namespace=namespace)
        found = (
            await self._database.read(queries.find_item, name, kind, item)
            if _storable(item)
            else None
        )
        if found is None:
            raise NotFound(f"namespace {name} has no {kind} named {item}")
        return found

    async def create_item(
        self, caller: Caller, name: str, kind: ItemKind, body: object
    ) -> MetadefItem:
        await self._changeable(caller, name, ACTIONS[kind][2])
        item = checked_item(name, kind, body, self._clock.now())
        await self._database.write(queries.add_items, [item])
        return item

    async def update_item(
        self, caller: Caller, name: str, kind: ItemKind, old_name: str, body: object
    ) -> MetadefItem:
        await self._changeable(caller, name, ACTIONS[kind][3])
        found = (
            await self._database.read(queries.find_item, name, kind, old_name)
            if _storable(old_name)
            else None
        )
        if found is None:
            raise NotFound(f"namespace {name} has no {kind} named {old_name}")
        if kind is ItemKind.PROPERTY and isinstance(body, dict):
            body = {"name": old_name, **body}  # a property's name may stay in the path
        item = replace(
            checked_item(name, kind, body, self._clock.now()), created_at=found.created_at
        )
        if not await self._database.write(queries.replace_item, old_name, item):
            raise NotFound(f"namespace {name} has no {kind} named {old_name}")
        return item

    async def delete_item(self, caller: Caller, name: str, kind: ItemKind, item: str) -> None:
        _unprotected(await self._changeable(caller, name, ACTIONS[kind][4]))
        if not _storable(item) or not await self._database.write(
            queries.remove_items, name, kind, item
        ):
            raise NotFound(f"namespace {name} has no {kind} named {item}")

    async def delete_items(self, caller: Caller, name: str, kind: ItemKind) -> None:
        """Every object, property or tag of the namespace (Glance checks the namespace's
        delete rule for objects and properties, delete_metadef_tags for tags)."""
        action = "delete_metadef_tags" if kind is ItemKind.TAG else "delete_metadef_namespace"
        _unprotected(await self._changeable(caller, name, action))
        await self._database.write(queries.remove_items, name, kind)

    async def create_tags(
        self, caller: Caller, name: str, body: object, append: bool
    ) -> list[MetadefItem]:
        """Tags in one call: they replace the namespace's tags, or are added to them when
        ``append`` (Glance's X-Openstack-Append)."""
        await self._changeable(caller, name, "add_metadef_tags")
        fields = _object(body, "tags")
        tags = fields.get("tags")
        if set(fields) - {"tags"} or not isinstance(tags, list):
            raise BadRequest('the body must be {"tags": [{"name": ...}, ...]}')
        moment = self._clock.now()
        new = [checked_item(name, ItemKind.TAG, tag, moment) for tag in tags]
        if len({tag.name for tag in new}) != len(new):
            raise BadRequest("the tags must have distinct names")
        if append:
            await self._database.write(queries.add_items, new)
        else:
            await self._database.write(_set_tags, name, new)
        return new

    # Resource types.

    async def list_resource_types(self, caller: Caller) -> list[ResourceType]:
        caller.require("list_metadef_resource_types")
        return await self._database.read(queries.list_resource_types)

    async def list_associations(self, caller: Caller, name: str) -> list[Association]:
        namespace = await self._visible(caller, name)
        caller.require("get_metadef_resource_type", namespace=namespace)
        return await self._database.read(queries.list_associations, name)

    async def associate(self, caller: Caller, name: str, body: object) -> Association:
        await self._changeable(caller, name, "add_metadef_resource_type_association")
        association = checked_association(name, body, self._clock.now())
        await self._database.write(queries.add_association, association)
        return association

    async def dissociate(self, caller: Caller, name: str, resource_type: str) -> None:
        namespace = await self._changeable(caller, name, "remove_metadef_resource_type_association")
        _unprotected(namespace)
        if not _storable(resource_type) or not await self._database.write(
            queries.remove_association, name, resource_type
        ):
            raise NotFound(f"namespace {name} is not associated with {resource_type}")

    # Loading definition files (lading metadefs load).

    async def load(self, document: object, owner: str, replace_existing: bool) -> str | None:
        """One namespace from a definition file in Glance's format; the namespace's name,
        or None when it exists and is kept (``replace_existing`` replaces it whole)."""
        contents = checked_namespace(document, owner, self._clock.now())
        return await self._database.write(_load, contents, replace_existing)

    # Access.

    async def _visible(self, caller: Caller, name: str) -> Namespace:
        """The namespace, if the caller may see it: others' private ones do not exist."""
        if not _storable(name):
            raise NotFound(f"no namespace named {name!r}")
        namespace = await self._database.read(queries.find_namespace, name)
        if namespace is None or not _sees(caller, namespace):
            raise NotFound(f"no namespace named {name}")
        return namespace

    async def _changeable(self, caller: Caller, name: str, action: str) -> Namespace:
        namespace = await self._visible(caller, name)
        caller.require(action, namespace=namespace)
        if not caller.is_admin and namespace.owner != caller.project:
            raise Forbidden(f"namespace {name} belongs to another project")
        return namespace


def _storable(name: str) -> bool:
    """Whether a name from a path could name anything (PostgreSQL refuses NUL in text)."""
    return "\x00" not in name


def _sees(caller: Caller, namespace: Namespace) -> bool:
    if not (
        caller.is_admin or namespace.owner == caller.project or namespace.visibility == "public"
    ):
        return False
    return caller.may("get_metadef_namespace", namespace=namespace)


def _unprotected(namespace: Namespace) -> None:
    if namespace.protected:
        raise Forbidden(
            f"namespace {namespace.namespace} is protected: unprotect it first (protected: false)"
        )


# Transactions.


def _contents(connection: Connection, namespace: Namespace) -> NamespaceContents:
    name = namespace.namespace
    return NamespaceContents(
        namespace,
        queries.list_associations(connection, name),
        queries.list_items(connection, name, ItemKind.PROPERTY),
        queries.list_items(connection, name, ItemKind.OBJECT),
        queries.list_items(connection, name, ItemKind.TAG),
    )


def _add_contents(connection: Connection, contents: NamespaceContents) -> None:
    queries.add_namespace(connection, contents.namespace)
    for association in contents.associations:
        queries.add_association(connection, association)
    for items in (contents.properties, contents.objects, contents.tags):
        queries.add_items(connection, items)


def _load(
    connection: Connection, contents: NamespaceContents, replace_existing: bool
) -> str | None:
    name = contents.namespace.namespace
    if queries.find_namespace(connection, name) is not None:
        if not replace_existing:
            return None
        queries.remove_namespace(connection, name)
    _add_contents(connection, contents)
    return name


def _set_tags(connection: Connection, name: str, tags: list[MetadefItem]) -> None:
    queries.set_items(connection, name, ItemKind.TAG, tags)


# Checking bodies (Glance's schemas, by hand: lading has no JSON schema validator at run time).


def _object(body: object, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"the {what} must be a JSON object")
    return body


def _refuse_read_only(fields: Mapping[str, Any]) -> None:
    """As Glance: a read-only attribute in a body is refused (403), not ignored."""
    given = sorted(READ_ONLY & set(fields))
    if given:
        raise Forbidden(f"attribute {given[0]!r} is read-only")


def _text(fields: Mapping[str, Any], key: str, limit: int, required: bool = False) -> str | None:
    value = fields.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(
            f"{key} must be a non-empty string" if required else f"{key} must be a string"
        )
    if len(value) > limit:
        raise BadRequest(f"{key} may not exceed {limit} characters")
    if "\x00" in value:
        raise BadRequest(f"{key} may not hold NUL characters")
    if key != "description" and CONTROL.search(value):  # names and labels are one line
        raise BadRequest(f"{key} may not hold control characters")
    return value


def _namespace_fields(
    fields: Mapping[str, Any], current: Namespace | None, owner: str, created_at: datetime
) -> Namespace:
    """The namespace a body describes; on update, what it leaves out stays as it was."""

    given = fields.get
    name = _text(
        fields, "namespace", NAMESPACE_LIMIT, required=current is None or "namespace" in fields
    )
    visibility = given("visibility", current.visibility if current else "private")
    if visibility not in VISIBILITIES:
        raise BadRequest(f"visibility must be one of {', '.join(VISIBILITIES)}")
    protected = given("protected", current.protected if current else False)
    if not isinstance(protected, bool):
        raise BadRequest("protected must be true or false")
    return Namespace(
        namespace=name or (current.namespace if current else ""),
        display_name=_text(fields, "display_name", 80)
        if "display_name" in fields or current is None
        else current.display_name,
        description=_text(fields, "description", 500)
        if "description" in fields or current is None
        else current.description,
        visibility=visibility,
        protected=protected,
        owner=_text(fields, "owner", 255) or (current.owner if current else owner),
        created_at=created_at,
        updated_at=created_at,
    )


def checked_namespace(body: object, owner: str, moment: datetime) -> NamespaceContents:
    """A namespace and what it holds, from a create body or a definition file."""
    fields = _object(body, "namespace")
    _refuse_read_only(fields)
    unknown = set(fields) - NAMESPACE_KEYS
    if unknown:
        raise BadRequest(f"additional properties are not allowed: {sorted(unknown)}")
    namespace = _namespace_fields(fields, None, owner, moment)
    name = namespace.namespace
    associations = fields.get("resource_type_associations") or []
    properties = fields.get("properties") or {}
    objects = fields.get("objects") or []
    tags = fields.get("tags") or []
    if not isinstance(associations, list):
        raise BadRequest("resource_type_associations must be an array")
    if not isinstance(properties, dict):
        raise BadRequest("properties must be an object of property definitions by name")
    if not isinstance(objects, list) or not isinstance(tags, list):
        raise BadRequest("objects and tags must be arrays")
    links = [checked_association(name, one, moment) for one in associations]
    if len({link.resource_type for link in links}) != len(links):
        raise BadRequest("a resource type may be associated once")
    defined = [
        checked_item(name, ItemKind.PROPERTY, {**_object(value, "property"), "name": key}, moment)
        for key, value in properties.items()
    ]
    made = [checked_item(name, ItemKind.OBJECT, one, moment) for one in objects]
    tagged = [checked_item(name, ItemKind.TAG, one, moment) for one in tags]
    for kind, items in ((ItemKind.OBJECT, made), (ItemKind.TAG, tagged)):
        if len({item.name for item in items}) != len(items):
            raise BadRequest(f"the {kind}s of a namespace must have distinct names")
    return NamespaceContents(namespace, links, defined, made, tagged)


def checked_association(name: str, body: object, moment: datetime) -> Association:
    fields = _object(body, "resource type association")
    _refuse_read_only(fields)
    unknown = set(fields) - {"name", "prefix", "properties_target"}
    if unknown:
        raise BadRequest(f"additional properties are not allowed: {sorted(unknown)}")
    return Association(
        namespace=name,
        resource_type=_text(fields, "name", RESOURCE_TYPE_LIMIT, required=True) or "",
        prefix=_text(fields, "prefix", 80),
        properties_target=_text(fields, "properties_target", 80),
        created_at=moment,
        updated_at=moment,
    )


def checked_item(namespace: str, kind: ItemKind, body: object, moment: datetime) -> MetadefItem:
    fields = _object(body, kind.value)
    _refuse_read_only(fields)
    name = _text(fields, "name", NAME_LIMITS[kind], required=True) or ""
    if kind is ItemKind.TAG:
        if set(fields) - {"name"}:
            raise BadRequest(f"a tag has only a name: {sorted(set(fields) - {'name'})}")
        document: dict[str, Any] = {}
    elif kind is ItemKind.PROPERTY:
        document = checked_property(fields, f"property {name}")
        document.pop("name", None)
    else:
        document = _checked_object(fields)
    try:
        json.dumps(document, allow_nan=False)
    except ValueError:
        raise BadRequest(f"{kind} {name}: numbers must be finite") from None
    return MetadefItem(namespace, kind, name, document, moment, moment)


def _checked_object(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - {"name", "description", "required", "properties"}
    if unknown:
        raise BadRequest(f"additional properties are not allowed: {sorted(unknown)}")
    document: dict[str, Any] = {}
    if fields.get("description") is not None:
        document["description"] = _text(fields, "description", 10_000)
    required = fields.get("required")
    if required is not None:
        if not isinstance(required, list) or not all(isinstance(one, str) for one in required):
            raise BadRequest("required must be an array of property names")
        document["required"] = required
    properties = fields.get("properties")
    if properties is not None:
        if not isinstance(properties, dict):
            raise BadRequest("properties must be an object of property definitions by name")
        document["properties"] = {
            str(key): checked_property(_object(value, "property"), f"property {key}")
            for key, value in properties.items()
        }
    return document


def checked_property(fields: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A property definition (a JSON schema fragment): ``title`` and ``type`` required, and
    only the keywords Glance's property schema names."""
    for key, value in fields.items():
        expected = PROPERTY_KEYS.get(key)
        if expected is None:
            raise BadRequest(f"{what}: additional properties are not allowed: {key!r}")
        if value is None and key not in ("default",):
            raise BadRequest(f"{what}: {key} may not be null")
        if value is not None and (not isinstance(value, expected) or (
            isinstance(value, bool) and expected in (int, (int, float))
        )):  # fmt: skip
            raise BadRequest(f"{what}: {key} has the wrong type")
    if not isinstance(fields.get("title"), str):
        raise BadRequest(f"{what}: title is required")
    if fields.get("type") not in PROPERTY_TYPES:
        raise BadRequest(f"{what}: type must be one of {', '.join(PROPERTY_TYPES)}")
    operators = fields.get("operators", [])
    if not all(isinstance(one, str) for one in operators):
        raise BadRequest(f"{what}: operators must be strings")
    return dict(fields)
