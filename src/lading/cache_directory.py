"""A node's image cache on its local disk: whole files, the fills under way, and an index
of what is cached, least recently used first.

The server processes of one node share the directory. The index is a SQLite file (WAL),
so that hits and evictions are counted once whoever serves; a fill holds an ``flock`` on
its temporary file, which the kernel releases when its process dies, so that two first
downloads never write the same image and a crashed fill blocks nothing; a cached file
appears by an atomic rename, once whole and checked. Eviction happens in the transaction
that records a new file, so the cached files never hold more than ``max_size`` together
(fills under way take room on top).

Every method blocks: the image cache service runs them on worker threads.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lading.sparse_files import BLOCK_SIZE, FileWriter

DATA = "data"  # whole, checked files, named ``<image id>.<version>``
INCOMPLETE = "incomplete"  # fills under way, one file per image, locked by its filler
INDEX = "index.sqlite"
BUSY_TIMEOUT = 10.0  # seconds a process waits for another's index transaction
NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
VERSION = re.compile(r"[0-9a-f]{1,64}")
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cached (image_id TEXT PRIMARY KEY, version TEXT NOT NULL, "
    "size INTEGER NOT NULL, hits INTEGER NOT NULL, last_accessed REAL NOT NULL, "
    "last_modified REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS cached_by_access ON cached (last_accessed)",
    "CREATE TABLE IF NOT EXISTS queued (image_id TEXT PRIMARY KEY, queued_at REAL NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class CachedImage:
    """One image in the cache, with Glance's figures for it (times in seconds since the
    epoch)."""

    image_id: str
    version: str  # which bytes: the service's name for the image's data
    size: int
    hits: int
    last_accessed: float
    last_modified: float

    @property
    def file_name(self) -> str:
        return f"{self.image_id}.{self.version}"


class Fill:
    """An image being written into the cache by this process; it holds the image's lock
    until ``CacheDirectory.commit`` or ``abort``."""

    def __init__(
        self,
        image_id: str,
        version: str,
        size: int,
        fd: int,
        path: Path,
        sparse_block_size: int = BLOCK_SIZE,
    ) -> None:
        self.image_id = image_id
        self.version = version
        self.size = size
        self.written = 0
        self._fd = fd
        self.path = path
        self._output = FileWriter(fd, 0, sparse_block_size)  # zeros left as holes

    def write(self, chunk: bytes) -> None:
        self._output.write(chunk)
        self.written += len(chunk)

    def sync(self) -> None:
        self._output.finish()
        os.fsync(self._fd)

    def link(self, target: Path) -> bool:
        """Give the very file this fill wrote the name ``target``; False when it was
        removed meanwhile (the image deleted from the cache while it filled)."""
        # linkat(AT_SYMLINK_FOLLOW) of the descriptor's /proc link names the inode itself,
        # not whatever the path holds now; Python calls linkat only with a directory fd.
        directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.link(f"/proc/self/fd/{self._fd}", target.name, dst_dir_fd=directory,
                    follow_symlinks=True)  # fmt: skip
        except FileNotFoundError:
            return False
        finally:
            os.close(directory)
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_ino == os.fstat(self._fd).st_ino:
                self.path.unlink()
        return True

    def release(self) -> None:
        """Close the file, which lets go of the lock."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class CacheDirectory:
    fill_type = Fill  # how a fill writes (tests give one that fails as a full disk)

    def __init__(self, root: Path, max_size: int, sparse_block_size: int = BLOCK_SIZE) -> None:
        """``sparse_block_size``: the blocks of zeros left as holes; 0 writes every byte."""
        self.root = root
        self.max_size = max_size
        self._sparse_block_size = sparse_block_size
        self.data = root / DATA
        self._incomplete = root / INCOMPLETE

    def open(self) -> None:
        """Make the directory and its index, and drop what a crash left: fills nobody
        holds, files the index does not name, entries whose file is gone."""
        self.data.mkdir(parents=True, exist_ok=True)
        self._incomplete.mkdir(exist_ok=True)
        with self._index() as index:
            index.execute("PRAGMA journal_mode=WAL")
            for statement in SCHEMA:
                index.execute(statement)
        for path in self._incomplete.iterdir():
            with contextlib.suppress(OSError), _locked(path) as held:
                if held:
                    path.unlink()
        named = {image.file_name for image in self.cached()}
        for path in self.data.iterdir():
            if path.is_file() and path.name not in named:
                path.unlink(missing_ok=True)
        for image in self.cached():
            if not (self.data / image.file_name).is_file():
                self.remove(image.image_id)

    # What is cached

    def find(self, image_id: str, version: str) -> CachedImage | None:
        """The image if these bytes of it are cached, counted as a hit; a cached copy of
        other bytes, or whose file is gone, is dropped."""
        with self._index() as index:
            row = index.execute("SELECT * FROM cached WHERE image_id = ?", (image_id,)).fetchone()
            if row is None:
                return None
            image = _image(row)
            if image.version == version and (self.data / image.file_name).is_file():
                moment = time.time()
                index.execute(
                    "UPDATE cached SET hits = hits + 1, last_accessed = ? WHERE image_id = ?",
                    (moment, image_id),
                )
                return CachedImage(
                    image_id, version, image.size, image.hits + 1, moment, image.last_modified
                )
        self.remove(image_id)
        return None

    def cached(self) -> list[CachedImage]:
        with self._index() as index:
            rows = index.execute("SELECT * FROM cached ORDER BY last_accessed DESC").fetchall()
        return [_image(row) for row in rows]

    def size(self) -> int:
        """The bytes the cached files hold together."""
        with self._index() as index:
            return int(index.execute("SELECT COALESCE(SUM(size), 0) FROM cached").fetchone()[0])

    def remove(self, image_id: str) -> bool:
        """Drop the image's copy, and a fill of it under way (it will not be kept)."""
        if NAME.fullmatch(image_id):
            (self._incomplete / image_id).unlink(missing_ok=True)
        with self._index() as index:
            row = index.execute(
                "DELETE FROM cached WHERE image_id = ? RETURNING version", (image_id,)
            ).fetchone()
        if row is None:
            return False
        (self.data / f"{image_id}.{row[0]}").unlink(missing_ok=True)
        return True

    def clear(self) -> int:
        """Drop every copy, and the fills under way."""
        for path in self._incomplete.iterdir():
            path.unlink(missing_ok=True)
        with self._index() as index:
            rows = index.execute("DELETE FROM cached RETURNING image_id, version").fetchall()
        for image_id, version in rows:
            (self.data / f"{image_id}.{version}").unlink(missing_ok=True)
        return len(rows)

    # Filling

    def start_fill(self, image_id: str, version: str, size: int) -> Fill | None:
        """The image's fill, or None: these bytes are cached already, another process or
        task is writing them, or they would not fit in the cache at all."""
        _check(image_id, version)
        if size > self.max_size or self._has(image_id, version):
            return None
        path = self._incomplete / image_id
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            # Locked, but maybe a file the filler before renamed or removed: not ours.
            if os.fstat(fd).st_ino != path.stat().st_ino:
                raise FileNotFoundError(path)
        except FileNotFoundError:
            os.close(fd)
            return None
        if self._has(image_id, version):  # filled while this one waited for the lock
            path.unlink()
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        return self.fill_type(image_id, version, size, fd, path, self._sparse_block_size)

    def commit(self, fill: Fill) -> list[str] | None:
        """Make the written file the image's cached copy, evicting the least recently
        used images until it fits; returns the images evicted, or None when the image was
        removed from the cache while it filled (nothing is kept). Its bytes must have been
        checked."""
        try:
            fill.sync()
            name = f"{fill.image_id}.{fill.version}"
            target = self.data / name
            target.unlink(missing_ok=True)  # a crash's leftover: the index does not name it
            if not fill.link(target):
                return None
            try:
                evicted = self._record(fill)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
        finally:
            fill.release()
        for file_name in evicted:
            if file_name != name:
                (self.data / file_name).unlink(missing_ok=True)
        return [file_name.partition(".")[0] for file_name in evicted if file_name != name]

    def abort(self, fill: Fill) -> None:
        """Drop a fill: its file goes, its lock is released."""
        try:
            fill.path.unlink(missing_ok=True)
        finally:
            fill.release()

    def _record(self, fill: Fill) -> list[str]:
        """Evict and record in one transaction, so that concurrent commits of several
        processes never hold more than ``max_size`` together."""
        evicted: list[str] = []
        with self._index() as index:
            index.execute("BEGIN IMMEDIATE")
            old = index.execute(
                "SELECT version FROM cached WHERE image_id = ?", (fill.image_id,)
            ).fetchone()
            if old is not None:
                evicted.append(f"{fill.image_id}.{old[0]}")
                index.execute("DELETE FROM cached WHERE image_id = ?", (fill.image_id,))
            total = int(index.execute("SELECT COALESCE(SUM(size), 0) FROM cached").fetchone()[0])
            if total + fill.size > self.max_size:
                rows = index.execute(
                    "SELECT image_id, version, size FROM cached ORDER BY last_accessed"
                ).fetchall()
                for image_id, version, size in rows:
                    if total + fill.size <= self.max_size:
                        break
                    index.execute("DELETE FROM cached WHERE image_id = ?", (image_id,))
                    evicted.append(f"{image_id}.{version}")
                    total -= size
            moment = time.time()
            index.execute(
                "INSERT INTO cached VALUES (?, ?, ?, 0, ?, ?)",
                (fill.image_id, fill.version, fill.size, moment, moment),
            )
            index.execute("COMMIT")
        return evicted

    def _has(self, image_id: str, version: str) -> bool:
        with self._index() as index:
            row = index.execute(
                "SELECT 1 FROM cached WHERE image_id = ? AND version = ?", (image_id, version)
            ).fetchone()
        return row is not None

    # The queue

    def queue(self, image_id: str, limit: int) -> bool:
        """Queue the image (once); False when ``limit`` images wait already."""
        _check(image_id, "0")
        with self._index() as index:
            index.execute("BEGIN IMMEDIATE")
            waiting = int(index.execute("SELECT COUNT(*) FROM queued").fetchone()[0])
            known = index.execute("SELECT 1 FROM queued WHERE image_id = ?", (image_id,))
            if known.fetchone() is None:
                if waiting >= limit:
                    index.execute("ROLLBACK")
                    return False
                index.execute("INSERT INTO queued VALUES (?, ?)", (image_id, time.time()))
            index.execute("COMMIT")
        return True

    def queued(self) -> list[str]:
        with self._index() as index:
            rows = index.execute("SELECT image_id FROM queued ORDER BY queued_at").fetchall()
        return [row[0] for row in rows]

    def claim(self) -> str | None:
        """Take the image queued first off the queue, for this process to cache: no
        other process takes it too."""
        with self._index() as index:
            row = index.execute(
                "DELETE FROM queued WHERE image_id = "
                "(SELECT image_id FROM queued ORDER BY queued_at LIMIT 1) RETURNING image_id"
            ).fetchone()
        return None if row is None else str(row[0])

    def dequeue(self, image_id: str) -> bool:
        with self._index() as index:
            found = index.execute("DELETE FROM queued WHERE image_id = ?", (image_id,))
            return found.rowcount > 0

    def clear_queue(self) -> int:
        with self._index() as index:
            return index.execute("DELETE FROM queued").rowcount

    @contextlib.contextmanager
    def _index(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: calls come from any worker thread and are few per request.
        connection = sqlite3.connect(self.root / INDEX, timeout=BUSY_TIMEOUT, isolation_level=None)
        connection.row_factory = sqlite3.Row
        try:
            yield connection
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()


def _image(row: sqlite3.Row) -> CachedImage:
    return CachedImage(
        row["image_id"], row["version"], row["size"], row["hits"], row["last_accessed"],
        row["last_modified"],
    )  # fmt: skip


def _check(image_id: str, version: str) -> None:
    # Both become file names: nothing but an image id and hex digits may.
    if not NAME.fullmatch(image_id) or not VERSION.fullmatch(version):
        raise ValueError(f"not an image id and version: {image_id!r}, {version!r}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[bool]:
    """Whether the file's lock could be taken (nobody fills it), held meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)
