"""Nonces of signed requests. Every function takes the ``Connection`` of its transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert
from sqlalchemy.exc import IntegrityError

from lading.db.models import signed_nonces


def remember(
    connection: Connection, client: str, nonce: str, expires_at: datetime, now: datetime
) -> bool:
    """Record the nonce; False when the client used it before (a replay).

    Expired nonces go first: their requests are refused by their timestamp already.
    """
    connection.execute(delete(signed_nonces).where(signed_nonces.c.expires_at < now))
    try:
        with connection.begin_nested():
            connection.execute(
                insert(signed_nonces).values(client=client, nonce=nonce, expires_at=expires_at)
            )
    except IntegrityError:
        return False
    return True
