"""Locks a transaction holds until it ends, named by what they guard.

PostgreSQL runs write transactions side by side, each reading what was committed when
its statement began: two that check a limit and then add (a quota, a name that must not
look like another) would both pass. An advisory lock, taken before the check, makes
them take turns, each seeing what those before it committed. SQLite needs none: a
write transaction starts with ``BEGIN IMMEDIATE``, one at a time (``lading.db.engine``).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection, func, select


def hold(connection: Connection, *name: str) -> None:
    """Until the transaction ends, hold the lock called ``name`` (PostgreSQL only)."""
    if connection.dialect.name == "postgresql":
        digest = hashlib.sha256("\0".join(name).encode()).digest()
        connection.execute(
            select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], "big", signed=True)))
        )
