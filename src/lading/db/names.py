"""Queries on package names and their publishers (``package_names``).

Every function takes the ``Connection`` of its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lading.db import locks
from lading.db.models import artifacts, package_name_publishers, package_names
from lading.domain import PackageName, Status

COLUMNS = (
    package_names.c.name,
    package_names.c.owner,
    package_names.c.created_at,
)


def find(
    connection: Connection, namespace: str, key: str, for_update: bool = False
) -> PackageName | None:
    query = select(*COLUMNS).where(
        package_names.c.namespace == namespace, package_names.c.key == key
    )
    row = connection.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        return None
    name, owner, created_at = row
    return PackageName(name, owner, _publishers(connection, namespace, key), created_at)


def look_alikes(
    connection: Connection, namespace: str, skeleton: str, key: str
) -> list[PackageName]:
    """Other names with this skeleton."""
    rows = connection.execute(
        select(*COLUMNS, package_names.c.key).where(
            package_names.c.namespace == namespace,
            package_names.c.skeleton == skeleton,
            package_names.c.key != key,
        )
    ).all()
    return [name for _, name in _with_publishers(connection, namespace, rows)]


def lock_skeleton(connection: Connection, namespace: str, skeleton: str) -> None:
    """Until the transaction ends, hold the skeleton's lock: new names that look alike are
    taken one at a time, each seeing those before it. PostgreSQL only: SQLite takes one
    write transaction at a time anyway."""
    locks.hold(connection, namespace, skeleton)


def insert_name(
    connection: Connection, namespace: str, key: str, skeleton: str, name: PackageName
) -> bool:
    """Record a new name; False if another transaction recorded it first."""
    try:
        with connection.begin_nested():
            connection.execute(
                insert(package_names).values(
                    namespace=namespace,
                    key=key,
                    name=name.name,
                    skeleton=skeleton,
                    owner=name.owner,
                    created_at=name.created_at,
                )
            )
    except IntegrityError:
        return False
    return True


def set_owner(connection: Connection, namespace: str, key: str, owner: str) -> None:
    connection.execute(
        update(package_names)
        .where(package_names.c.namespace == namespace, package_names.c.key == key)
        .values(owner=owner)
    )


def set_publishers(
    connection: Connection, namespace: str, key: str, projects: Iterable[str]
) -> None:
    connection.execute(
        delete(package_name_publishers).where(
            package_name_publishers.c.namespace == namespace,
            package_name_publishers.c.key == key,
        )
    )
    rows = [{"namespace": namespace, "key": key, "project": project} for project in projects]
    if rows:
        connection.execute(insert(package_name_publishers), rows)


def list_names(
    connection: Connection, namespace: str, project: str | None, marker: str | None, limit: int
) -> list[tuple[str, PackageName]]:
    """Names by key, after ``marker``: those ``project`` owns or may publish under (None:
    all of them). Each with its key."""
    query = select(*COLUMNS, package_names.c.key).where(package_names.c.namespace == namespace)
    if project is not None:
        publishing = select(package_name_publishers.c.key).where(
            package_name_publishers.c.namespace == namespace,
            package_name_publishers.c.project == project,
        )
        query = query.where(
            (package_names.c.owner == project) | package_names.c.key.in_(publishing)
        )
    if marker is not None:
        query = query.where(package_names.c.key > marker)
    rows = connection.execute(query.order_by(package_names.c.key).limit(limit)).all()
    return _with_publishers(connection, namespace, rows)


def package_owners(connection: Connection) -> Sequence[tuple[str, str, int]]:
    """Each package name with each project that has live versions under it, and how many."""
    return connection.execute(
        select(artifacts.c.name, artifacts.c.owner, func.count())
        .where(
            artifacts.c.filename.is_not(None),
            artifacts.c.name.is_not(None),
            artifacts.c.status.not_in([Status.DELETED]),
        )
        .group_by(artifacts.c.name, artifacts.c.owner)
        .order_by(artifacts.c.name, artifacts.c.owner)
    ).all()


def _publishers(connection: Connection, namespace: str, key: str) -> list[str]:
    return _publishers_of(connection, namespace, [key]).get(key, [])


def _publishers_of(
    connection: Connection, namespace: str, keys: Sequence[str]
) -> dict[str, list[str]]:
    """Each name's publishers, in one query for all of ``keys``."""
    found: dict[str, list[str]] = {}
    if not keys:
        return found
    rows = connection.execute(
        select(package_name_publishers.c.key, package_name_publishers.c.project)
        .where(
            package_name_publishers.c.namespace == namespace,
            package_name_publishers.c.key.in_(keys),
        )
        .order_by(package_name_publishers.c.key, package_name_publishers.c.project)
    )
    for key, project in rows:
        found.setdefault(key, []).append(project)
    return found


def _with_publishers(
    connection: Connection, namespace: str, rows: Sequence[Any]
) -> list[tuple[str, PackageName]]:
    """Rows of (name, owner, created_at, key) as names with their publishers."""
    publishers = _publishers_of(connection, namespace, [row[3] for row in rows])
    return [
        (key, PackageName(name, owner, publishers.get(key, []), created_at))
        for name, owner, created_at, key in rows
    ]
