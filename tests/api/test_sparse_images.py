"""Sparse images on a filesystem store: blocks of zeros are kept as holes, and nothing a
client sees changes (size, digests, whole and ranged downloads)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import FilesystemStoreSettings, Settings
from tests.api.helpers import create

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
PIECE = MiB  # the request body's pieces
ZEROS = bytes(PIECE)


class SparseImage:
    """``size`` bytes of zeros but for runs of data at (offset, length), never a zero
    byte: made piece by piece, so that 3 GiB never sit in memory."""

    def __init__(self, size: int, runs: list[tuple[int, int]]) -> None:
        self.size = size
        self.runs = runs

    def pieces(self) -> Iterator[bytes]:
        for start in range(0, self.size, PIECE):
            yield self.slice(start, min(self.size, start + PIECE))

    def slice(self, start: int, end: int) -> bytes:
        hit = [(o, n) for o, n in self.runs if o < end and o + n > start]
        if not hit and end - start == PIECE:
            return ZEROS  # the same object each time: no 1 MiB made per piece
        piece = bytearray(end - start)
        for offset, length in hit:
            first, last = max(offset, start), min(offset + length, end)
            piece[first - start : last - start] = data_at(first, last)
        return bytes(piece)

    def digests(self) -> tuple[str, str]:
        md5, sha256 = hashlib.md5(), hashlib.sha256()
        for piece in self.pieces():
            md5.update(piece)
            sha256.update(piece)
        return md5.hexdigest(), sha256.hexdigest()


def data_at(start: int, end: int) -> bytes:
    """The data bytes at these offsets: 1 to 251, by offset, so a shift would show."""
    return bytes(1 + offset % 251 for offset in range(start, end))


def sqlite_settings(
    tmp_path: Path, migrated_sqlite: Path, stores: dict[str, FilesystemStoreSettings] | None = None
) -> Settings:
    database = tmp_path / "catalogue.db"
    shutil.copyfile(migrated_sqlite, database)
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{database}")
    return settings if stores is None else settings.model_copy(update={"stores": stores})


def stored_file(settings: Settings) -> Path:
    files = [p for p in settings.store_path("default").rglob("*") if p.is_file()]
    assert len(files) == 1, files
    return files[0]


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


def data_extents(path: Path) -> list[tuple[int, int]]:
    """Where the file holds data, as (start, end), by SEEK_DATA and SEEK_HOLE."""
    extents = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size, offset = os.fstat(fd).st_size, 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:  # ENXIO: nothing but a hole to the end
                break
            offset = os.lseek(fd, start, os.SEEK_HOLE)
            extents.append((start, offset))
    finally:
        os.close(fd)
    return extents


def assert_same_file(path: Path, image: SparseImage) -> None:
    """The file holds the image's bytes, read where it holds data (holes read as zeros):
    3 GiB checked without reading 3 GiB."""
    assert path.stat().st_size == image.size
    with path.open("rb") as file:
        for start, end in data_extents(path):
            file.seek(start)
            assert file.read(end - start) == image.slice(start, end), (start, end)


def upload(client: TestClient, image: SparseImage) -> dict[str, object]:
    created = create(client, name="sparse")
    response = client.put(
        f"/v2/images/{created['id']}/file",
        content=image.pieces(),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 204, response.text
    found: dict[str, object] = client.get(f"/v2/images/{created['id']}").json()
    return found


def assert_ranges(client: TestClient, image_id: object, image: SparseImage) -> None:
    size, (offset, length) = image.size, image.runs[1]
    for first, last in [
        (0, 2 * MiB),  # data, then a hole
        (offset - 70_000, offset + length + 70_000),  # data with holes around
        (size // 2 - 100, size // 2 + 100),  # inside a hole
        (size - 3 * MiB - 1, size - 1),  # the last byte is data
    ]:
        response = client.get(
            f"/v2/images/{image_id}/file", headers={"range": f"bytes={first}-{last}"}
        )
        assert response.status_code == 206
        assert response.content == image.slice(first, last + 1), (first, last)


# Odd offsets: the first byte, mid-block, across a 64 KiB block's end and a piece's end,
# and the very last byte (the file must not end in a hole then, nor be cut short).
def runs(size: int) -> list[tuple[int, int]]:
    return [
        (0, 1),
        (size // 3 + 12_345, 100_003),
        (2 * size // 3 - 5, 11),  # across a block's and a piece's end
        (size - 1, 1),
    ]


def test_a_sparse_upload_keeps_its_holes(tmp_path: Path, migrated_sqlite: Path) -> None:
    image = SparseImage(48 * MiB + 7, runs(48 * MiB + 7))
    settings = sqlite_settings(tmp_path, migrated_sqlite)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        found = upload(client, image)
        md5, sha256 = image.digests()
        assert (found["size"], found["checksum"], found["os_hash_value"]) == (
            image.size, md5, sha256,
        )  # fmt: skip
        path = stored_file(settings)
        assert allocated(path) <= 8 * 64 * KiB
        assert_same_file(path, image)
        whole = client.get(f"/v2/images/{found['id']}/file")
        assert whole.status_code == 200
        assert hashlib.sha256(whole.content).hexdigest() == sha256
        assert_ranges(client, found["id"], image)


def test_a_staged_image_keeps_its_holes(tmp_path: Path, migrated_sqlite: Path) -> None:
    image = SparseImage(16 * MiB, runs(16 * MiB))
    settings = sqlite_settings(tmp_path, migrated_sqlite)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        created = create(client, name="staged")
        staged = client.put(
            f"/v2/images/{created['id']}/stage",
            content=image.pieces(),
            headers={"content-type": "application/octet-stream"},
        )
        assert staged.status_code == 204, staged.text
        imported = client.post(
            f"/v2/images/{created['id']}/import", json={"method": {"name": "glance-direct"}}
        )
        assert imported.status_code == 202, imported.text
        for _ in range(200):
            found = client.get(f"/v2/images/{created['id']}").json()
            if found["status"] == "active":
                break
            time.sleep(0.05)
        assert found["status"] == "active", found
        assert found["os_hash_value"] == image.digests()[1]
        for path in settings.store_path("default").rglob("*"):
            if path.is_file():
                assert allocated(path) <= 8 * 64 * KiB, path
                assert_same_file(path, image)


def test_sparse_off_writes_every_block(tmp_path: Path, migrated_sqlite: Path) -> None:
    image = SparseImage(8 * MiB, runs(8 * MiB))
    stores = {"default": FilesystemStoreSettings(sparse=False)}
    settings = sqlite_settings(tmp_path, migrated_sqlite, stores=stores)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        found = upload(client, image)
        assert found["os_hash_value"] == image.digests()[1]
        assert allocated(stored_file(settings)) >= image.size


# SparseImage(3 * GiB, runs(3 * GiB)).digests(), computed once: hashing 3 GiB again in the
# test would double its time. The smaller tests above compare with digests made live.
DIGESTS_3_GIB = (
    "3ecbdb6cfb7c89e2f2800d06fd99f322",
    "91fdb408acb96d398cbeabcedd8176fa2f14169a6709f67ce77ec3523e5e442d",
)


@pytest.mark.heavy
def test_a_3_gib_sparse_upload_takes_almost_no_disk(tmp_path: Path, migrated_sqlite: Path) -> None:
    image = SparseImage(3 * GiB, runs(3 * GiB))
    settings = sqlite_settings(tmp_path, migrated_sqlite)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        found = upload(client, image)
        md5, sha256 = DIGESTS_3_GIB
        assert (found["size"], found["checksum"], found["os_hash_value"]) == (
            image.size, md5, sha256,
        )  # fmt: skip
        path = stored_file(settings)
        assert allocated(path) < 2 * MiB
        assert_same_file(path, image)
        assert_ranges(client, found["id"], image)
