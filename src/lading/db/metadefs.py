"""Queries on metadata definitions. Each takes its transaction's ``Connection``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from lading.db.models import (
    metadef_associations,
    metadef_items,
    metadef_namespaces,
    metadef_resource_types,
)
from lading.domain import Association, ItemKind, MetadefItem, Namespace, ResourceType
from lading.errors import Conflict

ns = metadef_namespaces
items = metadef_items
types = metadef_resource_types
links = metadef_associations


def find_namespace(connection: Connection, name: str) -> Namespace | None:
    row = connection.execute(select(ns).where(ns.c.namespace == name)).first()
    return None if row is None else Namespace(**row._mapping)


def list_namespaces(
    connection: Connection,
    project: str | None,
    visibility: str | None,
    resource_types: Sequence[str],
    limit: int,
    after: str | None,
    descending: bool,
) -> list[Namespace]:
    """Ordered by name; ``project`` None: every namespace (an administrator), else the
    public ones and the project's own."""
    query = select(ns)
    if project is not None:
        query = query.where(or_(ns.c.visibility == "public", ns.c.owner == project))
    if visibility is not None:
        query = query.where(ns.c.visibility == visibility)
    if resource_types:
        associated = select(links.c.namespace).where(links.c.resource_type.in_(resource_types))
        query = query.where(ns.c.namespace.in_(associated))
    if after is not None:
        query = query.where(ns.c.namespace < after if descending else ns.c.namespace > after)
    order = ns.c.namespace.desc() if descending else ns.c.namespace.asc()
    rows = connection.execute(query.order_by(order).limit(limit))
    return [Namespace(**row._mapping) for row in rows]


def add_namespace(connection: Connection, namespace: Namespace) -> None:
    try:
        with connection.begin_nested():
            connection.execute(insert(ns).values(**asdict(namespace)))
    except IntegrityError:
        raise Conflict(f"a namespace named {namespace.namespace} already exists") from None


def update_namespace(connection: Connection, old_name: str, namespace: Namespace) -> bool:
    """Renaming carries its items and associations along (ON UPDATE CASCADE)."""
    values = asdict(namespace)
    values.pop("created_at")
    try:
        with connection.begin_nested():
            changed = connection.execute(
                update(ns).where(ns.c.namespace == old_name).values(values)
            )
    except IntegrityError:
        raise Conflict(f"a namespace named {namespace.namespace} already exists") from None
    return changed.rowcount == 1


def remove_namespace(connection: Connection, name: str) -> bool:
    return connection.execute(delete(ns).where(ns.c.namespace == name)).rowcount == 1


def _item(row: Any) -> MetadefItem:
    values = dict(row._mapping)
    return MetadefItem(
        **{**values, "kind": ItemKind(values["kind"]), "document": json.loads(values["document"])}
    )


def _item_values(item: MetadefItem) -> dict[str, Any]:
    return {**asdict(item), "kind": item.kind.value, "document": json.dumps(item.document)}


def list_items(connection: Connection, namespace: str, kind: ItemKind) -> list[MetadefItem]:
    rows = connection.execute(
        select(items)
        .where(and_(items.c.namespace == namespace, items.c.kind == kind.value))
        .order_by(items.c.created_at, items.c.name)
    )
    return [_item(row) for row in rows]


def find_item(
    connection: Connection, namespace: str, kind: ItemKind, name: str
) -> MetadefItem | None:
    row = connection.execute(select(items).where(_item_key(namespace, kind, name))).first()
    return None if row is None else _item(row)


def _item_key(namespace: str, kind: ItemKind, name: str) -> Any:
    return and_(items.c.namespace == namespace, items.c.kind == kind.value, items.c.name == name)


def add_items(connection: Connection, new: Sequence[MetadefItem]) -> None:
    if not new:
        return
    try:
        with connection.begin_nested():
            connection.execute(insert(items), [_item_values(item) for item in new])
    except IntegrityError:
        names = ", ".join(item.name for item in new)
        raise Conflict(f"{new[0].namespace} already has a {new[0].kind} named {names}") from None


def replace_item(connection: Connection, old_name: str, item: MetadefItem) -> bool:
    values = _item_values(item)
    values.pop("created_at")
    try:
        with connection.begin_nested():
            changed = connection.execute(
                update(items).where(_item_key(item.namespace, item.kind, old_name)).values(values)
            )
    except IntegrityError:
        raise Conflict(f"{item.namespace} already has a {item.kind} named {item.name}") from None
    return changed.rowcount == 1


def remove_items(
    connection: Connection, namespace: str, kind: ItemKind, name: str | None = None
) -> int:
    """One item by name, or every item of its kind."""
    where = and_(items.c.namespace == namespace, items.c.kind == kind.value)
    if name is not None:
        where = and_(where, items.c.name == name)
    return connection.execute(delete(items).where(where)).rowcount


def set_items(
    connection: Connection, namespace: str, kind: ItemKind, new: list[MetadefItem]
) -> None:
    """Every item of a kind replaced, at once."""
    remove_items(connection, namespace, kind)
    add_items(connection, new)


def list_resource_types(connection: Connection) -> list[ResourceType]:
    rows = connection.execute(select(types).order_by(types.c.name))
    return [ResourceType(**row._mapping) for row in rows]


def list_associations(connection: Connection, namespace: str) -> list[Association]:
    rows = connection.execute(
        select(links).where(links.c.namespace == namespace).order_by(links.c.created_at)
    )
    return [Association(**row._mapping) for row in rows]


def add_association(connection: Connection, association: Association) -> None:
    """The resource type is made if it is new, as Glance does."""
    known = connection.execute(
        select(types.c.name).where(types.c.name == association.resource_type)
    ).first()
    if known is None:
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(types).values(
                        name=association.resource_type,
                        protected=False,
                        created_at=association.created_at,
                        updated_at=association.created_at,
                    )
                )
        except IntegrityError:
            pass  # made meanwhile by another request: it exists, which is all we need
    try:
        with connection.begin_nested():
            connection.execute(insert(links).values(**asdict(association)))
    except IntegrityError:
        raise Conflict(
            f"{association.namespace} is already associated with {association.resource_type}"
        ) from None


def remove_association(connection: Connection, namespace: str, resource_type: str) -> bool:
    removed = connection.execute(
        delete(links).where(
            and_(links.c.namespace == namespace, links.c.resource_type == resource_type)
        )
    )
    return removed.rowcount == 1
