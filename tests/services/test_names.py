"""Package names at the service: two projects claiming look-alike names at the same moment
(on PostgreSQL, in two transactions that overlap) end with one owner, never two."""

from __future__ import annotations

import time

import anyio
import pytest
from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import names as queries
from lading.db.engine import Database
from lading.domain import PackageName
from lading.errors import Forbidden, NotFound
from lading.services.access import Caller
from lading.services.name_rules import key, skeleton
from lading.services.names import NAMESPACE, PackageNames
from lading.services.roles import ADMIN, MEMBER

pytestmark = pytest.mark.anyio


async def test_look_alikes_claimed_at_once_get_one_owner(database: Database) -> None:
    names = PackageNames(database)
    outcomes: dict[str, str] = {}

    def claim_and_linger(connection: Connection, project: str, name: str) -> None:
        names.claim(connection, project, name, Clock().now())
        time.sleep(0.5)  # the transaction stays open while the other one claims

    async def claim(project: str, name: str) -> None:
        try:
            await database.write(claim_and_linger, project, name)
        except Forbidden as refused:
            outcomes[project] = refused.message
        else:
            outcomes[project] = "owner"

    async with anyio.create_task_group() as group:
        group.start_soon(claim, "a", "tool")
        group.start_soon(claim, "b", "t\u043e\u043el")  # Cyrillic o: looks like tool
    (refused,) = [outcome for outcome in outcomes.values() if outcome != "owner"]
    assert len(outcomes) == 2 and "looks like" in refused, outcomes


async def test_an_unknown_or_impossible_name_is_not_found(database: Database) -> None:
    names = PackageNames(database)
    caller = Caller.with_role("a", MEMBER)
    for name in ("nothing", "a\x00b", "x" * 65536, ".."):
        with pytest.raises(NotFound, match="no package name"):
            await names.show(caller, name)


async def test_a_name_from_before_the_character_set_is_still_found(database: Database) -> None:
    names = PackageNames(database)
    old = PackageName("my tool", "a", [], Clock().now())
    await database.write(queries.insert_name, NAMESPACE, key("my tool"), skeleton("my tool"), old)
    admin = Caller.with_role("ops", ADMIN)
    assert (await names.show(admin, "My Tool")).owner == "a"
    assert (await names.give(admin, "my tool", "b")).owner == "b"
    assert [name.name for name in await names.names(admin, None, 10)] == ["my tool"]
    assert await names.names(admin, "my tool", 10) == []
