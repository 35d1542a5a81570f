"""Nonces of signed requests: a nonce is taken once per client, within its time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select

from lading.db.engine import Database
from lading.db.models import signed_nonces
from lading.db.nonces import remember

NOW = datetime(2026, 12, 6, 12, 0, 0)
LATER = NOW + timedelta(minutes=5)


def count(database: Database) -> int:
    query = select(func.count()).select_from(signed_nonces)
    return int(database.run(False, lambda connection: connection.execute(query).scalar_one()))


def test_a_nonce_used_again_is_a_replay(database: Database) -> None:
    assert database.run(True, remember, "click", "n-1", LATER, NOW)
    assert not database.run(True, remember, "click", "n-1", LATER, NOW)
    assert database.run(True, remember, "click", "n-2", LATER, NOW)  # another nonce
    assert database.run(True, remember, "visor", "n-1", LATER, NOW)  # another client's
    assert count(database) == 3


def test_a_refused_replay_leaves_the_transaction_usable(database: Database) -> None:
    """The duplicate fails in a savepoint: what the transaction did before it stays."""

    def twice(connection: Connection) -> tuple[bool, bool]:
        first = remember(connection, "click", "n", LATER, NOW)
        return first, remember(connection, "click", "n", LATER, NOW)

    assert database.run(True, twice) == (True, False)
    assert count(database) == 1


def test_expired_nonces_are_forgotten_as_new_ones_come(database: Database) -> None:
    assert database.run(True, remember, "click", "old", NOW, NOW - timedelta(minutes=1))
    after = NOW + timedelta(seconds=1)
    assert database.run(True, remember, "click", "new", after + timedelta(minutes=5), after)
    assert count(database) == 1  # the old one went: its requests are refused by their time
    # Once forgotten, the same nonce is new again (its request's timestamp refuses it).
    assert database.run(True, remember, "click", "old", after + timedelta(minutes=5), after)
