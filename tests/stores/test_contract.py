"""The contract every store keeps; each backend runs the same tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from lading.errors import ObjectNotFound
from lading.stores.base import Store
from lading.stores.filesystem import FilesystemStore
from lading.stores.memory import MemoryStore
from lading.stores.rbd import RbdStore
from lading.stores.s3 import S3Store
from lading.stores.swift import SwiftStore
from tests.ceph_server import CephPool
from tests.object_servers import SWIFT_KEY, SWIFT_URL, SWIFT_USER, Bucket
from tests.services_required import SERVICES

pytestmark = pytest.mark.anyio

DATA = os.urandom(300_000)


def filesystem(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return FilesystemStore("fs", tmp_path / "store", chunk_size=64 * 1024)


def memory(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return MemoryStore("mem", chunk_size=64 * 1024)


def s3(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    bucket: Bucket = request.getfixturevalue("s3_bucket")
    return S3Store(
        "s3",
        endpoint_url=bucket.endpoint_url,
        region="us-east-1",
        bucket=bucket.name,
        prefix=tmp_path.name,  # each test in a folder of its own
        access_key=bucket.access_key,
        secret_key=bucket.secret_key,
        path_style=True,
        part_size=5 * 1024 * 1024,
        chunk_size=64 * 1024,
    )


def swift(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    container: str = request.getfixturevalue("swift_container")
    return SwiftStore(
        "swift",
        auth_url=f"{SWIFT_URL}/auth/v1.0",
        user=SWIFT_USER,
        key=SWIFT_KEY,
        container=container,
        prefix=f"{tmp_path.name}/",
        segment_size=100_000,  # small, so that the contract runs on large objects too
        chunk_size=64 * 1024,
        timeout=10,
    )


def rbd(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    pool: CephPool = request.getfixturevalue("ceph_pool")
    # 1 MiB objects, the smallest: DATA spans one whole and part of another
    fields = pool.settings(tmp_path.name).model_dump(exclude={"type"})
    return RbdStore("rbd", chunk_size=64 * 1024, **fields)


@pytest.fixture(
    params=[
        filesystem,
        memory,
        *(pytest.param(remote, marks=SERVICES) for remote in (s3, swift, rbd)),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    factory: Callable[[pytest.FixtureRequest, Path], Store] = request.param
    store = factory(request, tmp_path)
    yield store
    await store.close()


async def chunks_of(data: bytes, size: int = 10_000) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def read(store: Store, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.open(key, start, end)])


async def test_put_then_read_whole(store: Store) -> None:
    stored = await store.put("ab/object", chunks_of(DATA))
    assert stored.size == len(DATA)
    assert await read(store, "ab/object") == DATA
    assert (await store.stat("ab/object")).size == len(DATA)


@pytest.mark.parametrize(
    ("start", "end"), [(0, 1), (5, 70_000), (65_536, 131_072), (299_999, None), (100, 300_000)]
)
async def test_ranged_reads(store: Store, start: int, end: int | None) -> None:
    await store.put("ranged", chunks_of(DATA))
    assert await read(store, "ranged", start, end) == DATA[start:end]


async def test_empty_object(store: Store) -> None:
    assert (await store.put("empty", chunks_of(b""))).size == 0
    assert await read(store, "empty") == b""


async def test_put_replaces_atomically(store: Store) -> None:
    await store.put("same", chunks_of(b"old"))
    await store.put("same", chunks_of(b"new bytes"))
    assert await read(store, "same") == b"new bytes"


async def test_failed_put_leaves_nothing(store: Store) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.put("broken", failing())
    with pytest.raises(ObjectNotFound):
        await store.stat("broken")


async def test_missing_objects(store: Store) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat("missing")
    with pytest.raises(ObjectNotFound):
        await read(store, "missing")


# Small and large: Swift keeps an object larger than its segments as a manifest (its
# segments go with it), and a smaller one as it came, and the two are deleted apart.
@pytest.mark.parametrize("size", [1000, len(DATA)], ids=["small", "large"])
async def test_delete(store: Store, size: int) -> None:
    await store.put("gone", chunks_of(DATA[:size]))
    await store.delete("gone")
    with pytest.raises(ObjectNotFound):
        await store.stat("gone")
    await store.delete("gone")  # deleting again is not an error
