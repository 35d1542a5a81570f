"""The store interface: a small async contract every backend keeps.

A store never decides whether an artifact exists (the catalogue does) and never
hashes or limits sizes (the services wrap the stream once for every backend).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lading.errors import StoreError


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What a store knows of one object."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class Part:
    """One piece of an object written in parts (a resumable upload): its number, its
    first byte in the object, its size."""

    number: int
    offset: int
    size: int


class Store(ABC):
    """A named place for bytes, addressed by keys chosen by the services.

    ``put`` is atomic: a reader sees the whole object or none of it, and a
    failed ``put`` leaves nothing behind under ``key``.
    """

    read_only = False  # only reads bytes served elsewhere (external locations)
    # Parts written in parts land in the object itself (``put_part`` appends to ``key``):
    # once the last is in, the object is whole where it lies, never copied.
    appends_in_place = False
    takes_locations = False  # reads data at locations clients add of its own kind (key_at)

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description

    @abstractmethod
    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        """Write ``chunks`` under ``key``."""

    @abstractmethod
    def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        """Read bytes ``start`` (inclusive) to ``end`` (exclusive; None: to the end)."""

    @abstractmethod
    async def stat(self, key: str) -> StoredObject:
        """The object's size; ``ObjectNotFound`` when there is none."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    async def in_use(self, key: str) -> bool:
        """Whether something outside lading depends on the object (a clone of an RBD
        snapshot), so that it cannot be deleted yet: ``delete`` would raise ObjectInUse."""
        return False

    def location_url(self, key: str) -> str:
        """Where the object lies, as a URL shown to callers the policy lets see it: it
        never carries credentials."""
        return f"lading://{self.name}/{key}"

    async def key_at(self, url: str) -> str | None:
        """The key under which this store reads the data at a location a client gives
        (Glance's location add), None if the URL is not this store's. Stores whose
        locations clients cannot add (all but rbd; the http store reads any URL, its
        key being the URL itself) keep this."""
        return None

    def local_path(self, key: str) -> Path | None:
        """A path the server may send directly, for stores on a local filesystem."""
        return None

    def accel_uri(self, key: str) -> str | None:
        """The URI of an internal location of the proxy in front (nginx) that serves the
        object's file itself, when the store is set to hand downloads off that way
        (``X-Accel-Redirect``); None: lading sends the bytes."""
        return None

    async def redirect_url(self, key: str) -> str | None:
        """A short-lived URL a client may fetch the object from itself, when the store
        is set to hand downloads off that way; None: lading sends the bytes."""
        return None

    # Objects written in parts, over several requests and processes (resumable uploads).
    # By default each part is an object of its own (``part_key``), read back in order;
    # a store that can append in place (a file) or join parts where they lie overrides
    # them. The services keep the list of parts: the store never lists them.

    def part_key(self, key: str, number: int) -> str:
        return f"{key}-part{number:06d}"

    async def put_part(
        self, key: str, number: int, offset: int, chunks: AsyncIterable[bytes]
    ) -> StoredObject:
        """Write part ``number`` of ``key``, its bytes from ``offset`` on, replacing what
        an earlier attempt at that part left; the part's size."""
        stored = await self.put(self.part_key(key, number), chunks)
        return StoredObject(key, stored.size)

    async def open_parts(
        self, key: str, parts: Sequence[Part], start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes]:
        """Bytes ``start`` to ``end`` of the object the ``parts`` make, in order."""
        for part in parts:
            last = part.offset + part.size
            if last <= start or (end is not None and part.offset >= end):
                continue
            first = max(start, part.offset) - part.offset
            stop = part.size if end is None else min(end, last) - part.offset
            async for chunk in self.open(self.part_key(key, part.number), first, stop):
                yield chunk

    def joins(self, parts: Sequence[Part]) -> bool:
        """Whether ``assemble`` can join these parts (else the caller copies them)."""
        return False

    async def assemble(self, key: str, parts: Sequence[Part], target: str) -> StoredObject:
        """The object ``target`` made of the ``parts`` of ``key`` (``joins`` said so) by
        the store itself, no byte passing through lading, and independent of them (they
        may go after)."""
        raise StoreError(f"store {self.name!r} cannot join parts where they lie")

    async def link(self, key: str, target: str) -> StoredObject:
        """The object ``key`` under ``target`` too (``key`` stays): a copy, unless the
        store can give one object two names."""
        return await self.put(target, self.open(key))

    async def discard_part(self, key: str, number: int, offset: int) -> None:
        """Drop part ``number`` (a PATCH whose checksum failed): the object ends at
        ``offset`` again."""
        await self.delete(self.part_key(key, number))

    async def delete_parts(self, key: str, count: int) -> None:
        """Remove the ``count`` parts of ``key`` (and a part a crash may have left past
        them)."""
        for number in range(count + 1):
            await self.delete(self.part_key(key, number))

    async def check(self) -> None:  # noqa: B027 - a store in memory is always there
        """Make sure the store is reachable with its settings; StoreError if not."""

    async def delete_partial(self, key: str) -> None:  # noqa: B027 - most need nothing
        """Remove what a write of ``key`` cut off by a crash left (a temporary file, the
        parts of a multipart upload), for recovery to free a dead upload's bytes at once
        rather than at the next sweep. A store whose ``delete`` removes them already (or
        that writes nothing before the end) needs nothing here."""

    async def sweep(self, older_than: float) -> int:
        """Remove partial writes left by a crash, older than ``older_than`` seconds."""
        return 0

    async def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release connections and other resources."""
