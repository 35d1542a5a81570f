"""A store in a local directory: temporary file, fsync, atomic rename.

Every blocking call runs on a worker thread so that the event loop keeps serving
other requests while a disk is busy. Blocks of zeros are left as holes (sparse files,
lading.sparse_files) unless the store's ``sparse`` setting is off.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import anyio
from anyio import to_thread

from lading.errors import InvalidKey, ObjectNotFound, StoreError, StoreFull
from lading.serial_thread import SerialThread
from lading.sparse_files import BLOCK_SIZE, FileWriter
from lading.stores.base import Part, Store, StoredObject

# Up to 8 segments of safe characters, none starting with a dot.
SEGMENT = r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}"
KEY_PATTERN = re.compile(rf"{SEGMENT}(/{SEGMENT}){{0,7}}")
TEMPORARY_DIRECTORY = ".tmp"
WRITE_DEPTH = 2  # chunks queued for the disk while the next one arrives


class FilesystemStore(Store):
    appends_in_place = True

    def __init__(
        self,
        name: str,
        root: Path,
        chunk_size: int,
        description: str = "",
        sparse_block_size: int = BLOCK_SIZE,
        accel_redirect: str | None = None,
        read_size: int | None = None,
    ) -> None:
        """``sparse_block_size``: the blocks of zeros left as holes; 0 writes every byte."""
        super().__init__(name, description)
        self.root = root.resolve()
        self._temporary = self.root / TEMPORARY_DIRECTORY
        self._temporary.mkdir(parents=True, exist_ok=True)
        self._sparse_block_size = sparse_block_size
        self._read_size = read_size or chunk_size
        self._accel_redirect = accel_redirect

    def _path(self, key: str) -> Path:
        if not KEY_PATTERN.fullmatch(key):
            raise InvalidKey(f"invalid object key {key!r}")
        # A second guard in case the pattern ever loosens: the path must stay inside.
        # Lexical (normpath, not resolve) so that no file system call runs on the loop;
        # only the server creates entries in the store, so there are no links to follow.
        path = Path(os.path.normpath(self.root / key))
        if os.path.commonpath([self.root, path]) != str(self.root) or path == self.root:
            raise InvalidKey(f"object key {key!r} escapes the store")
        return path

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def accel_uri(self, key: str) -> str | None:
        if self._accel_redirect is None:
            return None
        # The key passes the same guard as a path (plain segments, no dot segments), so
        # the URI stays under the internal location, as the file stays under the root.
        self._path(key)
        return self._accel_redirect + key

    def location_url(self, key: str) -> str:
        return self._path(key).as_uri()

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        target = self._path(key)
        file = await to_thread.run_sync(self._create_temporary, key)
        writer = SerialThread("lading-write", WRITE_DEPTH)
        output = FileWriter(file.fileno(), 0, self._sparse_block_size)
        size = 0
        try:
            with os_errors(self.name):
                async for chunk in chunks:
                    await writer.submit(output.write, chunk)  # the next chunk arrives meanwhile
                    size += len(chunk)
                await writer.drain()
                await to_thread.run_sync(self._commit, file, output, target)
        finally:
            with anyio.CancelScope(shield=True):
                await writer.finish()
                await to_thread.run_sync(_discard, file)
        return StoredObject(key, size)

    def _create_temporary(self, key: str) -> IO[bytes]:
        return tempfile.NamedTemporaryFile(
            dir=self._temporary, prefix=_temporary_prefix(key), delete=False
        )

    @staticmethod
    def _commit(file: IO[bytes], output: FileWriter, target: Path) -> None:
        output.finish()
        os.fsync(file.fileno())
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(file.name).replace(target)
        file.close()
        _fsync_directory(target.parent)

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        path = self._path(key)
        with os_errors(self.name, missing=key):
            fd = await to_thread.run_sync(os.open, path, os.O_RDONLY)
        try:
            offset = start
            while end is None or offset < end:
                want = self._read_size if end is None else min(self._read_size, end - offset)
                data = await to_thread.run_sync(os.pread, fd, want, offset)
                if not data:
                    break
                offset += len(data)
                yield data
        finally:
            os.close(fd)

    # Parts are appended to one file: what a resumable upload writes is written once,
    # and its last part makes the object whole where it lies.

    async def put_part(
        self, key: str, number: int, offset: int, chunks: AsyncIterable[bytes]
    ) -> StoredObject:
        path = self._path(key)
        with os_errors(self.name):
            fd = await to_thread.run_sync(_open_at, path, offset)
        writer = SerialThread("lading-write", WRITE_DEPTH)
        output = FileWriter(fd, offset, self._sparse_block_size)
        size = 0
        try:
            with os_errors(self.name):
                async for chunk in chunks:
                    await writer.submit(output.write, chunk)
                    size += len(chunk)
                await writer.drain()
                await to_thread.run_sync(_finish, output, fd)
        finally:
            with anyio.CancelScope(shield=True):
                await writer.finish()
                os.close(fd)
        return StoredObject(key, size)

    async def open_parts(
        self, key: str, parts: Sequence[Part], start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes]:
        if not parts:  # no byte came: no file was made
            return
        async for chunk in self.open(key, start, end):
            yield chunk

    async def link(self, key: str, target: str) -> StoredObject:
        # A second name for the same file (a hard link): no byte is copied, and either
        # name may go without the other.
        source, path = self._path(key), self._path(target)
        with os_errors(self.name, missing=key):
            size = await to_thread.run_sync(_link, source, path)
        return StoredObject(target, size)

    async def discard_part(self, key: str, number: int, offset: int) -> None:
        path = self._path(key)
        with os_errors(self.name):
            await to_thread.run_sync(os.truncate, path, offset)

    async def delete_parts(self, key: str, count: int) -> None:
        await self.delete(key)

    async def stat(self, key: str) -> StoredObject:
        path = self._path(key)
        with os_errors(self.name, missing=key):
            result = await to_thread.run_sync(path.stat)
        return StoredObject(key, result.st_size)

    async def delete(self, key: str) -> None:
        path = self._path(key)
        with os_errors(self.name):
            await to_thread.run_sync(path.unlink, True)

    async def delete_partial(self, key: str) -> None:
        self._path(key)  # the same guard as every other call
        with os_errors(self.name):
            await to_thread.run_sync(self._delete_temporaries, _temporary_prefix(key))

    def _delete_temporaries(self, prefix: str) -> None:
        # A write still under way fails: its file is gone when it would commit.
        with os.scandir(self._temporary) as entries:
            for entry in entries:
                if entry.name.startswith(prefix):
                    Path(entry.path).unlink(missing_ok=True)

    async def check(self) -> None:
        if not await to_thread.run_sync(os.access, self._temporary, os.W_OK | os.X_OK):
            raise StoreError(f"store {self.name!r} cannot write in {self.root}")

    def temporary_files(self) -> list[Path]:
        """Partial writes in progress or left by a crash."""
        return sorted(self._temporary.iterdir())

    async def sweep(self, older_than: float) -> int:
        return await to_thread.run_sync(self._sweep, time.time() - older_than)

    def _sweep(self, cutoff: float) -> int:
        removed = 0
        for path in self.temporary_files():
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed


def _temporary_prefix(key: str) -> str:
    """The start of the names of a key's temporary files: a digest of the key, as keys may
    be longer than a file name and hold slashes."""
    return f"put-{hashlib.sha256(key.encode()).hexdigest()[:32]}-"


def _open_at(path: Path, offset: int) -> int:
    """The file of an object written in parts, open for writing at ``offset``: what lies
    past it (a part cut off by a crash, or refused) is dropped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _link(source: Path, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.link(source, target)
    _fsync_directory(target.parent)
    return target.stat().st_size


def _finish(output: FileWriter, fd: int) -> None:
    output.finish()
    os.fsync(fd)


def _discard(file: IO[bytes]) -> None:
    """Close and remove the temporary file unless it was committed."""
    if not file.closed:
        file.close()
        Path(file.name).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def os_errors(store: str, missing: str | None = None) -> Iterator[None]:
    """The one place the system's errors become lading's, the cause kept: ObjectNotFound
    for the ``missing`` key, when a missing object is the caller's to know of; StoreFull
    for a full disk or quota; StoreError otherwise."""
    try:
        yield
    except OSError as exc:
        if missing is not None and isinstance(exc, FileNotFoundError):
            raise ObjectNotFound(f"no object {missing!r} in store {store!r}") from None
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StoreFull(f"store {store!r} is full") from exc
        raise StoreError(f"store {store!r} failed: {exc.strerror or exc}") from exc
