"""Listing artifacts: filters, several sort keys, and keyset paging by marker.

Pages are found by seeking past the marker's sort values, never by OFFSET, so a page
deep in the listing costs what the first one does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, false, or_, true

from lading.db.artifacts import SELECT_ARTIFACTS, complete
from lading.db.models import artifact_properties, artifact_tags, artifacts
from lading.domain import Artifact, ListQuery, SortDir, Status, TimeFilter, Visibility

TIME_OPERATORS = {
    "gt": lambda column, value: column > value,
    "gte": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "lte": lambda column, value: column <= value,
    "eq": lambda column, value: column == value,
    "neq": lambda column, value: column != value,
}


def list_artifacts(connection: Connection, query: ListQuery) -> list[Artifact]:
    """One page of live artifacts in the query's order, after its marker."""
    statement = SELECT_ARTIFACTS.where(*_filters(query))
    order = [*query.sort, ("id", query.sort[-1][1] if query.sort else SortDir.DESC)]
    if query.marker is not None:
        statement = statement.where(*_after(query.marker, order))
    statement = statement.order_by(*(_ordering(key, direction) for key, direction in order))
    rows = connection.execute(statement.limit(query.limit)).mappings().all()
    return complete(connection, rows)


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
