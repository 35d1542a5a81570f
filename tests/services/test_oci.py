"""The OCI registry's rules at the service (``lading.services.oci``): tokens that expire
and grant no more than asked, a store failing mid-push that leaves no bytes and no name,
and who may make a repository public."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from lading.errors import Forbidden, NameUnknown, StoreFull, Unauthorized
from lading.services import Services
from lading.services.access import Caller
from lading.services.oci import Access, TokenScope
from lading.services.roles import MEMBER, READER
from tests.clock import MovableClock
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio

OWNER = Caller.with_role("A", MEMBER)
OTHER = Caller.with_role("B", MEMBER)


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def test_a_token_expires_after_its_lifetime(services: Services, clock: MovableClock) -> None:
    registry = services.registry
    issued = registry.issue_token(OWNER, [TokenScope("team/app", frozenset({"pull", "push"}))])
    access = registry.open_token(issued.token)
    assert access.caller is not None and access.caller.project == "A"
    assert access.allows("team/app", "push") and not access.allows("team/other", "pull")
    clock.move(seconds=issued.expires_in + 1)
    with pytest.raises(Unauthorized, match="expired"):
        registry.open_token(issued.token)


async def test_a_readers_token_grants_pull_only(services: Services) -> None:
    reader = Caller.with_role("A", READER)
    scope = TokenScope.parse("repository:team/app:pull,push,delete")
    assert scope is not None
    access = services.registry.open_token(services.registry.issue_token(reader, [scope]).token)
    assert access.allows("team/app", "pull")
    assert not access.allows("team/app", "push") and not access.allows("team/app", "delete")


async def test_a_store_failing_mid_push_leaves_no_bytes_and_no_name(
    services: Services, store: FaultyStore
) -> None:
    registry = services.registry
    store.failing_puts = True
    with pytest.raises(StoreFull):
        await registry.upload(Access(OWNER), "team/app", digest(b"data"), body(b"data"), 4)
    assert store.objects == {}
    store.failing_puts = False
    # The name was never held: another project takes it.
    await registry.upload(Access(OTHER), "team/app", digest(b"data"), body(b"data"), 4)
    assert len(store.objects) == 1


async def test_only_the_owner_makes_a_repository_public(services: Services) -> None:
    registry = services.registry
    await registry.upload(Access(OWNER), "team/app", digest(b"x"), body(b"x"), 1)
    with pytest.raises(NameUnknown):
        await registry.set_visibility(OTHER, "team/app", "public")
    with pytest.raises(Forbidden):
        await registry.set_visibility(Caller.with_role("A", READER), "team/app", "public")
    with pytest.raises(Unauthorized):
        await registry.blob(Access(None), "team/app", digest(b"x"))
    await registry.set_visibility(OWNER, "team/app", "public")
    found = await registry.blob(Access(None), "team/app", digest(b"x"))
    assert found.size == 1
    assert (await registry.catalog(Access(None), None, None)).items == ["team/app"]
