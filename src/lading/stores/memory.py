"""A store in a dict, for tests and experiments."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable

from lading.errors import ObjectNotFound
from lading.stores.base import Store, StoredObject


class MemoryStore(Store):
    def __init__(self, name: str, chunk_size: int = 64 * 1024) -> None:
        super().__init__(name)
        self.objects: dict[str, bytes] = {}
        self._chunk_size = chunk_size

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        data = bytearray()
        async for chunk in chunks:
            data += chunk
        self.objects[key] = bytes(data)  # only now, so a failed put leaves nothing
        return StoredObject(key, len(data))

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        data = self._get(key)
        end = len(data) if end is None else min(end, len(data))
        for offset in range(start, end, self._chunk_size):
            yield data[offset : min(offset + self._chunk_size, end)]

    async def stat(self, key: str) -> StoredObject:
        return StoredObject(key, len(self._get(key)))

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def _get(self, key: str) -> bytes:
        try:
            return self.objects[key]
        except KeyError:
            raise ObjectNotFound(f"no object {key!r} in store {self.name!r}") from None
