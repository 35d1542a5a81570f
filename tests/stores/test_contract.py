"""The contract every store keeps; each backend runs the same tests."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from lading.errors import ObjectNotFound
from lading.stores.base import Part, Store
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


async def read_parts(
    store: Store, key: str, parts: list[Part], start: int = 0, end: int | None = None
) -> bytes:
    return b"".join([chunk async for chunk in store.open_parts(key, parts, start, end)])


async def test_an_object_written_in_parts(store: Store) -> None:
    """A resumable upload's parts: written over several calls (again after a failed or
    refused one), read back in order across their bounds, removed together."""
    cuts = [0, 1, 70_000, 70_001, 200_000, len(DATA)]
    parts = []
    for number, (start, end) in enumerate(itertools.pairwise(cuts)):
        if number == 2:  # an attempt at this part that is refused, then written again
            await store.put_part("tus/ab/up", number, start, chunks_of(b"x" * 5000))
            await store.discard_part("tus/ab/up", number, start)
        stored = await store.put_part("tus/ab/up", number, start, chunks_of(DATA[start:end]))
        assert stored.size == end - start
        parts.append(Part(number, start, end - start))
        assert await read_parts(store, "tus/ab/up", parts, 0, end) == DATA[:end]
    assert await read_parts(store, "tus/ab/up", parts) == DATA
    ranges: list[tuple[int, int | None]] = [(0, 1), (69_999, 70_002), (150_000, 250_000),
                                            (299_999, None)]  # fmt: skip
    for first, last in ranges:
        assert await read_parts(store, "tus/ab/up", parts, first, last) == DATA[first:last]
    await store.delete_parts("tus/ab/up", len(parts))
    for key in ["tus/ab/up", *(store.part_key("tus/ab/up", n) for n in range(len(parts)))]:
        with pytest.raises(ObjectNotFound):
            await store.stat(key)


async def test_no_part_reads_as_nothing(store: Store) -> None:
    assert await read_parts(store, "tus/ab/none", []) == b""
