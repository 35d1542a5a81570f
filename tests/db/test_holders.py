"""Queries on holders, the processes that write uploads and blobs: registered on their
first beat, dead once silent since a cutoff, forgotten, or gone from this host; nothing
held by no holder is judged by them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Connection, String, literal, select

from lading.db import holders
from lading.db.engine import Database
from lading.processes import Holder
from tests.db.rows import NOW

ONE = Holder("one", "host-a", 10, "100")
TWO = Holder("two", "host-b", 20, "200")
CUTOFF = NOW - timedelta(minutes=1)


def is_dead(
    connection: Connection, holder_id: str | None, since: datetime, gone: Collection[str] = ()
) -> bool:
    judged = holders.is_dead(literal(holder_id, String), since, gone)
    return bool(connection.execute(select(judged)).scalar())


def test_a_holder_lives_while_it_beats(database: Database) -> None:
    database.run(True, holders.beat, ONE, NOW)
    database.run(True, holders.beat, TWO, NOW - timedelta(minutes=5))
    assert not database.run(False, is_dead, "one", CUTOFF)
    assert database.run(False, is_dead, "two", CUTOFF)  # silent since before the cutoff
    assert database.run(False, is_dead, "forgotten", CUTOFF)  # never recorded, or forgotten
    assert database.run(False, is_dead, "one", CUTOFF, ["one"])  # its process is gone
    assert not database.run(False, is_dead, None, CUTOFF, ["one"])  # held by no process
    database.run(True, holders.beat, TWO, NOW)  # a second beat renews the first
    assert not database.run(False, is_dead, "two", CUTOFF)


def test_holders_are_found_by_host_and_forgotten_once_dead(database: Database) -> None:
    database.run(True, holders.beat, ONE, NOW)
    database.run(True, holders.beat, TWO, NOW - timedelta(minutes=5))
    assert database.run(False, holders.on_host, "host-a") == [ONE]
    assert database.run(True, holders.forget, CUTOFF, []) == 1
    assert database.run(False, holders.on_host, "host-b") == []
    assert database.run(True, holders.forget, CUTOFF, ["one"]) == 1
    assert database.run(False, holders.on_host, "host-a") == []
