"""The image cache's tee, apart from HTTP: a full disk or a second concurrent download
never breaks a client's stream, and an image is written once."""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest

from lading.cache_directory import INCOMPLETE, CacheDirectory, Fill
from lading.db.engine import Database
from lading.domain import Artifact, Location, Status, Visibility
from lading.metrics import Metrics
from lading.services.image_cache import ImageCache
from lading.settings import Settings
from lading.stores.memory import MemoryStore
from lading.stores.registry import StoreRegistry

DATA = os.urandom(1_000_000)
CHUNK = 64 * 1024


class FullFill(Fill):
    """Writes as a disk that fills up after a few chunks."""

    def write(self, chunk: bytes) -> None:
        if self.written >= 3 * CHUNK:
            raise OSError(errno.ENOSPC, "No space left on device")
        super().write(chunk)


class FullDisk(CacheDirectory):
    fill_type = FullFill


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore("remote", chunk_size=CHUNK)
    store.objects["ab/key"] = DATA
    return store


def image_cache(tmp_path: Path, store: MemoryStore, directory: CacheDirectory) -> ImageCache:
    settings = Settings(
        data_dir=tmp_path, image_cache={"enabled": True, "stores": ["default"]},
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
    )  # fmt: skip
    registry = StoreRegistry({"default": store}, "default")
    return ImageCache(settings, Database(settings.resolved_database_url), registry, Metrics(),
                      directory)  # fmt: skip


def artifact() -> Artifact:
    moment = datetime(2026, 1, 1)
    location = Location(
        "default", "ab/key", len(DATA), hashlib.md5(DATA).hexdigest(),
        hashlib.sha256(DATA).hexdigest(),
    )  # fmt: skip
    return Artifact(
        str(uuid.uuid4()), "project", Status.ACTIVE, Visibility.PUBLIC, moment, moment,
        os_hash_algo="sha256", locations=[location],
    )  # fmt: skip


async def download(cache: ImageCache, image: Artifact, store: MemoryStore) -> bytes:
    location = image.locations[0]
    tee = cache.tee(image, location)
    assert tee is not None
    chunks: AsyncGenerator[bytes] = tee(store.open(location.key, 0, location.size))
    received = bytearray()
    async for chunk in chunks:
        received += chunk
        await anyio.lowlevel.checkpoint()  # let the other download take turns
    return bytes(received)


@pytest.mark.anyio
async def test_a_full_disk_drops_the_copy_and_the_download_goes_on(
    tmp_path: Path, store: MemoryStore
) -> None:
    directory = FullDisk(tmp_path / "cache", max_size=10 * len(DATA))
    cache = image_cache(tmp_path, store, directory)
    await cache.open()
    image = artifact()
    assert await download(cache, image, store) == DATA
    assert directory.cached() == []
    assert list((directory.root / INCOMPLETE).iterdir()) == []
    assert await cache.find(image, image.locations[0]) is None


@pytest.mark.anyio
async def test_concurrent_first_downloads_fill_once_and_both_get_every_byte(
    tmp_path: Path, store: MemoryStore
) -> None:
    directory = CacheDirectory(tmp_path / "cache", max_size=10 * len(DATA))
    cache = image_cache(tmp_path, store, directory)
    await cache.open()
    image = artifact()
    received: list[bytes] = []

    async def one() -> None:
        received.append(await download(cache, image, store))

    async with anyio.create_task_group() as downloads:
        for _ in range(4):
            downloads.start_soon(one)
    assert received == [DATA] * 4
    (cached,) = directory.cached()
    assert cached.image_id == image.id and cached.size == len(DATA)
    assert (directory.data / cached.file_name).read_bytes() == DATA
    assert [path.name for path in directory.data.iterdir() if path.is_file()] == [cached.file_name]
    copy = await cache.find(image, image.locations[0])
    assert copy is not None and copy.key == cached.file_name


class Lingering(MemoryStore):
    """A store whose reads linger after the last byte (a response's end still to come)."""

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        async for chunk in super().open(key, start, end):
            yield chunk
        await anyio.sleep(3600)


@pytest.mark.anyio
async def test_a_client_gone_with_the_last_byte_keeps_the_copy(tmp_path: Path) -> None:
    store = Lingering("remote", chunk_size=CHUNK)
    store.objects["ab/key"] = DATA
    directory = CacheDirectory(tmp_path / "cache", max_size=10 * len(DATA))
    cache = image_cache(tmp_path, store, directory)
    await cache.open()
    image = artifact()
    location = image.locations[0]
    tee = cache.tee(image, location)
    assert tee is not None
    received = bytearray()
    reading = tee(store.open(location.key, 0, location.size))
    while len(received) < len(DATA):  # the client has it all and goes: the read is closed
        received += await reading.__anext__()
    await reading.aclose()
    assert bytes(received) == DATA
    assert [image.image_id for image in directory.cached()] == [image.id]
