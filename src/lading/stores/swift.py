"""A store in an OpenStack Swift container, through Swift's native API (httpx).

Every object and segment is sent with its MD5 as ETag, so Swift itself refuses bytes
that were corrupted on the way. Objects larger than ``segment_size`` become Static Large
Objects: segments in ``<container>_segments``, then a manifest; deleting the object
deletes its segments. Each segment is held in memory while it is sent (its MD5 must be
known before it goes), so an upload holds at most one segment. A token that expires
mid-upload is renewed and the request that met the 401 is sent again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable
from urllib.parse import quote

import anyio
import httpx

from lading.errors import ObjectNotFound, StoreError
from lading.stores.base import Store, StoredObject


class SwiftStore(Store):
    def __init__(
        self,
        name: str,
        *,
        auth_url: str,
        user: str,
        key: str,
        container: str,
        prefix: str,
        segment_size: int,
        chunk_size: int,
        timeout: float,
        description: str = "",
    ) -> None:
        super().__init__(name, description)
        self._auth_url, self._user, self._key = auth_url, user, key
        self._container, self._prefix = container, prefix
        self._segment_size, self._chunk_size = segment_size, chunk_size
        self._client = httpx.AsyncClient(timeout=timeout)
        self._token: str | None = None
        self._storage_url = ""

    async def check(self) -> None:
        """Sign in, and make sure both containers exist (PUT on a container is idempotent)."""
        for container in (self._container, self._segments):
            response = await self._request("PUT", container)
            if response.status_code not in (201, 202):
                raise StoreError(f"store {self.name!r} cannot use container {container!r}")

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        segments: list[dict[str, object]] = []
        buffer = bytearray()
        size = 0
        try:
            async for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self._segment_size:
                    segment = bytes(buffer[: self._segment_size])
                    del buffer[: self._segment_size]
                    segments.append(await self._put_segment(key, len(segments), segment))
            if not segments:  # small enough for one object
                await self._put_verified(self._path(key), bytes(buffer))
                return StoredObject(key, size)
            if buffer:
                segments.append(await self._put_segment(key, len(segments), bytes(buffer)))
            manifest = json.dumps(segments).encode()
            response = await self._request(
                "PUT", self._path(key), content=manifest, params={"multipart-manifest": "put"}
            )
            _expect(response, (201,), f"store {self.name!r} refused the manifest of {key!r}")
        except BaseException:
            with anyio.CancelScope(shield=True):  # no segment may outlive a failed upload
                for uploaded in segments:
                    with contextlib.suppress(StoreError):
                        await self._request("DELETE", str(uploaded["path"]).lstrip("/"))
            raise
        return StoredObject(key, size)

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        if end is not None and end <= start:
            return
        headers = {}
        if start or end is not None:
            headers["range"] = f"bytes={start}-" + ("" if end is None else str(end - 1))
        await self._sign_in_once()
        url = f"{self._storage_url}/{quote(self._path(key))}"
        try:
            async with self._client.stream(
                "GET", url, headers={**headers, "x-auth-token": self._token or ""}
            ) as response:
                if response.status_code == 401:  # expired: renew, then read afresh
                    await response.aclose()
                    self._token = None
                    async for chunk in self.open(key, start, end):
                        yield chunk
                    return
                _expect(response, (200, 206), f"store {self.name!r} could not read {key!r}")
                async for chunk in response.aiter_bytes(self._chunk_size):
                    yield chunk
        except httpx.HTTPError as exc:
            raise StoreError(f"store {self.name!r} could not read {key!r}: {exc}") from exc

    async def stat(self, key: str) -> StoredObject:
        response = await self._request("HEAD", self._path(key))
        _expect(response, (200,), f"store {self.name!r} could not look at {key!r}")
        return StoredObject(key, int(response.headers["content-length"]))

    async def delete(self, key: str) -> None:
        # For a Static Large Object this deletes its segments too; for others, the object.
        response = await self._request(
            "DELETE", self._path(key), params={"multipart-manifest": "delete"}
        )
        if response.status_code not in (200, 204, 404):
            raise StoreError(f"store {self.name!r} could not delete {key!r}")
        # Segments of an upload that failed while Swift was unreachable have no manifest:
        # find them by name, so that recovery's retry of this delete leaves nothing.
        listing = await self._request(
            "GET", self._segments, params={"prefix": f"{self._prefix}{key}/"}
        )
        if listing.status_code == 200:
            for name in listing.text.split():
                await self._request("DELETE", f"{self._segments}/{name}")

    async def close(self) -> None:
        await self._client.aclose()

    @property
    def _segments(self) -> str:
        return f"{self._container}_segments"

    def _path(self, key: str, container: str | None = None) -> str:
        return f"{container or self._container}/{self._prefix}{key}"

    async def _put_segment(self, key: str, number: int, data: bytes) -> dict[str, object]:
        path = self._path(f"{key}/{number:08d}", self._segments)
        etag = await self._put_verified(path, data)
        return {"path": f"/{path}", "etag": etag, "size_bytes": len(data)}

    async def _put_verified(self, path: str, data: bytes) -> str:
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        response = await self._request("PUT", path, content=data, headers={"etag": etag})
        _expect(response, (201,), f"store {self.name!r} refused {path!r}")
        return etag

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """A request with the current token; once more with a new one after a 401."""

        async def send() -> httpx.Response:
            await self._sign_in_once()
            return await self._client.request(
                method,
                f"{self._storage_url}/{quote(path)}",
                content=content,
                headers={**(headers or {}), "x-auth-token": self._token or ""},
                params=params,
            )

        response = await _translated(self.name, send)
        if response.status_code == 401:  # the token expired: renew it, send once more
            self._token = None
            response = await _translated(self.name, send)
        return response

    async def _sign_in_once(self) -> None:
        if self._token is not None:
            return
        try:
            response = await self._client.get(
                self._auth_url, headers={"x-auth-user": self._user, "x-auth-key": self._key}
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"store {self.name!r} cannot reach {self._auth_url}: {exc}") from exc
        if response.status_code != 200:
            raise StoreError(f"store {self.name!r} was refused by {self._auth_url}")
        self._token = response.headers["x-auth-token"]
        self._storage_url = response.headers["x-storage-url"].rstrip("/")


async def _translated(store: str, send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    try:
        return await send()
    except httpx.HTTPError as exc:
        raise StoreError(f"store {store!r} is unreachable: {exc}") from exc


def _expect(response: httpx.Response, statuses: tuple[int, ...], message: str) -> None:
    if response.status_code == 404:
        raise ObjectNotFound(message)
    if response.status_code not in statuses:
        raise StoreError(f"{message} (Swift answered {response.status_code})")
