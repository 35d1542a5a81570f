"""Listing is served by indices on both engines: no query scans the artifacts table.

The engine is asked for its plan (PostgreSQL with sequential scans discouraged, so that
a tiny table still shows which index the query could use).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Connection, text

from lading.db.engine import Database
from lading.db.listing import PageQuery, page_statement
from lading.domain import Artifact, ListQuery, SortDir, Status, Visibility

MARKER = Artifact(
    id="00000000-0000-0000-0000-000000000001", owner="p", status=Status.ACTIVE,
    visibility=Visibility.SHARED, created_at=datetime(2026, 1, 1),
    updated_at=datetime(2026, 1, 1), name="m", size=10,
)  # fmt: skip
NEWEST = [("created_at", SortDir.DESC)]  # the default order of the Glance face
QUERIES = {
    "first page": PageQuery(ListQuery(fields={"os_hidden": [False]}, sort=NEWEST)),
    "property filter": PageQuery(
        ListQuery(fields={"os_hidden": [False]}, properties={"os": ["x"]}, sort=NEWEST)
    ),
    "tag filter": PageQuery(ListQuery(tags=["t"], sort=NEWEST)),
    "deep page by marker": PageQuery(
        ListQuery(fields={"os_hidden": [False]}, sort=NEWEST), marker=MARKER
    ),
    "by name, with marker": PageQuery(ListQuery(sort=[("name", SortDir.ASC)]), marker=MARKER),
    "by size, with marker": PageQuery(ListQuery(sort=[("size", SortDir.DESC)]), marker=MARKER),
    "checksum filter": PageQuery(ListQuery(fields={"checksum": ["abc"]}, sort=NEWEST)),
}


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    database = Database(database_url)
    database.upgrade()
    with database.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SET enable_seqscan = off"))
        yield connection
    database.dispose()


@pytest.mark.parametrize("name", QUERIES)
def test_listing_uses_indices(connection: Connection, name: str) -> None:
    statement = page_statement(QUERIES[name], connection.dialect.name)
    compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
    if connection.dialect.name == "postgresql":
        plan = "\n".join(connection.execute(text(f"EXPLAIN {compiled}")).scalars())
        assert "Seq Scan on artifacts" not in plan, plan
    else:
        rows = connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        plan = "\n".join(str(row[-1]) for row in rows)
        full_scans = [line for line in plan.splitlines() if line.strip() == "SCAN artifacts"]
        assert not full_scans, plan
