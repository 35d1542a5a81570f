"""A store in a Ceph pool as RBD images, through librados and librbd (Debian's
``python3-rados`` and ``python3-rbd``), laid out as Glance's rbd driver lays them out.

An object is an image with one protected snapshot, ``snap``: Nova and Cinder clone that
snapshot copy-on-write when they boot or make a volume from ``rbd://<fsid>/<pool>/<image>/snap``,
the location this store shows. Reads are of the snapshot.

A write goes to an image of its own (``<image>~part~<random>``), grown as the bytes come
(doubling, as Glance's driver does, to at most ``GROWTH_CAP`` more at a time) and written
in pieces of ``object_size``; at the end it is cut to its size, snapshotted, the snapshot
protected, and the image renamed to its key's name. So a reader sees the whole object or
none, and a failed write leaves a partial image that the write itself removes, or that
``delete_partial`` and the sweep find by name.

A snapshot that has clones cannot be unprotected: its image is in use, and a delete is
refused with ``ObjectInUse`` (409, as Glance answers) until the clones are flattened or gone.

The store also reads snapshots it did not write: those a client's location names
(``key_at``), as Nova's direct snapshot and Cinder's upload make them in Glance's pool. Their
key is ``<image>@<snapshot>``, which no key of the store's own holds (no "@"), and both names
are checked strictly (no "/", "@", "~", no leading "."), so that a location can name neither
another pool's image nor a partial one. A location naming one of the store's own images at
its ``snap`` gets that object's key: one image, one key, one blob, so that the catalogue's
references count it once. Deleting such a key removes the snapshot, then the image if it has
no other snapshot, as Glance's driver deletes a location's: Glance owns the data once the
location is added (Nova deletes nothing of it afterwards).

librados and librbd block: every call runs on a worker thread. One cluster connection
serves the store, made on first use (``check`` at start-up), in that thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import threading
import uuid
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote

import anyio
from anyio import to_thread

from lading.errors import (
    BadRequest,
    InvalidKey,
    ObjectInUse,
    ObjectNotFound,
    StoreError,
    StoreFull,
)
from lading.lazy import LazyModule
from lading.serial_thread import SerialThread
from lading.stores.base import Store, StoredObject

if TYPE_CHECKING:
    import rados
    import rbd
else:  # Debian's bindings, linked into the venv by the Makefile; not on any package index.
    # Imported once a store of this kind is built (lading.lazy): librados is megabytes.
    rados = LazyModule("rados")
    rbd = LazyModule("rbd")

SNAPSHOT = "snap"  # Glance's name: Nova and Cinder clone it
PARTIAL = "~part~"  # in the names of images still being written; no key holds a "~"
# Keys are path-like (``ab/<hex>``); an image name holds no "/": each becomes a ".", which
# no key segment holds, so two keys never meet in one name.
SEGMENT = r"[A-Za-z0-9_-]{1,128}"
KEY_PATTERN = re.compile(rf"{SEGMENT}(/{SEGMENT}){{0,7}}")
# An image or snapshot a client's location names: no "/" (the URL's separator), "@" (the
# key's), "~" (partial images'), no leading "." (no "." or ".."), ASCII only.
NAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
LOCATED = re.compile(rf"({NAME})@({NAME})")  # the key of a snapshot a location names
SCHEME = "rbd://"
MAX_LOCATION = 1024  # characters of an rbd location: four short names, quoted
GROWTH_CAP = 8 * 1024**3  # bytes an image grows by at most at once (Glance's cap)
WRITE_DEPTH = 1  # pieces in librbd's hands while the next one fills
READ_AHEAD = 2  # pieces of chunk_size read ahead of the one being sent

T = TypeVar("T")


class RbdStore(Store):
    takes_locations = True  # Nova's and Cinder's snapshots in its pool

    def __init__(
        self,
        name: str,
        *,
        pool: str,
        conffile: Path,
        user: str | None,
        keyring: Path | None,
        prefix: str,
        object_size: int,
        timeout: int,
        chunk_size: int,
        description: str = "",
    ) -> None:
        super().__init__(name, description)
        if not all(importlib.util.find_spec(name) for name in ("rados", "rbd")):
            raise StoreError(
                f"store {name!r} needs librados' and librbd's Python bindings (Debian's "
                "python3-rados and python3-rbd, linked into lading's venv by the Makefile)"
            )
        self._pool, self._prefix = pool, prefix
        self._conffile, self._user, self._keyring = conffile, user, keyring
        self._order = object_size.bit_length() - 1  # librbd's objects are 2**order bytes
        self._object_size, self._chunk_size = object_size, chunk_size
        self._timeout = timeout
        self._cluster: Any = None
        self._ioctx: Any = None
        self._connecting = threading.Lock()
        # What the configuration file says until the cluster says it, at connection.
        self._fsid = _configured_fsid(conffile)

    # -- the contract --------------------------------------------------------------

    async def check(self) -> None:
        await self._run(lambda: None)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        final = self._image_name(key)
        partial = f"{final}{PARTIAL}{uuid.uuid4().hex[:16]}"
        image = await self._run(self._create, partial)
        writer = SerialThread("lading-rbd-write", WRITE_DEPTH)
        growth = Growth(self._object_size)
        piece = bytearray()
        size = 0
        finished = False
        try:
            async for chunk in chunks:
                piece += chunk
                if len(piece) >= self._object_size:
                    await writer.submit(self._write, image, growth, bytes(piece), size)
                    size += len(piece)
                    piece.clear()
            if piece:
                await writer.submit(self._write, image, growth, bytes(piece), size)
                size += len(piece)
                piece.clear()
            await writer.drain()
            await self._run(self._seal, image, size)
            await to_thread.run_sync(_close, image)
            await self._run(self._rename, partial, final)
            finished = True
        finally:
            piece.clear()  # the exception's frames may hold it a long while
            with anyio.CancelScope(shield=True):
                await writer.finish()
                await to_thread.run_sync(_close, image)
                if not finished:
                    with contextlib.suppress(StoreError):
                        await self._run(self._remove, partial)
        return StoredObject(key, size)

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        name, snapshot = self._snapshot_of(key)
        if end is not None and end <= start:
            return
        image = await self._run(self._open_snapshot, name, snapshot, key)
        # Pieces are read ahead on a thread of the download's own, so that the next comes
        # from the OSDs while this one goes to the client.
        reader = ThreadPoolExecutor(1, thread_name_prefix="lading-rbd-read")
        ahead: deque[Future[bytes]] = deque()
        try:
            stop = image.size() if end is None else min(end, image.size())
            offsets = iter(range(start, stop, self._chunk_size))

            def read_next() -> None:
                offset = next(offsets, None)
                if offset is not None:
                    length = min(self._chunk_size, stop - offset)
                    ahead.append(reader.submit(self._read, image, offset, length))

            for _ in range(READ_AHEAD):
                read_next()
            while ahead:
                data = await asyncio.wrap_future(ahead[0])
                ahead.popleft()
                read_next()
                yield data
        finally:
            for pending in ahead:
                pending.cancel()
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(reader.shutdown)  # after the read under way
                await to_thread.run_sync(_close, image)

    async def stat(self, key: str) -> StoredObject:
        name, snapshot = self._snapshot_of(key)

        def size() -> int:
            with contextlib.closing(self._open_snapshot(name, snapshot, key)) as image:
                return int(image.size())

        return StoredObject(key, await self._run(size))

    async def delete(self, key: str) -> None:
        located = LOCATED.fullmatch(key)
        if located is None:
            await self._run(self._remove, self._image_name(key))
        else:
            await self._run(self._remove_located, located.group(1), located.group(2))

    async def in_use(self, key: str) -> bool:
        name, snapshot = self._snapshot_of(key)

        def cloned() -> bool:
            try:
                image = rbd.Image(self._ioctx, name, snapshot=snapshot, read_only=True)
            except rbd.ImageNotFound:
                return False
            with contextlib.closing(image):
                return bool(list(image.list_children2()))

        return await self._run(cloned)

    async def delete_partial(self, key: str) -> None:
        prefix = f"{self._image_name(key)}{PARTIAL}"
        await self._run(self._remove_listed, lambda name, _: name.startswith(prefix))

    async def sweep(self, older_than: float) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        return await self._run(self._remove_listed, lambda _, made: made < cutoff)

    def location_url(self, key: str) -> str:
        name, snapshot = self._snapshot_of(key)
        pieces = (self._fsid, self._pool, name, snapshot)
        return SCHEME + "/".join(quote(piece, safe="") for piece in pieces)

    async def key_at(self, url: str) -> str | None:
        """The key of the snapshot an ``rbd://<fsid>/<pool>/<image>/<snapshot>`` location
        names, if it lies in this store's cluster and pool; None if elsewhere. A location
        of another form, or with names that could reach what it should not, is refused
        (400). The snapshot's existence is ``stat``'s to find out."""
        fsid, pool, image, snapshot = parse_location(url)
        await self._run(lambda: None)  # connected: the fsid is the cluster's own
        if fsid.lower() != self._fsid.lower() or pool != self._pool:
            return None
        own = image.removeprefix(self._prefix).replace(".", "/")
        if image.startswith(self._prefix) and snapshot == SNAPSHOT and KEY_PATTERN.fullmatch(own):
            return own  # the store's own layout: the key its name comes from
        return f"{image}@{snapshot}"

    async def close(self) -> None:
        await to_thread.run_sync(self._disconnect)

    # -- on worker threads ---------------------------------------------------------

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        """``call`` on a worker thread, connected first, librados' errors translated."""

        def connected() -> T:
            self._connect()
            return call(*args)

        with librados_errors(self.name):
            return await to_thread.run_sync(connected)

    def _connect(self) -> None:
        with self._connecting:
            if self._ioctx is not None:
                return
            # Timeouts so that a cluster gone quiet fails calls, never hangs them (the
            # bindings' connect ignores its own timeout: client_mount_timeout bounds it).
            timeout = str(self._timeout)
            conf = {
                "client_mount_timeout": timeout,
                "rados_mon_op_timeout": timeout,
                "rados_osd_op_timeout": timeout,
            }
            if self._keyring is not None:
                conf["keyring"] = str(self._keyring)
            cluster = rados.Rados(conffile=str(self._conffile), rados_id=self._user, conf=conf)
            try:
                cluster.connect()
                self._ioctx = cluster.open_ioctx(self._pool)
            except BaseException:
                cluster.shutdown()
                raise
            self._cluster = cluster
            self._fsid = cluster.get_fsid()

    def _disconnect(self) -> None:
        with self._connecting:
            if self._ioctx is not None:
                self._ioctx.close()
                self._cluster.shutdown()
            self._ioctx = self._cluster = None

    def _create(self, name: str) -> Any:
        # The cluster's default features (rbd_default_features), layering among them, as
        # Glance's driver creates its images: clones need layering.
        rbd.RBD().create(self._ioctx, name, 0, order=self._order, old_format=False)
        try:
            return rbd.Image(self._ioctx, name)
        except BaseException:
            rbd.RBD().remove(self._ioctx, name)
            raise

    def _write(self, image: Any, growth: Growth, data: bytes, offset: int) -> None:
        with librados_errors(self.name):  # on the writer's thread, not through _run
            needed = offset + len(data)
            if needed > growth.size:
                growth.size = growth.next(needed)
                image.resize(growth.size)
            image.write(data, offset)

    @staticmethod
    def _seal(image: Any, size: int) -> None:
        """The image cut to its bytes, then the snapshot clones are made from, protected."""
        image.resize(size)
        image.create_snap(SNAPSHOT)
        image.protect_snap(SNAPSHOT)

    def _rename(self, partial: str, final: str) -> None:
        try:
            rbd.RBD().rename(self._ioctx, partial, final)
        except rbd.ImageExists:  # a put over an object: the old one goes first
            self._remove(final)
            rbd.RBD().rename(self._ioctx, partial, final)

    def _open_snapshot(self, name: str, snapshot: str, key: str) -> Any:
        try:
            return rbd.Image(self._ioctx, name, snapshot=snapshot, read_only=True)
        except rbd.ImageNotFound:  # the image or its snapshot
            raise ObjectNotFound(f"no object {key!r} in store {self.name!r}") from None

    def _read(self, image: Any, offset: int, length: int) -> bytes:
        with librados_errors(self.name):  # on the reader's thread, not through _run
            return bytes(image.read(offset, length))

    def _remove(self, name: str) -> None:
        """The image and its snapshots, as Glance's driver deletes: ``ObjectInUse`` while
        a snapshot has clones; nothing to do when the image is gone."""
        try:
            image = rbd.Image(self._ioctx, name)
        except rbd.ImageNotFound:
            return
        with contextlib.closing(image):
            for snapshot in list(image.list_snaps()):
                if image.is_protected_snap(snapshot["name"]):
                    try:
                        image.unprotect_snap(snapshot["name"])
                    except rbd.ImageBusy:
                        raise ObjectInUse(
                            f"image {name!r} of store {self.name!r} is in use: its snapshot "
                            f"{snapshot['name']!r} has clones"
                        ) from None
                image.remove_snap(snapshot["name"])
        try:
            rbd.RBD().remove(self._ioctx, name)
        except rbd.ImageNotFound:
            pass
        except (rbd.ImageBusy, rbd.ImageHasSnapshots):
            raise ObjectInUse(
                f"image {name!r} of store {self.name!r} is in use (open elsewhere, or snapshotted)"
            ) from None

    def _remove_located(self, name: str, snapshot: str) -> None:
        """A located snapshot, as Glance's driver deletes a location's: unprotected (not
        while it has clones) and removed, then its image, unless other snapshots, which
        the location did not name, keep it. Nothing to do for what is gone."""
        try:
            image = rbd.Image(self._ioctx, name)
        except rbd.ImageNotFound:
            return
        with contextlib.closing(image):
            try:
                if image.is_protected_snap(snapshot):
                    image.unprotect_snap(snapshot)
                image.remove_snap(snapshot)
            except rbd.ImageNotFound:
                pass
            except rbd.ImageBusy:
                raise ObjectInUse(
                    f"image {name!r} of store {self.name!r} is in use: its snapshot "
                    f"{snapshot!r} has clones"
                ) from None
        try:
            rbd.RBD().remove(self._ioctx, name)
        except (rbd.ImageNotFound, rbd.ImageHasSnapshots):
            pass
        except rbd.ImageBusy:
            raise ObjectInUse(f"image {name!r} of store {self.name!r} is open elsewhere") from None

    def _remove_listed(self, wanted: Callable[[str, datetime], bool]) -> int:
        """Remove the partial images of this store's prefix that are ``wanted``."""
        removed = 0
        for name in rbd.RBD().list(self._ioctx):
            if not name.startswith(self._prefix) or PARTIAL not in name:
                continue
            try:
                with rbd.Image(self._ioctx, name, read_only=True) as image:
                    made = image.create_timestamp().replace(tzinfo=UTC)
            except rbd.ImageNotFound:
                continue
            if wanted(name, made):
                self._remove(name)
                removed += 1
        return removed

    def _image_name(self, key: str) -> str:
        """The image of a key of the store's own: the only ones written."""
        if not KEY_PATTERN.fullmatch(key):
            raise InvalidKey(f"invalid object key {key!r}")
        return self._prefix + key.replace("/", ".")

    def _snapshot_of(self, key: str) -> tuple[str, str]:
        """The image and snapshot a key reads: its own, or those a location named."""
        located = LOCATED.fullmatch(key)
        if located is not None:
            return located.group(1), located.group(2)
        return self._image_name(key), SNAPSHOT


class Growth:
    """The size an image being written has: doubled when a write needs more, by at most
    ``GROWTH_CAP``, so that a large image is resized a few dozen times, not per piece."""

    def __init__(self, first: int) -> None:
        self.size = 0
        self._first = first

    def next(self, needed: int) -> int:
        grown = self.size + min(max(self.size, self._first), GROWTH_CAP)
        return max(grown, needed)


def _close(image: Any) -> None:
    with contextlib.suppress(Exception):
        image.close()


def parse_location(url: str) -> tuple[str, str, str, str]:
    """fsid, pool, image and snapshot of an ``rbd://`` location, each URL-unquoted as
    Glance's driver reads them; 400 for another form (Glance's ``rbd://<image>`` too: no
    cluster or pool to check) or for names the store does not read."""
    pieces = url.removeprefix(SCHEME).split("/") if url.startswith(SCHEME) else []
    if len(pieces) != 4 or len(url) > MAX_LOCATION:
        raise BadRequest(f"an rbd location is {SCHEME}<fsid>/<pool>/<image>/<snapshot>")
    try:
        fsid, pool, image, snapshot = (unquote(piece, errors="strict") for piece in pieces)
    except UnicodeDecodeError:
        raise BadRequest("an rbd location's names are ASCII") from None
    if not re.fullmatch(r"[0-9A-Fa-f-]{1,64}", fsid) or not pool:
        raise BadRequest("an rbd location's fsid is a cluster's UUID, then comes its pool")
    if not re.fullmatch(NAME, image) or not re.fullmatch(NAME, snapshot):
        raise BadRequest(
            "an rbd location's image and snapshot are names of letters, digits, '_', '-' and "
            "'.' (not first), at most 128 characters"
        )
    return fsid, pool, image, snapshot


def _configured_fsid(conffile: Path) -> str:
    """The fsid the configuration file states, if it states one (clusters' usually do)."""
    with contextlib.suppress(OSError, UnicodeDecodeError):
        found = re.search(r"^\s*fsid\s*=\s*([0-9a-fA-F-]{36})\s*$", conffile.read_text(), re.M)
        if found:
            return found.group(1).lower()
    return ""


@contextlib.contextmanager
def librados_errors(store: str) -> Iterator[None]:
    """The one place librados' and librbd's errors become lading's, the cause kept. (What
    an error means for one call, such as a missing image being nothing to delete, is that
    call's to say, before it gets here.)"""
    try:
        yield
    except (rbd.ImageNotFound, rados.ObjectNotFound) as exc:
        raise ObjectNotFound(f"store {store!r}: {exc}") from exc
    except (rbd.NoSpace, rados.NoSpace, rbd.DiskQuotaExceeded) as exc:
        raise StoreFull(f"store {store!r} is full: {exc}") from exc
    except (rados.Error, rbd.Error) as exc:
        raise StoreError(f"store {store!r} failed: {exc}") from exc
