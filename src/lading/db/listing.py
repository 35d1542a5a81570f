"""Listing artifacts: filters, several sort keys, and keyset paging by marker.

Pages are found by seeking past the marker's sort values, never by OFFSET, so a page
deep in the listing costs what the first one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, exists, false, or_, select, true

from lading.db.artifacts import SELECT_ARTIFACTS, complete
from lading.db.models import (
    artifact_members,
    artifact_properties,
    artifact_tags,
    artifacts,
    blobs,
    locations,
)
from lading.domain import (
    GONE,
    PROPERTY_SORT,
    Artifact,
    ListQuery,
    MemberStatus,
    SortDir,
    Status,
    TimeFilter,
    Visibility,
)

LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})
TIME_OPERATORS = {
    "gt": lambda column, value: column > value,
    "gte": lambda column, value: column >= value,
    "lt": lambda column, value: column < value,
    "lte": lambda column, value: column <= value,
    "eq": lambda column, value: column == value,
    "neq": lambda column, value: column != value,
}


@dataclass(frozen=True, slots=True)
class PageQuery:
    """One page as the catalogue asks for it: a face's query, for whom and from where."""

    query: ListQuery
    viewer: str | None = None  # a non-admin's project: only what it may see is listed
    marker: Artifact | None = None  # the page starts after it


def list_artifacts(connection: Connection, page: PageQuery) -> list[Artifact]:
    """One page of live artifacts in the query's order, after its marker."""
    statement = page_statement(page, connection.dialect.name)
    rows = connection.execute(statement).mappings().all()
    return complete(connection, rows)


def page_statement(page: PageQuery, dialect: str) -> Select[Any]:
    """The SELECT of one page (tests look at its plan: it must be served by indices).

    NULLs sort as the engine sorts them, smallest on SQLite and largest on PostgreSQL,
    so that ordered indices serve the order on both.
    """
    query = page.query
    statement = SELECT_ARTIFACTS.where(*_filters(query))
    if page.viewer is not None:
        statement = statement.where(
            visible_to(page.viewer, query.member_status, query.with_community)
        )
    order = [*query.sort, ("id", query.sort[-1][1] if query.sort else SortDir.DESC)]
    if page.marker is not None:
        statement = statement.where(*_after(page.marker, order, dialect == "postgresql"))
    statement = statement.order_by(*(_ordering(key, direction) for key, direction in order))
    return statement.limit(query.limit)


def _filters(query: ListQuery) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [artifacts.c.status.not_in(GONE)]
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
    if query.stores:
        clauses.append(
            exists().where(
                locations.c.artifact_id == artifacts.c.id,
                blobs.c.id == locations.c.blob_id,
                blobs.c.store.in_(query.stores),
            )
        )
    if query.name_contains:
        # A search box, not an index seek: the page's order still walks its index, and
        # this filter drops the rows that do not match as it goes.
        escaped = query.name_contains.translate(LIKE_ESCAPES)
        clauses.append(artifacts.c.name.ilike(f"%{escaped}%", escape="\\"))
    if query.size_min is not None:
        clauses.append(artifacts.c.size >= query.size_min)
    if query.size_max is not None:
        clauses.append(artifacts.c.size <= query.size_max)
    clauses.extend(_time_clause(time) for time in query.times)
    return clauses


def visible_to(
    viewer: str,
    member_status: Sequence[MemberStatus] = (MemberStatus.ACCEPTED,),
    with_community: bool = False,
) -> ColumnElement[bool]:
    """What a non-admin project may list, as Glance lists it: its own artifacts, public
    ones, shared ones it answered as ``member_status`` asks (accepted by default), and
    community ones only when ``visibility=community`` or ``all`` asks for them."""
    visibility = artifacts.c.visibility
    shared = and_(
        visibility == Visibility.SHARED,
        exists().where(
            artifact_members.c.artifact_id == artifacts.c.id,
            artifact_members.c.member == viewer,
            artifact_members.c.status.in_(member_status),
        ),
    )
    others = [visibility == Visibility.PUBLIC, shared]
    if with_community:
        others.append(visibility == Visibility.COMMUNITY)
    return or_(artifacts.c.owner == viewer, and_(artifacts.c.published, or_(*others)))


def _time_clause(time: TimeFilter) -> ColumnElement[bool]:
    return TIME_OPERATORS[time.operator](artifacts.c[time.field], time.value)  # type: ignore[no-any-return]


def _ordering(key: str, direction: SortDir) -> Any:
    # No NULLS FIRST/LAST: each engine's own NULL order is the one its indices hold.
    column = _sort_column(key)
    return column.asc() if direction is SortDir.ASC else column.desc()


def _sort_column(key: str) -> Any:
    """The field's column, or a property's value (NULL where the artifact lacks it)."""
    if not key.startswith(PROPERTY_SORT):
        return artifacts.c[key]
    return (
        select(artifact_properties.c.value)
        .where(
            artifact_properties.c.artifact_id == artifacts.c.id,
            artifact_properties.c.name == key.removeprefix(PROPERTY_SORT),
        )
        .scalar_subquery()
    )


def _marker_value(marker: Artifact, key: str) -> Any:
    if key.startswith(PROPERTY_SORT):
        return marker.properties.get(key.removeprefix(PROPERTY_SORT))
    value = getattr(marker, key)
    return value.value if isinstance(value, Status | Visibility) else value


def _nullable(column: Any) -> bool:
    return bool(getattr(column, "nullable", True))  # a property's value may be missing


def _after(
    marker: Artifact, order: list[tuple[str, SortDir]], nulls_largest: bool
) -> list[ColumnElement[bool]]:
    """Rows strictly after ``marker`` in ``order`` (keyset paging, NULL-aware).

    The first key also gets a plain range bound so that its index can be used.
    """
    alternatives: list[ColumnElement[bool]] = []
    equal_so_far: list[ColumnElement[bool]] = []
    for key, direction in order:
        column = _sort_column(key)
        value = _marker_value(marker, key)
        nulls_first = (direction is SortDir.ASC) != nulls_largest
        alternatives.append(and_(*equal_so_far, _beyond(column, value, direction, nulls_first)))
        equal_so_far.append(column.is_(None) if value is None else column == value)
    first_key, first_direction = order[0]
    first_value = _marker_value(marker, first_key)
    first_nulls_first = (first_direction is SortDir.ASC) != nulls_largest
    bound = _not_before(_sort_column(first_key), first_value, first_direction, first_nulls_first)
    return [bound, or_(*alternatives)]


def _beyond(column: Any, value: Any, direction: SortDir, nulls_first: bool) -> Any:
    """Rows after ``value`` in this column's order, NULLs where the engine puts them."""
    if value is None:
        return column.is_not(None) if nulls_first else false()
    beyond = column > value if direction is SortDir.ASC else column < value
    return beyond if nulls_first or not _nullable(column) else or_(beyond, column.is_(None))


def _not_before(column: Any, value: Any, direction: SortDir, nulls_first: bool) -> Any:
    """Rows at or after ``value``: a range an index can seek to."""
    if value is None:
        return true() if nulls_first else column.is_(None)
    bound = column >= value if direction is SortDir.ASC else column <= value
    return bound if nulls_first or not _nullable(column) else or_(bound, column.is_(None))
