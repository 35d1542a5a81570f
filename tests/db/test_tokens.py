"""API tokens in the catalogue: found by digest, listed oldest first, revoked by id or by
digest once (a second revocation keeps the first one's time)."""

from __future__ import annotations

from datetime import datetime, timedelta

from lading.db.engine import Database
from lading.db.tokens import (
    TokenRecord,
    any_token,
    find_by_digest,
    insert_token,
    list_tokens,
    revoke,
)

NOW = datetime(2026, 12, 6, 12, 0, 0)


def record(token_id: str, minutes: int = 0, role: str = "member") -> TokenRecord:
    created = NOW + timedelta(minutes=minutes)
    return TokenRecord(token_id, "project", role, f"token {token_id}", created, None, None)


def test_tokens_are_found_by_their_digest_only(database: Database) -> None:
    assert not database.run(False, any_token)
    made = record("t1", role="admin")
    database.run(True, insert_token, made, "d" * 64)
    assert database.run(False, any_token)
    assert database.run(False, find_by_digest, "d" * 64) == made
    assert database.run(False, find_by_digest, "e" * 64) is None
    assert database.run(False, find_by_digest, "t1") is None  # an id is not a digest


def test_tokens_are_listed_oldest_first(database: Database) -> None:
    for token_id, minutes in (("late", 2), ("early", 0), ("middle", 1)):
        database.run(True, insert_token, record(token_id, minutes), token_id * 8)
    assert [made.id for made in database.run(False, list_tokens)] == ["early", "middle", "late"]


def test_a_token_is_revoked_by_id_or_digest_and_once(database: Database) -> None:
    database.run(True, insert_token, record("by-id"), "a" * 64)
    database.run(True, insert_token, record("by-digest"), "b" * 64)
    revoked = database.run(True, revoke, "by-id", NOW)
    assert revoked is not None and revoked.id == "by-id" and revoked.revoked_at == NOW
    by_digest = database.run(True, revoke, "b" * 64, NOW)
    assert by_digest is not None and by_digest.id == "by-digest"
    again = database.run(True, revoke, "by-id", NOW + timedelta(hours=1))
    assert again is not None and again.revoked_at == NOW  # when it first stopped working
    assert database.run(True, revoke, "nobody", NOW) is None
    found = database.run(False, find_by_digest, "a" * 64)
    assert found is not None and found.revoked_at == NOW
