"""The image cache: this node's copies, on its local disk, of images whose bytes are in a
remote store (Glance's image cache and its ``/v2/cache`` API).

A whole download of an image that is not cached yet fills the cache as its bytes pass
(a tee: the client's stream is never held up by more than the disk, and a failure of the
cache only drops the copy); an administrator's ``PUT /v2/cache/{id}`` queues an image,
which the node's background worker caches. A copy is kept only once its size and digest
match the image's (``os_hash_value`` when it has one, its MD5 ``checksum`` otherwise;
an external location without digests: its size), and is then served from local disk
like a filesystem store's file (pathsend, ranges).

A copy is served only while it holds the bytes the catalogue names for an active image
(the store, key, size and digests of its location make the copy's *version*): an image
deleted, deactivated or given other data, on this node or another, is not served from
it, and the next prune removes it. The disk and its index are
``lading.cache_directory``'s; the rules are here.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import sqlite3
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio
from anyio import to_thread
from anyio.abc import TaskGroup

from lading.cache_directory import CachedImage, CacheDirectory, Fill
from lading.db import artifacts
from lading.db.engine import Database
from lading.domain import GONE, Artifact, Location, Status
from lading.errors import (
    BadRequest,
    CatalogueUnavailable,
    Conflict,
    LadingError,
    NotFound,
    StoreError,
)
from lading.metrics import Metrics
from lading.serial_thread import SerialThread
from lading.services.access import Caller
from lading.services.validation import is_uuid
from lading.settings import Settings
from lading.sparse_files import BLOCK_SIZE
from lading.stores.base import Store
from lading.stores.filesystem import FilesystemStore
from lading.stores.registry import StoreRegistry

log = logging.getLogger(__name__)

# Glance's answer where the cache is off (its paths exist but serve nothing).
NOT_OFFERED = "Caching via API is not supported at this site."
WRITE_DEPTH = 2  # chunks waiting for the cache's disk while the client gets them
Target = Literal["cache", "queue", "both"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CacheState:
    """What ``GET /v2/cache`` tells: the cached images, most recently used first, and the
    ids of those waiting in the queue, first queued first."""

    cached: list[CachedImage]
    queued: list[str]


@dataclass(frozen=True, slots=True)
class Cleared:
    """How many entries a clear removed (None: that part was not asked for)."""

    cache: int | None
    queue: int | None


@dataclass(frozen=True, slots=True)
class CachedCopy:
    """Where a download reads a cached image: the cache's files, under ``key``."""

    store: Store
    key: str


Tee = Callable[[AsyncGenerator[bytes]], AsyncGenerator[bytes]]


class ImageCache:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        metrics: Metrics,
        directory: CacheDirectory | None = None,
    ) -> None:
        self._config = settings.image_cache
        self.enabled = settings.image_cache.enabled
        self._cached_stores = settings.cached_stores()
        self._directory = directory or CacheDirectory(
            settings.image_cache_directory,
            settings.image_cache.max_size,
            BLOCK_SIZE if settings.image_cache.sparse else 0,
        )
        self._chunk_size = settings.chunk_size
        self._read_size = settings.read_size
        self._database = database
        self._stores = stores
        self._metrics = metrics
        self._files: Store | None = None  # the cached files, once the directory is open
        self._wake = anyio.Event()
        self._background: TaskGroup | None = None

    async def open(self) -> None:
        """Make the directory ready; if it cannot be used, this process works without a
        cache (downloads come from the stores), saying so once."""
        if not self.enabled:
            return
        try:
            await to_thread.run_sync(self._directory.open)
            self._files = FilesystemStore(
                "image-cache", self._directory.data, self._chunk_size, read_size=self._read_size
            )
        except (OSError, sqlite3.Error) as exc:
            log.warning("image cache off: cannot use %s: %s", self._directory.root, exc)

    # Downloads

    async def find(self, artifact: Artifact, location: Location) -> CachedCopy | None:
        """The cached copy of the image's data to serve, counted as a hit; None: read it
        from its store."""
        if self._files is None or not self._caches(artifact, location):
            return None
        try:
            found = await to_thread.run_sync(self._directory.find, artifact.id, _version(location))
        except (OSError, sqlite3.Error) as exc:
            log.warning("image cache: cannot look %s up: %s", artifact.id, exc)
            return None
        if found is None:
            self._metrics.cache_misses.inc()
            return None
        self._metrics.cache_hits.inc()
        return CachedCopy(self._files, found.file_name)

    def tee(self, artifact: Artifact, location: Location) -> Tee | None:
        """What a whole download of the image passes its bytes through to fill the
        cache; None when the image is not one to cache."""
        if self._files is None or not self._caches(artifact, location):
            return None
        return functools.partial(self._filling, artifact, location)

    def _caches(self, artifact: Artifact, location: Location) -> bool:
        return (
            artifact.status is Status.ACTIVE
            and location.store in self._cached_stores
            and is_uuid(artifact.id)
        )

    async def _filling(
        self,
        artifact: Artifact,
        location: Location,
        chunks: AsyncGenerator[bytes],
        inline: bool = False,
    ) -> AsyncGenerator[bytes]:
        """``chunks`` as they come, written into the cache on the way when nobody else
        fills it: whatever happens to the copy, the stream goes on. ``inline``: the copy
        is checked and kept before the stream ends (the queue's worker)."""
        async with contextlib.aclosing(chunks):
            writing = await self._start(artifact, location)
            if writing is None:
                async for chunk in chunks:
                    yield chunk
                return
            whole, received = False, 0
            try:
                async for chunk in chunks:
                    await writing.feed(chunk)
                    received += len(chunk)
                    # Every byte is here: a client that goes away as the last one reaches
                    # it cancels the read of the store's end, not the copy.
                    whole = received >= location.size
                    yield chunk
                whole = True
            finally:
                with anyio.CancelScope(shield=True):
                    if not whole:
                        await self._drop(writing)
                    elif inline or self._background is None:
                        await self._keep(writing)
                    else:  # the client's answer ends now; the fsync and rename after
                        self._background.start_soon(self._keep, writing)

    async def _start(self, artifact: Artifact, location: Location) -> _Writing | None:
        try:
            fill = await to_thread.run_sync(
                self._directory.start_fill,
                str(uuid.UUID(artifact.id)),
                _version(location),
                location.size,
            )
        except (OSError, sqlite3.Error, ValueError) as exc:
            log.warning("image cache: cannot start caching %s: %s", artifact.id, exc)
            return None
        if fill is None:
            return None
        return _Writing(fill, location, artifact.os_hash_algo)

    async def _keep(self, writing: _Writing) -> None:
        """Check the written copy and make it the cached one, or drop it."""
        fill = writing.fill
        try:
            if await writing.settle() and writing.matches():
                evicted = await to_thread.run_sync(self._directory.commit, fill)
                if evicted is None:
                    log.info("image cache: %s removed while it was cached: not kept", fill.image_id)
                    return
                self._metrics.cache_filled.inc(fill.size)
                if evicted:
                    log.info("image cache: %s cached; evicted %s", fill.image_id, evicted)
                return
            if writing.failure is None:
                log.warning(
                    "image cache: %s discarded: %d bytes with %s, not the image's",
                    fill.image_id, fill.written, writing.digest(),
                )  # fmt: skip
        except (OSError, sqlite3.Error) as exc:
            log.warning("image cache: cannot keep %s: %s", fill.image_id, exc)
        except Exception:  # in the background: nothing may end the node's other work
            log.exception("image cache: cannot keep %s", fill.image_id)
        await self._drop(writing)

    async def _drop(self, writing: _Writing) -> None:
        await writing.settle()
        if writing.failure is not None:
            log.warning("image cache: cannot write %s: %s", writing.fill.image_id, writing.failure)
        with contextlib.suppress(OSError):
            await to_thread.run_sync(self._directory.abort, writing.fill)

    # The /v2/cache API

    async def state(self, caller: Caller) -> CacheState:
        caller.require("cache_list")
        self._offered()
        cached = await self._run(self._directory.cached)
        queued = await self._run(self._directory.queued)
        return CacheState(cached, queued)

    async def queue(self, caller: Caller, image_id: str) -> None:
        """Queue an active image for this node's worker to cache."""
        artifact = await self._artifact(image_id)
        if artifact is None:
            raise NotFound(f"Image {image_id} not found.")
        caller.require("cache_image", artifact)
        self._offered()
        if artifact.status is not Status.ACTIVE:
            raise BadRequest("Only images with status active can be targeted for queueing")
        stores = {location.store for location in artifact.locations[:1]}
        if not stores & self._cached_stores:
            raise BadRequest(
                f"image {artifact.id} has its data in store {', '.join(stores)}, whose "
                "images this node does not cache (image_cache.stores)"
            )
        if not await self._run(self._directory.queue, artifact.id, self._config.queue_size):
            raise Conflict(f"the cache queue holds {self._config.queue_size} images already")
        self._wake.set()

    async def delete(self, caller: Caller, image_id: str) -> None:
        """Remove an image from the cache and the queue."""
        artifact = await self._artifact(image_id)
        # Gone from the catalogue, an image may still be cached or queued: removable.
        if artifact is None and not (self.enabled and await self._holds(image_id)):
            raise NotFound(f"Image {image_id} not found.")
        caller.require("cache_delete", artifact)
        self._offered()
        await self._run(self._directory.remove, image_id)
        await self._run(self._directory.dequeue, image_id)

    async def clear(self, caller: Caller, target: str) -> Cleared:
        """Empty the cache, the queue or both (Glance's ``x-image-cache-clear-target``:
        ``cache``, ``queue``, or ``both`` or nothing for both)."""
        caller.require("cache_delete")
        self._offered()
        chosen = target.strip().lower() or "both"
        if chosen not in ("cache", "queue", "both"):
            raise BadRequest(
                "If provided 'x-image-cache-clear-target' must be 'cache', 'queue' or 'both'"
            )
        cache = await self._run(self._directory.clear) if chosen != "queue" else None
        queue = await self._run(self._directory.clear_queue) if chosen != "cache" else None
        return Cleared(cache, queue)

    async def _holds(self, image_id: str) -> bool:
        cached = await self._run(self._directory.cached)
        queued = await self._run(self._directory.queued)
        return image_id in queued or any(image.image_id == image_id for image in cached)

    async def size(self) -> int:
        """The bytes this node's cache holds (0 when off)."""
        if self._files is None:
            return 0
        with contextlib.suppress(OSError, sqlite3.Error):
            return await to_thread.run_sync(self._directory.size)
        return 0

    def _offered(self) -> None:
        if not self.enabled:
            raise NotFound(NOT_OFFERED)

    async def _run(self, call: Callable[..., T], *args: Any) -> T:
        """A call on the directory, its failure told as the store error it is."""
        try:
            return await to_thread.run_sync(call, *args)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"the image cache at {self._directory.root} failed: {exc}") from exc

    async def _artifact(self, image_id: str) -> Artifact | None:
        """The live artifact, whoever owns it (the cache is the administrators')."""
        if not is_uuid(image_id):
            return None
        found = await self._database.read(artifacts.fetch_artifact, str(uuid.UUID(image_id)))
        return None if found is None or found.status in GONE else found

    # The node's background work

    async def run_forever(self) -> None:
        """Cache what is queued, one image at a time, and prune now and then; a failure
        is logged and leaves the image uncached."""
        if self._files is None:
            return
        async with anyio.create_task_group() as background:
            self._background = background
            pruned = time.monotonic()
            while True:
                with anyio.move_on_after(self._config.poll_interval):
                    await self._wake.wait()
                self._wake = anyio.Event()
                try:
                    while (image_id := await self._run(self._directory.claim)) is not None:
                        await self.cache(image_id)
                    if time.monotonic() - pruned >= self._config.prune_interval:
                        pruned = time.monotonic()
                        await self.prune()
                except CatalogueUnavailable:  # logged where it is met
                    pass
                except LadingError as exc:
                    log.warning("image cache: %s", exc)
                except Exception:  # the next round tries again
                    log.exception("image cache: the queue's worker failed")

    async def cache(self, image_id: str) -> bool:
        """Cache one image now (the queue's work); whether it is cached afterwards."""
        artifact = await self._artifact(image_id)
        if artifact is None or not artifact.locations:
            log.info("image cache: %s is gone or has no data: not cached", image_id)
            return False
        location = artifact.locations[0]
        if self._files is None or not self._caches(artifact, location):
            log.info("image cache: %s is not an image to cache (its status, its store)", image_id)
            return False
        try:
            store = self._stores.get(location.store)
            reading = self._filling(
                artifact, location, store.open(location.key, 0, location.size), inline=True
            )
            async with contextlib.aclosing(reading) as chunks:
                async for _ in chunks:
                    pass
        except LadingError as exc:
            log.warning("image cache: cannot read %s from store %s: %s", image_id,
                        location.store, exc)  # fmt: skip
            return False
        version = _version(location)
        cached = await self._run(self._directory.cached)
        return any(image.image_id == image_id and image.version == version for image in cached)

    async def prune(self) -> int:
        """Remove the copies the catalogue no longer backs: images deleted or not active,
        or whose data changed. Returns how many went."""
        removed = 0
        for image in await self._run(self._directory.cached):
            artifact = await self._artifact(image.image_id)
            if (
                artifact is not None
                and artifact.status is Status.ACTIVE
                and artifact.locations
                and _version(artifact.locations[0]) == image.version
            ):
                continue
            removed += await self._run(self._directory.remove, image.image_id)
        return removed


class _Writing:
    """A fill's bytes on their way to disk, on a thread of their own, hashed as they go
    with the digest the copy is checked against. A failure to write stops the writing and
    is kept, never raised: the download goes on."""

    def __init__(self, fill: Fill, location: Location, algorithm: str | None) -> None:
        self.fill = fill
        self.failure: Exception | None = None
        self._thread: SerialThread | None = SerialThread("lading-cache", WRITE_DEPTH)
        self._size = location.size
        self._expected: str | None = None
        self._hash: Any = None
        if location.os_hash_value and algorithm and algorithm in hashlib.algorithms_guaranteed:
            self._expected, self._hash = location.os_hash_value, hashlib.new(algorithm)
        elif location.checksum:
            self._expected = location.checksum
            self._hash = hashlib.md5(usedforsecurity=False)

    async def feed(self, chunk: bytes) -> None:
        if self._thread is None:
            return
        try:
            await self._thread.submit(self._write, chunk)
        except Exception as exc:
            self.failure = exc
            await self.settle()

    def _write(self, chunk: bytes) -> None:
        if self._hash is not None:
            self._hash.update(chunk)
        self.fill.write(chunk)

    async def settle(self) -> bool:
        """Wait for the writes; whether they all succeeded."""
        if self._thread is not None:
            thread, self._thread = self._thread, None
            try:
                await thread.drain()
            except Exception as exc:
                self.failure = self.failure or exc
            finally:
                await thread.finish()
        return self.failure is None

    def matches(self) -> bool:
        if self.fill.written != self._size:
            return False
        return self._expected is None or self._expected.lower() == self.digest()

    def digest(self) -> str:
        return "no digest" if self._hash is None else str(self._hash.hexdigest())


def _version(location: Location) -> str:
    """A name for the bytes a location holds: another location, or other digests, make
    another version, whose copy is not this one's."""
    identity = "\0".join(
        (location.store, location.key, str(location.size), location.os_hash_value or "",
         location.checksum or "")
    )  # fmt: skip
    return hashlib.sha256(identity.encode()).hexdigest()[:32]
