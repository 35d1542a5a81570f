"""Garbage collection of the registry's blobs (``lading.services.oci_gc``) and the
registry's bytes in the project's quota (``lading.services.oci``), on SQLite and
PostgreSQL: what no manifest names goes after the grace, what one names stays, a manifest
put while its blob is collected never names a missing blob."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Connection, select

from lading.db import oci as queries
from lading.db.engine import Database
from lading.db.models import oci_blob_links
from lading.errors import ManifestBlobUnknown, ManifestUnknown, QuotaExceeded
from lading.services import Services
from lading.services.access import Caller
from lading.services.oci import OCI_MANIFEST, Access
from lading.services.roles import MEMBER
from lading.settings import QuotaSettings, Settings
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio

OWNER = Access(Caller.with_role("A", MEMBER))
OTHER = Access(Caller.with_role("B", MEMBER))
GRACE = 3600  # oci.gc_grace's default
CONFIG, LAYER, LOOSE = b'{"os": "linux"}', b"layer" * 100, b"loose" * 10


async def body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push(services: Services, name: str, data: bytes, access: Access = OWNER) -> str:
    return await services.registry.upload(access, name, digest(data), body(data), len(data))


def manifest_of(config: bytes, *layers: bytes) -> bytes:
    def descriptor(data: bytes) -> dict[str, object]:
        return {"mediaType": "application/octet-stream", "digest": digest(data),
                "size": len(data)}  # fmt: skip

    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor(config),
        "layers": [descriptor(layer) for layer in layers],
    }).encode()  # fmt: skip


async def put(services: Services, name: str, reference: str, manifest: bytes) -> str:
    stored = await services.registry.put_manifest(OWNER, name, reference, OCI_MANIFEST, manifest)
    return stored.digest


async def linked(database: Database, name: str) -> set[str]:
    def read(connection: Connection) -> set[str]:
        query = select(oci_blob_links.c.digest).where(oci_blob_links.c.repository == name)
        return set(connection.execute(query).scalars())

    return await database.read(read)


async def test_what_no_manifest_names_goes_after_the_grace(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    for data in (CONFIG, LAYER, LOOSE):
        await push(services, "team/app", data)
    await put(services, "team/app", "v1", manifest_of(CONFIG, LAYER))
    # Within the grace, nothing goes: a push's manifest comes after its blobs.
    assert (await services.registry_gc.collect()).unlinked == []
    clock.move(seconds=GRACE + 1)
    dry = await services.registry_gc.collect(dry_run=True)
    assert [link.digest for link in dry.unlinked] == [digest(LOOSE)]
    assert (dry.freed, dry.freed_bytes) == (1, len(LOOSE))
    assert len(store.objects) == 3  # a dry run changes nothing

    collected = await services.registry_gc.collect()
    assert [(link.repository, link.digest) for link in collected.unlinked] == [
        ("team/app", digest(LOOSE))
    ]
    assert (collected.unlinked_bytes, collected.freed, collected.freed_bytes) == (
        len(LOOSE), 1, len(LOOSE),
    )  # fmt: skip
    assert await linked(database, "team/app") == {digest(CONFIG), digest(LAYER)}
    assert len(store.objects) == 2
    assert (await services.registry_gc.collect()).unlinked == []  # nothing more


async def test_untagged_manifests_keep_their_blobs_until_deleted(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    for data in (CONFIG, LAYER):
        await push(services, "team/app", data)
    manifest = await put(services, "team/app", "v1", manifest_of(CONFIG, LAYER))
    await services.registry.delete_manifest(OWNER, "team/app", "v1")  # the tag alone
    clock.move(seconds=GRACE + 1)
    assert (await services.registry_gc.collect()).unlinked == []  # pulled by digest still
    await services.registry.delete_manifest(OWNER, "team/app", manifest)
    collected = await services.registry_gc.collect()
    assert {link.digest for link in collected.unlinked} == {digest(CONFIG), digest(LAYER)}
    assert await linked(database, "team/app") == set()
    assert store.objects == {}


async def test_bytes_another_repository_holds_stay(
    services: Services, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    await push(services, "team/app", LAYER)
    await push(services, "team/keep", LAYER)
    await push(services, "team/keep", CONFIG)
    await put(services, "team/keep", "v1", manifest_of(CONFIG, LAYER))
    clock.move(seconds=GRACE + 1)
    collected = await services.registry_gc.collect()
    assert [link.repository for link in collected.unlinked] == ["team/app"]
    assert (collected.freed, collected.freed_bytes) == (0, 0)
    assert len(store.objects) == 2  # the layer's bytes, shared, and the config's


async def test_a_blob_pushed_again_starts_its_grace_over(
    services: Services, database: Database, clock: MovableClock
) -> None:
    await push(services, "team/app", LAYER)
    clock.move(seconds=GRACE + 1)
    await push(services, "team/app", LAYER)  # the client's push before its manifest
    assert (await services.registry_gc.collect()).unlinked == []


async def test_a_manifest_checked_first_keeps_its_blobs_from_a_collection(
    services: Services, database: Database, clock: MovableClock
) -> None:
    """A manifest's check holds its transaction open: the collection racing it waits on
    the links it locked, then sees the manifest naming them, and keeps them."""
    await push(services, "team/app", CONFIG)
    await push(services, "team/app", LAYER)
    clock.move(seconds=GRACE + 1)
    before = clock.now() - timedelta(seconds=GRACE)
    found = await database.read(queries.unnamed_links, before, None, 10)
    assert len(found) == 2
    named = [digest(CONFIG), digest(LAYER)]
    manifest = manifest_of(CONFIG, LAYER)
    removed: list[queries.Link] = []

    async def collect() -> None:
        removed.extend(await database.write(queries.unlink_unnamed, found, before))

    with database.engine.connect() as putting, putting.begin():
        assert queries.missing_blobs(putting, "team/app", named) == []
        record = queries.Manifest(digest(manifest), OCI_MANIFEST, manifest)
        queries.put_manifest(putting, "team/app", record, None, clock.now(), named)
        async with anyio.create_task_group() as group:
            group.start_soon(collect)
            await anyio.sleep(0.5)
            assert removed == []  # it waits
            putting.commit()
    assert removed == []
    assert await linked(database, "team/app") == set(named)


async def test_a_manifest_checked_after_a_collection_is_refused(
    services: Services, database: Database, clock: MovableClock
) -> None:
    """A collection holds its transaction open, its links removed: the manifest's check
    racing it waits, then finds the blob gone (MANIFEST_BLOB_UNKNOWN, nothing kept)."""
    await push(services, "team/app", CONFIG)
    await push(services, "team/app", LAYER)
    clock.move(seconds=GRACE + 1)
    before = clock.now() - timedelta(seconds=GRACE)
    found = await database.read(queries.unnamed_links, before, None, 10)
    refused: list[BaseException] = []

    async def put_manifest() -> None:
        try:
            await put(services, "team/app", "v1", manifest_of(CONFIG, LAYER))
        except ManifestBlobUnknown as exc:
            refused.append(exc)

    with database.engine.connect() as collecting, collecting.begin():
        removed = queries.unlink_unnamed(collecting, found, before)
        assert len(removed) == 2
        async with anyio.create_task_group() as group:
            group.start_soon(put_manifest)
            await anyio.sleep(0.5)
            assert refused == []  # it waits
            collecting.commit()
    assert len(refused) == 1
    with pytest.raises(ManifestUnknown):
        await services.registry.manifest(OWNER, "team/app", "v1")


# Quotas


@pytest.fixture
def quota_services(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> Services:
    """Project A may hold 1000 bytes."""
    settings = Settings(data_dir=tmp_path, quota=QuotaSettings(bytes=1000))
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"), clock)


async def test_a_push_over_the_quota_is_refused_and_keeps_nothing(
    quota_services: Services, store: FaultyStore
) -> None:
    services = quota_services
    await push(services, "team/app", b"a" * 600)
    with pytest.raises(QuotaExceeded, match="quota of 1000 bytes"):
        await push(services, "team/app", b"b" * 600)  # announced: refused at once
    with pytest.raises(QuotaExceeded):  # not announced: refused once its bytes are in
        data = b"c" * 600
        await services.registry.upload(OWNER, "team/app", digest(data), body(data), None)
    assert len(store.objects) == 1
    # The same bytes again, in another repository of the project: counted once.
    await push(services, "team/other", b"a" * 600)
    # Space freed, the retry goes through.
    await services.registry.delete_blob(OWNER, "team/app", digest(b"a" * 600))
    await services.registry.delete_blob(OWNER, "team/other", digest(b"a" * 600))
    await push(services, "team/app", b"b" * 600)
    assert len(store.objects) == 1


async def test_chunked_pushes_and_mounts_count_too(
    quota_services: Services, store: FaultyStore
) -> None:
    services = quota_services
    await push(services, "team/app", b"a" * 600, OTHER)  # project B's
    assert not await services.registry.mount(OWNER, "team/mine", digest(b"a" * 600), "team/app")
    await services.registry.set_visibility(OTHER.caller, "team/app", "public")  # type: ignore[arg-type]
    await push(services, "team/mine", b"m" * 500)
    with pytest.raises(QuotaExceeded):
        await services.registry.mount(OWNER, "team/mine", digest(b"a" * 600), "team/app")
    upload = await services.registry.start_upload(OWNER, "team/mine")
    await services.registry.append(OWNER, "team/mine", upload.id, body(b"c" * 300), 0)
    await services.registry.append(OWNER, "team/mine", upload.id, body(b"c" * 300), 300)
    with pytest.raises(QuotaExceeded):
        await services.registry.finish(
            OWNER, "team/mine", upload.id, digest(b"c" * 600), None, None
        )
    assert len(store.objects) == 2  # B's blob and A's first: the parts went
    await push(services, "team/mine", b"d" * 500)  # room for exactly this
    with pytest.raises(QuotaExceeded):
        await services.registry.start_upload(OWNER, "team/mine")  # full: refused at once


async def test_registry_bytes_count_in_the_glance_usage(quota_services: Services) -> None:
    await push(quota_services, "team/app", b"a" * 600)
    usage = await quota_services.info.usage(Caller.with_role("A", MEMBER))
    assert (usage.image_size_total.usage, usage.image_size_total.limit) == (600, 1000)
