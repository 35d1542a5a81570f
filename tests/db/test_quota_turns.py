"""Transactions that check a quota and then add to it take turns: two at once cannot pass
it together. On PostgreSQL each would otherwise count without the other's uncommitted
rows; on SQLite one write transaction runs at a time anyway."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, func, select

from lading.db import artifacts, usage
from lading.db.engine import Database
from lading.db.models import artifacts as artifact_table
from tests.db.rows import artifact

T = TypeVar("T")
WAIT = 10.0  # seconds, at most, for a transaction held open on purpose
STARTED = 0.3  # seconds for the second transaction to get as far as it can


def while_one_is_open(
    database: Database, first: Callable[[Connection], object], second: Callable[[Connection], T]
) -> tuple[Future[T], bool]:
    """``first`` in a transaction held open; ``second`` in another, started meanwhile.
    Returns ``second``'s outcome and whether it had finished before ``first`` committed."""
    began, release = threading.Event(), threading.Event()

    def held(connection: Connection) -> None:
        first(connection)
        began.set()
        assert release.wait(WAIT)

    with ThreadPoolExecutor(2) as pool:
        holding = pool.submit(database.run, True, held)
        assert began.wait(WAIT)
        other = pool.submit(database.run, True, second)
        try:
            other.exception(timeout=STARTED)
            before = True
        except TimeoutError:
            before = False
        release.set()
        holding.result(WAIT)
        other.exception(WAIT)
    return other, before


def test_two_creates_at_once_cannot_pass_an_artifact_quota(database: Database) -> None:
    created, before = while_one_is_open(
        database,
        lambda connection: artifacts.insert_artifact(connection, artifact("a", owner="p"), 1),
        lambda connection: artifacts.insert_artifact(connection, artifact("b", owner="p"), 1),
    )
    assert not before and created.result() is False
    count = select(func.count()).select_from(artifact_table).where(artifact_table.c.owner == "p")
    assert database.run(False, lambda connection: connection.execute(count).scalar()) == 1


def test_charging_one_project_waits_for_the_one_before_but_not_for_another(
    database: Database,
) -> None:
    def adding(artifact_id: str) -> Callable[[Connection], None]:
        def add(connection: Connection) -> None:
            usage.charging(connection, "p")
            artifacts.insert_artifact(connection, artifact(artifact_id, owner="p", size=5))

        return add

    counted, before = while_one_is_open(
        database, adding("a"), lambda connection: usage.charging(connection, "p")
    )
    assert not before and counted.result().artifacts == 1  # it counted what came first
    if database.engine.dialect.name == "postgresql":  # SQLite: one writer at a time, always
        other, before = while_one_is_open(
            database, adding("b"), lambda connection: usage.charging(connection, "q")
        )
        assert before and other.result().artifacts == 0
