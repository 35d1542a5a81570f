"""What keeping zeros as holes costs (lading.sparse_files), in CPU time, next to hashing.

A filesystem store compares each block of an upload with a block of zeros before writing
it (stores.<name>.sparse). On dense data every comparison stops at the first byte, so the
cost is a few calls per chunk; this prints it as CPU time per GiB for each block size
(0: sparse off), written to /dev/null so that the disk is out of the figure, next to the
CPU time of md5 and sha256 of the same bytes, which every upload pays. The machine's
load does not move CPU time the way it moves throughput (bench/transfer.py's ratio).
Then it writes a 3 GiB image of zeros with a few runs of data and prints the disk it
takes.

Usage (from the repository root):

    .venv/bin/python bench/sparse.py
    .venv/bin/python bench/sparse.py --gib 4 --runs 5
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lading.sparse_files import FileWriter

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CHUNK = 512 * KiB  # lading's default chunk_size
BLOCKS = (0, 4 * KiB, 64 * KiB, MiB)
DISTINCT = 64  # chunks of random bytes, written in turn


def cpu_seconds(work: Callable[[bytes], object], chunks: list[bytes], count: int) -> float:
    start = time.process_time()
    for number in range(count):
        work(chunks[number % len(chunks)])
    return time.process_time() - start


def writing(block: int, chunks: list[bytes], count: int) -> float:
    fd = os.open(os.devnull, os.O_WRONLY)
    try:
        return cpu_seconds(FileWriter(fd, 0, block).write, chunks, count)
    finally:
        os.close(fd)


def hashing(chunks: list[bytes], count: int) -> float:
    md5, sha256 = hashlib.md5(), hashlib.sha256()

    def both(chunk: bytes) -> None:
        md5.update(chunk)
        sha256.update(chunk)

    return cpu_seconds(both, chunks, count)


def sparse_image_disk(block: int) -> tuple[int, int]:
    """A 3 GiB image, zeros but for four runs of data: its size and the disk it takes."""
    size = 3 * GiB
    runs = [(0, 1), (size // 3 + 12_345, 100_003), (2 * size // 3 - 5, 11), (size - 1, 1)]
    zeros = bytes(MiB)
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        path = Path(folder) / "image"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            writer = FileWriter(fd, 0, block)
            for start in range(0, size, MiB):
                piece = bytearray(zeros)
                for offset, length in runs:
                    first, last = max(offset, start), min(offset + length, start + MiB)
                    if first < last:
                        piece[first - start : last - start] = b"\x01" * (last - first)
                writer.write(bytes(piece))
            writer.finish()
            os.fsync(fd)
        finally:
            os.close(fd)
        return path.stat().st_size, path.stat().st_blocks * 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=int, default=2, help="dense data per measurement")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median)")
    args = parser.parse_args()
    chunks = [os.urandom(CHUNK) for _ in range(DISTINCT)]
    count = args.gib * GiB // CHUNK
    hashed = statistics.median(hashing(chunks, count) for _ in range(args.runs)) / args.gib
    print(f"dense data, {CHUNK // KiB} KiB chunks, CPU time per GiB (median of {args.runs}):")
    print(f"  md5 + sha256 (every upload)      {hashed * 1000:8.1f} ms")
    for block in BLOCKS:
        spent = statistics.median(writing(block, chunks, count) for _ in range(args.runs))
        spent /= args.gib
        label = "sparse off" if block == 0 else f"sparse, {block // KiB} KiB blocks"
        print(f"  write, {label:25} {spent * 1000:8.1f} ms  ({spent / hashed:.2%} of hashing)")
    for block in (4 * KiB, 64 * KiB):
        size, disk = sparse_image_disk(block)
        print(f"3 GiB image of four data runs, {block // KiB} KiB blocks: "
              f"{size} bytes, {disk / KiB:.0f} KiB of disk")  # fmt: skip


if __name__ == "__main__":
    main()
