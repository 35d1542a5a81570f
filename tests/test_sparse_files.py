"""Files written with holes for their blocks of zeros: the same bytes, fewer disk blocks."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from lading.sparse_files import FileWriter

KiB = 1024
MiB = 1024 * KiB
BLOCK = 64 * KiB


def sparse_bytes(size: int, runs: list[tuple[int, int]]) -> bytes:
    """``size`` zeros but for the (offset, length) runs of data (never a zero byte)."""
    data = bytearray(size)
    for offset, length in runs:
        data[offset : offset + length] = bytes(range(1, 256)) * (length // 255) + b"\x01" * (
            length % 255
        )
    return bytes(data)


def write(path: Path, data: bytes, pieces: list[int], offset: int = 0, block: int = BLOCK) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, offset)
        writer = FileWriter(fd, offset, block)
        start = 0
        for size in [*pieces, len(data)]:
            writer.write(data[start : start + size])
            start += size
            if start >= len(data):
                break
        writer.finish()
    finally:
        os.close(fd)


def allocated(path: Path) -> int:
    return path.stat().st_blocks * 512


# Odd offsets: mid-block, across a block's end, in the last byte.
RUNS = [(0, 1), (100_000, 3), (BLOCK - 2, 5), (3 * MiB + 12_345, 70_000), (8 * MiB - 1, 1)]


@pytest.mark.parametrize("pieces", [[], [4096] * 3000, [1, 65535, 7, 100_003] * 100])
def test_the_same_bytes_with_holes(tmp_path: Path, pieces: list[int]) -> None:
    data = sparse_bytes(8 * MiB, RUNS)
    path = tmp_path / "file"
    write(path, data, pieces)
    assert path.read_bytes() == data
    # Each run holds its blocks (two where it crosses a block's end), the rest is holes.
    assert allocated(path) <= 7 * BLOCK


def test_a_trailing_hole_gives_the_file_its_size(tmp_path: Path) -> None:
    data = sparse_bytes(5 * MiB + 3, [(10, 10)])
    path = tmp_path / "file"
    write(path, data, [MiB] * 5)
    assert path.stat().st_size == len(data) and path.read_bytes() == data
    assert allocated(path) <= BLOCK


def test_writing_from_an_offset_keeps_what_lies_before(tmp_path: Path) -> None:
    # A resumable upload's next part: the file holds the parts before, up to the offset.
    path = tmp_path / "file"
    path.write_bytes(b"a" * 1000)
    tail = sparse_bytes(MiB, [(MiB - 1, 1)])
    write(path, tail, [777], offset=1000)
    assert path.read_bytes() == b"a" * 1000 + tail
    assert allocated(path) <= 3 * BLOCK


def test_dense_data_is_written_whole(tmp_path: Path) -> None:
    data = random.Random(4).randbytes(3 * MiB + 11)
    path = tmp_path / "file"
    write(path, data, [BLOCK + 1] * 10)
    assert path.read_bytes() == data


def test_block_size_zero_writes_every_byte(tmp_path: Path) -> None:
    path = tmp_path / "file"
    write(path, bytes(4 * MiB), [MiB] * 4, block=0)
    assert path.read_bytes() == bytes(4 * MiB)
    assert allocated(path) >= 4 * MiB


def test_a_memoryview_is_written_as_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "file"
    data = sparse_bytes(MiB, [(BLOCK + 3, 10)])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        writer = FileWriter(fd)
        writer.write(memoryview(data)[:BLOCK])
        writer.write(memoryview(data)[BLOCK:])
        writer.finish()
    finally:
        os.close(fd)
    assert path.read_bytes() == data
