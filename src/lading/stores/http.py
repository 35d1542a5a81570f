"""A read-only store of external http(s) locations: the key is the URL.

Artifacts registered with an external location (Glance v1's ``location``, VISoR) read
their bytes from here. lading does not own those bytes: it never writes them, and
forgetting such an artifact leaves them where they are.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterator

import httpx

from lading.errors import ObjectNotFound, ReadOnlyStore, StoreError
from lading.stores.base import Store, StoredObject


class HttpStore(Store):
    """``client`` follows redirects; lading gives it one that connects only where the
    fetch rules allow, since callers choose the URLs."""

    read_only = True

    def __init__(
        self, name: str, chunk_size: int, client: httpx.AsyncClient, description: str = ""
    ) -> None:
        super().__init__(name, description)
        self._chunk_size = chunk_size
        self._client = client

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        raise ReadOnlyStore(f"store {self.name!r} only reads external http(s) locations")

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        if end is not None and end <= start:
            return
        wanted = f"bytes={start}-" + ("" if end is None else str(end - 1))
        headers = {"range": wanted} if start or end is not None else {}
        with http_errors(self.name, f"could not read {key}"):
            async with self._client.stream("GET", _url(key), headers=headers) as response:
                _raise_for(response, key, self.name)
                # A server that ignores Range sends everything: skip to the range ourselves.
                skip = start if response.status_code == 200 else 0
                remaining = None if end is None else end - start
                async for chunk in response.aiter_bytes(self._chunk_size):
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    if remaining is not None:
                        chunk = chunk[:remaining]
                        remaining -= len(chunk)
                    if chunk:
                        yield chunk
                    if remaining == 0:
                        break

    async def stat(self, key: str) -> StoredObject:
        with http_errors(self.name, f"could not reach {key}"):
            response = await self._client.head(_url(key))
        _raise_for(response, key, self.name)
        length = response.headers.get("content-length", "")
        if not length.isdigit():
            raise StoreError(f"{key} does not say its size (no Content-Length)")
        return StoredObject(key, int(length))

    def location_url(self, key: str) -> str:
        return str(httpx.URL(_url(key)).copy_with(userinfo=b""))  # no user:password@

    async def delete(self, key: str) -> None:
        """Nothing to do: the bytes belong to whoever serves them."""

    async def close(self) -> None:
        await self._client.aclose()


def _url(key: str) -> str:
    if not key.lower().startswith(("http://", "https://")):
        raise StoreError(f"{key!r} is not an http(s) URL")
    return key


def _raise_for(response: httpx.Response, key: str, store: str) -> None:
    if response.status_code == 404:
        raise ObjectNotFound(f"{key} is not found (store {store!r})")
    if response.status_code not in (200, 206):
        raise StoreError(f"{key} answered {response.status_code} (store {store!r})")


@contextlib.contextmanager
def http_errors(store: str, doing: str) -> Iterator[None]:
    """The one place httpx's errors become lading's, the cause kept: a failed request,
    and a URL httpx cannot send (a bad redirect's too)."""
    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
        raise StoreError(f"store {store!r} {doing}: {exc}") from exc
