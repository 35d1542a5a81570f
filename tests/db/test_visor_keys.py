"""VISoR's access keys in the catalogue: found with their sealed secret, listed oldest
first, and revoked once (a second revocation keeps the first one's time)."""

from __future__ import annotations

from datetime import timedelta

from lading.db.engine import Database
from lading.db.visor_keys import (
    SealedKey,
    VisorKeyRecord,
    any_key,
    find_key,
    insert_key,
    list_keys,
    revoke,
)
from tests.db.rows import NOW


def record(access_key: str, minutes: int = 0) -> VisorKeyRecord:
    return VisorKeyRecord(access_key, "p", "member", "", NOW + timedelta(minutes=minutes), None)


def test_a_key_is_found_with_its_sealed_secret(database: Database) -> None:
    assert not database.run(False, any_key)
    database.run(True, insert_key, record("AK1"), "sealed-1")
    assert database.run(False, any_key)
    assert database.run(False, find_key, "AK1") == SealedKey(record("AK1"), "sealed-1")
    assert database.run(False, find_key, "ak1") is None
    assert database.run(False, find_key, "sealed-1") is None


def test_keys_are_listed_oldest_first_and_revoked_once(database: Database) -> None:
    for access_key, minutes in (("late", 2), ("early", 0)):
        database.run(True, insert_key, record(access_key, minutes), "s")
    assert [key.access_key for key in database.run(False, list_keys)] == ["early", "late"]
    revoked = database.run(True, revoke, "early", NOW)
    assert revoked is not None and revoked.revoked_at == NOW
    again = database.run(True, revoke, "early", NOW + timedelta(hours=1))
    assert again is not None and again.revoked_at == NOW
    assert database.run(True, revoke, "nobody", NOW) is None
    found = database.run(False, find_key, "late")
    assert found is not None and found.record.revoked_at is None
