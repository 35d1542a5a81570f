"""The database engine: queries run on a few worker threads, off the event loop, however
many wait; a catalogue that cannot be reached is CatalogueUnavailable (503, Retry-After),
logged once an outage; a statement the database refuses as wrong stays an error of its own."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import OperationalError

from lading.db.engine import CONNECT_TIMEOUT, Database
from lading.errors import CatalogueUnavailable


def select_one(connection: Connection) -> int:
    return int(connection.execute(text("SELECT 1")).scalar_one())


class Occupancy:
    """How many queries run at once, at most, and on which threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.threads: set[int] = set()

    def query(self, connection: Connection) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.get_ident())
        time.sleep(0.05)  # long enough for every waiting query to try to start
        with self.lock:
            self.now -= 1
        return select_one(connection)


async def many(database: Database, occupancy: Occupancy, count: int) -> list[int]:
    results: list[int] = []

    async def one(write: bool) -> None:
        run = database.write if write else database.read
        results.append(await run(occupancy.query))

    async with anyio.create_task_group() as group:
        for n in range(count):
            group.start_soon(one, n % 2 == 0)
    return results


def test_queries_take_turns_on_the_threads_given(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'catalogue.db'}", threads=2)
    occupancy = Occupancy()
    assert anyio.run(many, database, occupancy, 8) == [1] * 8
    assert occupancy.most <= 2  # reads and writes share the two
    assert threading.get_ident() not in occupancy.threads  # never on the event loop's
    database.dispose()


def test_one_event_loop_after_another_shares_the_limit(tmp_path: Path) -> None:
    """As the CLI runs each command: a new event loop each time, on one Database."""
    database = Database(f"sqlite:///{tmp_path / 'catalogue.db'}", threads=3)
    for _ in range(3):
        occupancy = Occupancy()
        assert anyio.run(many, database, occupancy, 9) == [1] * 9
        assert occupancy.most <= 3
    database.dispose()


def test_a_database_that_cannot_be_opened_is_unavailable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    where = tmp_path / "catalogue.db"
    where.mkdir()  # a directory where the file should be: SQLite cannot open it
    database = Database(f"sqlite:///{where}")
    for _ in range(3):
        with pytest.raises(CatalogueUnavailable) as raised:
            database.run(False, select_one)
    assert raised.value.status == 503 and raised.value.headers["retry-after"]
    assert isinstance(raised.value.__cause__, OperationalError)  # the cause is kept
    where.rmdir()
    assert database.run(False, select_one) == 1  # and it serves once it can, as it was
    outage = [record.getMessage() for record in caplog.records if record.name == "lading.db.engine"]
    assert len(outage) == 2, outage  # one line when it went, one when it came back
    assert "unable to open database file" in outage[0]
    assert "answers again" in outage[1]
    database.dispose()


def test_a_wrong_statement_is_not_an_outage(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'catalogue.db'}")
    with pytest.raises(OperationalError, match="no such table"):
        database.run(
            False, lambda connection: connection.execute(text("SELECT * FROM missing_table"))
        )
    database.dispose()


@pytest.mark.heavy  # the connect timeout waited out
def test_a_postgresql_server_that_never_answers_is_unavailable_in_seconds() -> None:
    """A host that drops packets looks, to the client, like a server that accepts and
    then says nothing: the connection gives up after its timeout (5 s), not the system's
    TCP timeout, and the request gets its 503."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        database = Database(f"postgresql+psycopg://lading:lading@127.0.0.1:{port}/lading")
        started = time.monotonic()
        with pytest.raises(CatalogueUnavailable):
            database.run(False, select_one)
        assert time.monotonic() - started < CONNECT_TIMEOUT + 3
        database.dispose()
