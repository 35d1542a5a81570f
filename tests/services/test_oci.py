"""The OCI registry's rules at the service (``lading.services.oci``): tokens that expire
and grant no more than asked, a store failing mid-push that leaves no bytes and no name,
who may make a repository public, and a push of one long request that recovery leaves
alone while its bytes come (from the API server too, when the registry listener's process
receives it)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from lading.app import create_registry_app
from lading.db.engine import Database
from lading.errors import BlobUnknown, Forbidden, NameUnknown, StoreFull, Unauthorized
from lading.services import Services
from lading.services.access import Caller
from lading.services.oci import OCI_MANIFEST, Access, TokenScope
from lading.services.roles import MEMBER, READER
from lading.settings import Settings
from lading.stores.base import Store
from lading.stores.filesystem import FilesystemStore
from lading.stores.registry import StoreRegistry
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


# A push of one long request: recovery, run while its bytes still come, leaves its pending
# blob (and its upload) alone, as each request shows signs of life every quarter of
# upload_stuck_after.

STUCK_AFTER = 0.6
PIECE = 32 * 1024  # a write each: the filesystem's temporary file is not stale either
PIECES = 5


@pytest.fixture(params=["memory", "filesystem"])
def slow_services(
    request: pytest.FixtureRequest, tmp_path: Path, database: Database, clock: MovableClock
) -> Services:
    """upload_stuck_after of 0.6 s; a store that takes parts (memory) or appends in place."""
    settings = Settings(data_dir=tmp_path, upload_stuck_after=STUCK_AFTER, chunk_size=PIECE // 2)
    store: Store = FaultyStore("default")
    if request.param == "filesystem":
        store = FilesystemStore("default", tmp_path / "store", settings.chunk_size)
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"), clock)


async def slowly(data: bytes, services: Services) -> AsyncIterator[bytes]:
    """``data`` in pieces a third of upload_stuck_after apart, with a recovery pass before
    the last, when the push has lasted longer than upload_stuck_after."""
    size = -(-len(data) // PIECES)
    for number in range(PIECES):
        await anyio.sleep(STUCK_AFTER / 3)
        if number == PIECES - 1:
            await services.recovery.run()
        yield data[number * size : (number + 1) * size]


async def test_recovery_leaves_a_long_push_alone(slow_services: Services) -> None:
    services, owner = slow_services, Access(OWNER)
    registry = services.registry
    # Monolithic: POST ?digest= with the whole blob.
    whole = os.urandom(PIECES * PIECE)
    await registry.upload(owner, "team/app", digest(whole), slowly(whole, services), None)
    found = await registry.blob(owner, "team/app", digest(whole))
    assert b"".join([chunk async for chunk in registry.read(found, 0, found.size)]) == whole
    # Chunked: a long PATCH, then a long PUT with the last chunk.
    first, last = os.urandom(PIECES * PIECE), os.urandom(PIECES * PIECE)
    state = await registry.start_upload(owner, "team/app")
    state = await registry.append(owner, "team/app", state.id, slowly(first, services), 0)
    assert state.size == len(first)
    await registry.finish(
        owner, "team/app", state.id, digest(first + last), slowly(last, services), state.size
    )
    found = await registry.blob(owner, "team/app", digest(first + last))
    read = b"".join([chunk async for chunk in registry.read(found, 0, found.size)])
    assert read == first + last


async def test_a_blob_deleted_while_a_manifest_names_it_is_unknown(services: Services) -> None:
    """A blob is deleted even while a manifest names it (the conformance suite's teardown
    deletes blobs first); a pull of it then is BLOB_UNKNOWN (404), also for a pull that
    found it just before the delete removed its bytes, never data lost (503)."""
    registry, owner = services.registry, Access(OWNER)
    config, layer = b'{"os": "linux"}', b"layer" * 100
    for data in (config, layer):
        await registry.upload(owner, "team/app", digest(data), body(data), len(data))
    manifest = (
        f'{{"schemaVersion": 2, "mediaType": "{OCI_MANIFEST}", '
        f'"config": {{"mediaType": "application/octet-stream", "digest": "{digest(config)}", '
        f'"size": {len(config)}}}, "layers": [{{"mediaType": "application/octet-stream", '
        f'"digest": "{digest(layer)}", "size": {len(layer)}}}]}}'
    ).encode()
    await registry.put_manifest(owner, "team/app", "v1", OCI_MANIFEST, manifest)
    await registry.delete_blob(owner, "team/app", digest(layer))
    assert (await registry.manifest(owner, "team/app", "v1")).content == manifest
    with pytest.raises(BlobUnknown):
        await registry.blob(owner, "team/app", digest(layer))
    found = await registry.blob(owner, "team/app", digest(config))
    await registry.delete_blob(owner, "team/app", digest(config))
    with pytest.raises(BlobUnknown):
        await registry.check_bytes(found)


async def test_the_registry_listener_beats_through_a_long_push(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    """The registry listener is a process of its own (lading serve's child): it beats
    while it serves, so the API server's recovery does not take a push lasting longer
    than upload_heartbeat for a dead process's and remove its bytes."""
    heartbeat = 0.6
    settings = Settings(data_dir=tmp_path, database_url=database_url, upload_heartbeat=heartbeat)
    stores = StoreRegistry(
        {"default": FilesystemStore("default", tmp_path / "store", PIECE)}, "default"
    )
    api = Services.build(settings, database, stores)  # the API server's, with its recovery
    listener = create_registry_app(settings, stores)
    whole = os.urandom(PIECES * PIECE)

    async def longer_than_a_heartbeat() -> AsyncIterator[bytes]:
        size = len(whole) // PIECES
        for number in range(PIECES):
            await anyio.sleep(heartbeat / 2)
            if number == PIECES - 1:
                await api.recovery.keep_alive()
            yield whole[number * size : (number + 1) * size]

    async with listener.router.lifespan_context(listener):
        registry = listener.state.services.registry
        owner = Access(OWNER)
        await registry.upload(owner, "team/app", digest(whole), longer_than_a_heartbeat(), None)
        found = await registry.blob(owner, "team/app", digest(whole))
        assert b"".join([chunk async for chunk in registry.read(found, 0, found.size)]) == whole
