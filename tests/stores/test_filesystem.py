"""What only the filesystem store does: the path guard, temporary files, direct paths."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from lading.errors import InvalidKey
from lading.settings import Settings
from lading.stores.filesystem import FilesystemStore
from lading.stores.registry import StoreRegistry

pytestmark = pytest.mark.anyio


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


@pytest.fixture
def store(tmp_path: Path) -> FilesystemStore:
    return FilesystemStore("fs", tmp_path / "store", chunk_size=4096)


@pytest.mark.parametrize(
    "key",
    ["../escape", "a/../../escape", "/etc/passwd", ".hidden", "a/.tmp", "a//b", "", "a\x00b",
     "a\\b", "%2e%2e/x", "a/" * 20 + "b", "x" * 300],
)  # fmt: skip
async def test_keys_that_could_escape_are_refused(store: FilesystemStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, one_chunk(b"x"))
    with pytest.raises(InvalidKey):
        await store.delete(key)
    assert not (store.root.parent / "escape").exists()


async def test_put_is_written_through_a_temporary_file(store: FilesystemStore) -> None:
    async def watching() -> AsyncIterator[bytes]:
        yield b"first"
        # Mid-write, the bytes sit in the temporary directory, not under the key.
        assert len(store.temporary_files()) == 1
        assert not (store.root / "k1").exists()
        yield b"second"

    await store.put("k1", watching())
    assert (store.root / "k1").read_bytes() == b"firstsecond"
    assert store.temporary_files() == []


async def test_local_path_points_at_the_object(store: FilesystemStore) -> None:
    await store.put("ab/cd", one_chunk(b"data"))
    path = store.local_path("ab/cd")
    assert path is not None and path.read_bytes() == b"data"


async def test_sweep_removes_only_old_temporary_files(store: FilesystemStore) -> None:
    old = store.root / ".tmp" / "put-old"
    new = store.root / ".tmp" / "put-new"
    old.write_bytes(b"left by a crash")
    new.write_bytes(b"in progress")
    os.utime(old, (1, 1))
    assert await store.sweep(older_than=60) == 1
    assert not old.exists() and new.exists()


async def test_delete_partial_removes_what_a_cut_off_write_of_the_key_left(
    store: FilesystemStore,
) -> None:
    """A server killed mid-upload leaves a temporary file; recovery removes it at once
    (and only it) by the key, rather than the sweep some minutes later."""
    dead, alive, resume, written = (anyio.Event() for _ in range(4))

    async def pausing(
        data: bytes, started: anyio.Event, until: anyio.Event
    ) -> AsyncIterator[bytes]:
        started.set()  # the temporary file is made before the first chunk is asked for
        yield data
        await until.wait()
        yield data

    async def write_alive() -> None:
        await store.put("ab/alive", pausing(b"coming", alive, resume))
        written.set()

    async with anyio.create_task_group() as writes:
        writes.start_soon(store.put, "ab/dead", pausing(b"partial", dead, anyio.Event()))
        writes.start_soon(write_alive)
        await dead.wait()
        await alive.wait()
        await store.delete("ab/dead")  # no object yet: nothing to do
        assert len(store.temporary_files()) == 2
        await store.delete_partial("ab/dead")
        assert len(store.temporary_files()) == 1
        resume.set()
        await written.wait()
        assert (store.root / "ab/alive").read_bytes() == b"comingcoming"
        assert store.temporary_files() == []
        writes.cancel_scope.cancel()


MiB = 2**20
BLOCK = 64 * 1024


@pytest.mark.parametrize(("sparse_block_size", "most"), [(BLOCK, 4 * BLOCK), (0, 16 * MiB)])
async def test_zeros_are_holes_unless_told(
    tmp_path: Path, sparse_block_size: int, most: int
) -> None:
    store = FilesystemStore("fs", tmp_path / "store", 4096, sparse_block_size=sparse_block_size)
    data = bytes(3 * MiB) + b"x" + bytes(5 * MiB)  # ends in a hole: the size still holds

    async def pieces() -> AsyncIterator[bytes]:
        for offset in range(0, len(data), 300_001):
            yield data[offset : offset + 300_001]

    stored = await store.put("k", pieces())
    path = store.root / "k"
    assert stored.size == len(data) and path.read_bytes() == data
    assert path.stat().st_blocks * 512 <= most
    assert sparse_block_size or path.stat().st_blocks * 512 >= len(data)


async def test_parts_appended_in_place_keep_their_holes(store: FilesystemStore) -> None:
    # A resumable upload's PATCHes (tus, OCI chunks): each appends to the one file.
    parts = [bytes(3 * MiB) + b"x", bytes(2 * MiB + 17), b"y" + bytes(MiB), bytes(MiB)]
    offset = 0
    for number, part in enumerate(parts):
        stored = await store.put_part("k", number, offset, one_chunk(part))
        assert stored.size == len(part)
        offset += len(part)
    path = store.root / "k"
    assert path.read_bytes() == b"".join(parts)
    assert path.stat().st_blocks * 512 <= 4 * BLOCK
    # A part refused (its checksum failed) is cut off; the next writes from there.
    await store.discard_part("k", 3, offset - MiB)
    await store.put_part("k", 3, offset - MiB, one_chunk(b"z" * 10))
    assert path.read_bytes() == b"".join(parts[:3]) + b"z" * 10


async def test_a_store_from_settings_reads_in_read_size_not_chunk_size(tmp_path: Path) -> None:
    """Sending a file costs per read: the stores lading builds read read_size at a time."""
    settings = Settings(data_dir=tmp_path, chunk_size=64 * 1024, read_size=256 * 1024)
    store = StoreRegistry.from_settings(settings).get()
    await store.put("ab/object", one_chunk(os.urandom(600 * 1024)))
    sizes = [len(chunk) async for chunk in store.open("ab/object", 1, 600 * 1024)]
    assert sizes == [256 * 1024, 256 * 1024, 600 * 1024 - 1 - 512 * 1024]
    assert Settings(data_dir=tmp_path).read_size == 512 * 1024
