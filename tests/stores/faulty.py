"""A store that fails on demand, injected where tests need a backend to break."""

from __future__ import annotations

from collections.abc import AsyncIterable

from lading.errors import StoreError, StoreFull
from lading.stores.base import StoredObject
from lading.stores.memory import MemoryStore


class FaultyStore(MemoryStore):
    """A memory store whose writes fail as a full disk, and deletes as an outage, on demand."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.failing_puts = False
        self.failing_deletes = False
        self.healthy_puts: int | None = None  # puts that succeed before the rest fail

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        if self.healthy_puts is not None:
            self.failing_puts = self.healthy_puts == 0
            self.healthy_puts = max(0, self.healthy_puts - 1)
        if not self.failing_puts:
            return await super().put(key, chunks)
        async for _ in chunks:  # take some bytes first, as a disk filling up would
            raise StoreFull(f"store {self.name!r} is full")
        raise StoreFull(f"store {self.name!r} is full")

    async def delete(self, key: str) -> None:
        if self.failing_deletes:
            raise StoreError(f"store {self.name!r} is unreachable")
        await super().delete(key)
