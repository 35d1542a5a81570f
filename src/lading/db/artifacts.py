"""Queries on artifacts, their properties, tags and locations.

Every function takes the ``Connection`` of the transaction it runs in.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    false,
    insert,
    null,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from lading.db.models import artifact_properties, artifact_tags, artifacts, blobs, locations
from lading.domain import Artifact, ListQuery, Location, SortDir, Status, TimeFilter, Visibility
from lading.errors import Conflict

COLUMNS = tuple(column.name for column in artifacts.columns)
TIME_OPERATORS = {
    "gt": lambda column, value: column > value,
    "gte": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "lte": lambda column, value: column <= value,
    "eq": lambda column, value: column == value,
    "neq": lambda column, value: column != value,
}


FETCH = select(artifacts).where(artifacts.c.id == bindparam("id"))


def insert_artifact(connection: Connection, artifact: Artifact) -> None:
    try:
        with connection.begin_nested():
            connection.execute(insert(artifacts).values(_row(artifact)))
    except IntegrityError:
        raise Conflict(f"an artifact with id {artifact.id} already exists") from None
    _insert_properties(connection, artifact.id, artifact.properties)
    _insert_tags(connection, artifact.id, artifact.tags)


def fetch_artifact(connection: Connection, artifact_id: str) -> Artifact | None:
    """The artifact with its properties, tags and locations, deleted ones included."""
    found = connection.execute(FETCH, {"id": artifact_id}).mappings().first()
    if found is None:
        return None
    return _complete(connection, [found])[0]


def list_artifacts(connection: Connection, query: ListQuery) -> list[Artifact]:
    """One page of live artifacts in the query's order, after its marker."""
    statement = select(artifacts).where(*_filters(query))
    order = [*query.sort, ("id", query.sort[-1][1] if query.sort else SortDir.DESC)]
    if query.marker is not None:
        statement = statement.where(*_after(query.marker, order))
    statement = statement.order_by(*(_ordering(key, direction) for key, direction in order))
    rows = connection.execute(statement.limit(query.limit)).mappings().all()
    return _complete(connection, rows)


def update_artifact(
    connection: Connection,
    artifact: Artifact,
    previous: Artifact,
) -> bool:
    """Write ``artifact``'s metadata over ``previous``; False if it was deleted meanwhile."""
    changed = {
        name: value for name, value in _row(artifact).items() if value != _row(previous)[name]
    }
    result = connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact.id, artifacts.c.status != Status.DELETED)
        .values(changed or {"updated_at": artifact.updated_at})
    )
    if result.rowcount != 1:
        return False
    removed = set(previous.properties) - set(artifact.properties)
    rewritten = {
        name: value
        for name, value in artifact.properties.items()
        if previous.properties.get(name) != value
    }
    if removed or rewritten:
        connection.execute(
            delete(artifact_properties).where(
                artifact_properties.c.artifact_id == artifact.id,
                artifact_properties.c.name.in_(removed | set(rewritten)),
            )
        )
        _insert_properties(connection, artifact.id, rewritten)
    if set(artifact.tags) != set(previous.tags):
        connection.execute(delete(artifact_tags).where(artifact_tags.c.artifact_id == artifact.id))
        _insert_tags(connection, artifact.id, artifact.tags)
    return True


def set_status(
    connection: Connection,
    /,
    artifact_id: str,
    expected: Collection[Status],
    new: Status,
    idle_since: datetime | None = None,
    touched_at: datetime | None = None,
    **values: Any,
) -> bool:
    """Compare-and-set: move to ``new`` only from one of ``expected``.

    With ``idle_since``, only if the artifact was last touched before then; with
    ``touched_at``, only if it was last touched exactly then (an upload's lease).
    """
    statement = update(artifacts).where(
        artifacts.c.id == artifact_id, artifacts.c.status.in_(list(expected))
    )
    if idle_since is not None:
        statement = statement.where(artifacts.c.updated_at < idle_since)
    if touched_at is not None:
        statement = statement.where(artifacts.c.updated_at == touched_at)
    result = connection.execute(statement.values(status=new, **values))
    return result.rowcount == 1


def add_tag(connection: Connection, artifact_id: str, tag: str, now: datetime) -> None:
    exists_already = connection.execute(
        select(artifact_tags.c.tag).where(
            artifact_tags.c.artifact_id == artifact_id, artifact_tags.c.tag == tag
        )
    ).first()
    if exists_already is None:
        _insert_tags(connection, artifact_id, [tag])
    _touch(connection, artifact_id, now)


def remove_tag(connection: Connection, artifact_id: str, tag: str, now: datetime) -> bool:
    result = connection.execute(
        delete(artifact_tags).where(
            artifact_tags.c.artifact_id == artifact_id, artifact_tags.c.tag == tag
        )
    )
    _touch(connection, artifact_id, now)
    return result.rowcount == 1


def touch_saving(
    connection: Connection, artifact_id: str, touched_at: datetime, now: datetime
) -> bool:
    """Renew an upload's lease; False when the upload no longer holds it."""
    result = connection.execute(
        update(artifacts)
        .where(
            artifacts.c.id == artifact_id,
            artifacts.c.status == Status.SAVING,
            artifacts.c.updated_at == touched_at,
        )
        .values(updated_at=now)
    )
    return result.rowcount == 1


def stuck_artifacts(connection: Connection, before: datetime) -> list[str]:
    """Ids of artifacts still ``saving`` with no sign of life since ``before``."""
    rows = connection.execute(
        select(artifacts.c.id).where(
            artifacts.c.status == Status.SAVING, artifacts.c.updated_at < before
        )
    )
    return list(rows.scalars())


def _touch(connection: Connection, artifact_id: str, now: datetime) -> None:
    connection.execute(
        update(artifacts).where(artifacts.c.id == artifact_id).values(updated_at=now)
    )


def _row(artifact: Artifact) -> dict[str, Any]:
    row = {name: getattr(artifact, name) for name in COLUMNS}
    row["status"] = artifact.status.value
    row["visibility"] = artifact.visibility.value
    return row


def _insert_properties(connection: Connection, artifact_id: str, values: Mapping[str, str]) -> None:
    if values:
        connection.execute(
            insert(artifact_properties),
            [{"artifact_id": artifact_id, "name": k, "value": v} for k, v in values.items()],
        )


def _insert_tags(connection: Connection, artifact_id: str, tags: Iterable[str]) -> None:
    rows = [{"artifact_id": artifact_id, "tag": tag} for tag in dict.fromkeys(tags)]
    if rows:
        connection.execute(insert(artifact_tags), rows)


# Built once: SQLAlchemy then skips most of its per-call statement construction.
PROPERTIES_AND_TAGS = union_all(
    select(
        artifact_properties.c.artifact_id,
        artifact_properties.c.name,
        artifact_properties.c.value,
    ).where(artifact_properties.c.artifact_id.in_(bindparam("ids", expanding=True))),
    select(artifact_tags.c.artifact_id, artifact_tags.c.tag, null()).where(
        artifact_tags.c.artifact_id.in_(bindparam("ids", expanding=True))
    ),
)
LOCATIONS = (
    select(
        locations.c.artifact_id,
        blobs.c.store,
        blobs.c.key,
        blobs.c.size,
        blobs.c.checksum,
        blobs.c.sha256,
    )
    .join(blobs, blobs.c.id == locations.c.blob_id)
    .where(locations.c.artifact_id.in_(bindparam("ids", expanding=True)))
    .order_by(blobs.c.store)
)


def _complete(connection: Connection, rows: Sequence[RowMapping]) -> list[Artifact]:
    """Artifacts from rows, with their properties, tags and locations in two queries."""
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    properties: dict[str, dict[str, str]] = defaultdict(dict)
    tags: dict[str, list[str]] = defaultdict(list)
    for artifact_id, name, value in connection.execute(PROPERTIES_AND_TAGS, {"ids": ids}):
        if value is None:  # property values are never NULL, so this row is a tag
            tags[artifact_id].append(name)
        else:
            properties[artifact_id][name] = value
    places: dict[str, list[Location]] = defaultdict(list)
    for place in connection.execute(LOCATIONS, {"ids": ids}):
        places[place.artifact_id].append(
            Location(place.store, place.key, place.size, place.checksum, place.sha256)
        )
    return [
        Artifact(
            **{
                **row,
                "status": Status(row["status"]),
                "visibility": Visibility(row["visibility"]),
            },
            properties=properties[row["id"]],
            tags=sorted(tags[row["id"]]),
            locations=places[row["id"]],
        )
        for row in rows
    ]


def _filters(query: ListQuery) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [artifacts.c.status != Status.DELETED]
    for name, values in query.fields.items():
        column = artifacts.c[name]
        non_null: list[object] = [value for value in values if value is not None]
        matches = [column.in_(non_null)] if non_null else []
        if len(non_null) < len(values):
            matches.append(column.is_(None))
        clauses.append(or_(*matches))
    for name, texts in query.properties.items():
        clauses.append(
            exists().where(
                artifact_properties.c.artifact_id == artifacts.c.id,
                artifact_properties.c.name == name,
                artifact_properties.c.value.in_(texts),
            )
        )
    for tag in query.tags:
        clauses.append(
            exists().where(
                artifact_tags.c.artifact_id == artifacts.c.id, artifact_tags.c.tag == tag
            )
        )
    if query.size_min is not None:
        clauses.append(artifacts.c.size >= query.size_min)
    if query.size_max is not None:
        clauses.append(artifacts.c.size <= query.size_max)
    clauses.extend(_time_clause(time) for time in query.times)
    if query.hide_community_of_others is not None:
        clauses.append(
            or_(
                artifacts.c.visibility != Visibility.COMMUNITY,
                artifacts.c.owner == query.hide_community_of_others,
            )
        )
    return clauses


def _time_clause(time: TimeFilter) -> ColumnElement[bool]:
    return TIME_OPERATORS[time.operator](artifacts.c[time.field], time.value)  # type: ignore[no-any-return]


def _ordering(key: str, direction: SortDir) -> Any:
    # NULLs sort first ascending and last descending on every engine, as on SQLite.
    column = artifacts.c[key]
    return column.asc().nulls_first() if direction is SortDir.ASC else column.desc().nulls_last()


def _after(marker: Artifact, order: list[tuple[str, SortDir]]) -> list[ColumnElement[bool]]:
    """Rows strictly after ``marker`` in ``order`` (keyset paging, NULL-aware).

    The first key also gets a plain range bound so that its index can be used.
    """
    alternatives: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, direction in order:
        column = artifacts.c[key]
        value = getattr(marker, key)
        value = value.value if isinstance(value, Status | Visibility) else value
        alternatives.append(and_(*equal_so_far, _beyond(column, value, direction)))
        equal_so_far.append(column.is_(None) if value is None else column == value)
    first_key, first_direction = order[0]
    first_value = getattr(marker, first_key)
    bound = _not_before(artifacts.c[first_key], first_value, first_direction)
    return [bound, or_(*alternatives)]


def _beyond(column: Any, value: Any, direction: SortDir) -> ColumnElement[bool]:
    if direction is SortDir.ASC:  # NULLs first
        return column.is_not(None) if value is None else column > value  # type: ignore[no-any-return]
    if value is None:
        return false()
    return or_(column < value, column.is_(None)) if column.nullable else column < value


def _not_before(column: Any, value: Any, direction: SortDir) -> ColumnElement[bool]:
    if value is None:
        return true() if direction is SortDir.ASC else column.is_(None)
    if direction is SortDir.ASC:
        return column >= value  # type: ignore[no-any-return]
    return or_(column <= value, column.is_(None)) if column.nullable else column <= value
