"""A store in an OpenStack Swift container, through Swift's native API, signed in with
tempauth or Keystone v3 (``swift_auth``). The bytes themselves (segment and object PUTs,
GETs) go over ``http.client`` on worker threads, a download read one chunk ahead
(``swift_wire``); the other requests over httpx.

Every object and segment is sent with its MD5 as ETag, so Swift itself refuses bytes
that were corrupted on the way. Objects larger than ``segment_size`` become Static Large
Objects: segments in ``<container>_segments``, then a manifest; deleting the object
deletes its segments. A segment is held in memory until Swift has it (its MD5 must be
known before it goes, and a 401 sends it again), and ``SEGMENTS_IN_FLIGHT`` go up while
the next one fills, so an upload holds at most that many segments plus one. A token that
expires mid-upload is renewed and the request that met the 401 is sent again.

Segments whose manifest never came (the process died mid-upload) are found by the sweep:
grouped by object, the groups whose newest segment is older than the cutoff and whose
object does not exist are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import defaultdict
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Iterable,
)
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import quote

import anyio
import httpx

from lading.errors import ObjectNotFound, StoreError
from lading.stores.base import Store, StoredObject
from lading.stores.swift_auth import KeystoneV3, SwiftAuth, TempAuth, http_errors
from lading.stores.swift_wire import Wire
from lading.tls import client_context

SEGMENTS_IN_FLIGHT = 2
LATE_SEGMENT_WAIT = 0.5  # seconds before a segment not there yet is deleted once more
NOT_A_MANIFEST = "Not an SLO manifest"  # what Swift says of a manifest-delete of other objects


class SwiftStore(Store):
    def __init__(
        self,
        name: str,
        *,
        auth_url: str,
        user: str,
        key: str,
        container: str,
        auth_version: Literal["1", "3"] = "1",
        project: str | None = None,
        user_domain: str = "Default",
        project_domain: str = "Default",
        region: str | None = None,
        interface: Literal["public", "internal", "admin"] = "public",
        prefix: str,
        segment_size: int,
        chunk_size: int,
        timeout: float,
        description: str = "",
    ) -> None:
        super().__init__(name, description)
        self._auth: SwiftAuth = (
            TempAuth(auth_url, user, key)
            if auth_version == "1"
            else KeystoneV3(
                auth_url, user, key, project or "", user_domain, project_domain, region, interface
            )
        )
        self._container, self._prefix = container, prefix
        self._segment_size, self._chunk_size = segment_size, chunk_size
        self._client = httpx.AsyncClient(verify=client_context(), timeout=timeout)
        self._wire = Wire(timeout, client_context())  # the bulk bytes (swift_wire)
        self._token: str | None = None
        self._storage_url = ""

    async def check(self) -> None:
        """Sign in, and make sure both containers exist (PUT on a container is idempotent)."""
        for container in (self._container, self._segments):
            response = await self._request("PUT", container)
            if response.status_code not in (201, 202):
                raise StoreError(f"store {self.name!r} cannot use container {container!r}")

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        manifest: dict[int, dict[str, object]] = {}
        sent: list[int] = []  # segments sent, whether or not Swift has answered yet
        segment: Segment | None = None
        size = 0
        try:
            async with anyio.create_task_group() as sending:
                in_flight = anyio.Semaphore(SEGMENTS_IN_FLIGHT)
                async for segment in _segments(chunks, self._segment_size):
                    size += segment.size
                    if segment.number == 0 and segment.last:  # small enough for one object
                        await self._put_verified(self._path(key), segment)
                        return StoredObject(key, size)
                    await in_flight.acquire()
                    sent.append(segment.number)
                    sending.start_soon(self._put_segment, key, segment, manifest, in_flight)
            entries = [manifest[number] for number in sorted(manifest)]
            response = await self._request(
                "PUT",
                self._path(key),
                content=json.dumps(entries).encode(),
                params={"multipart-manifest": "put"},
            )
            _expect(
                response.status_code, (201,), f"store {self.name!r} refused the manifest of {key!r}"
            )
        except BaseException as exc:
            # The exception's frames form cycles (task groups), which keep what they hold
            # until the cyclic collector runs: a segment would stay in memory that long.
            # (A sent one is emptied by its task; the one filling, by ``_segments``.)
            if segment is not None:
                segment.chunks.clear()
            with anyio.CancelScope(shield=True):  # no segment may outlive a failed upload
                with contextlib.suppress(StoreError):
                    await self._delete_segments(key, sent)
            if isinstance(exc, BaseExceptionGroup):  # what the caller would meet without one
                raise _first_error(exc) from None
            raise
        return StoredObject(key, size)

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        if end is not None and end <= start:
            return
        headers = {}
        if start or end is not None:
            headers["range"] = f"bytes={start}-" + ("" if end is None else str(end - 1))
        for attempt in range(2):  # once more with a new token after a 401
            await self._sign_in_once()
            url = f"{self._storage_url}/{quote(self._path(key))}"
            with http_errors(self.name, f"could not read {key!r}"):
                async with self._wire.get(
                    url, {**headers, "x-auth-token": self._token or ""}
                ) as reading:
                    if reading.status == 401 and attempt == 0:
                        self._token = None
                        continue
                    _expect(
                        reading.status, (200, 206), f"store {self.name!r} could not read {key!r}"
                    )
                    async for chunk in reading.chunks(self._chunk_size):
                        yield chunk
                    return

    async def stat(self, key: str) -> StoredObject:
        response = await self._request("HEAD", self._path(key))
        _expect(response.status_code, (200,), f"store {self.name!r} could not look at {key!r}")
        return StoredObject(key, int(response.headers["content-length"]))

    async def delete(self, key: str) -> None:
        # A Static Large Object goes with its segments. Swift answers such a delete 200
        # whatever happened and tells the outcome in the body: an object sent whole is
        # "Not an SLO manifest" there, and stays until a plain DELETE.
        response = await self._request(
            "DELETE", self._path(key), params={"multipart-manifest": "delete"},
            headers={"accept": "application/json"},
        )  # fmt: skip
        failure = _manifest_delete_failure(response)
        if failure is not None and NOT_A_MANIFEST in failure:
            response = await self._request("DELETE", self._path(key))
        elif failure is not None:
            raise StoreError(f"store {self.name!r} could not delete {key!r}: Swift said {failure}")
        if response.status_code not in (200, 204, 404):
            raise StoreError(f"store {self.name!r} could not delete {key!r}")
        # Segments of an upload that failed while Swift was unreachable have no manifest:
        # find them by name, so that recovery's retry of this delete leaves nothing. (A
        # manifest-delete of a missing object still answers 200, so it cannot tell.)
        await self._delete_segments(key)

    async def close(self) -> None:
        await self._client.aclose()
        self._wire.close()

    async def sweep(self, older_than: float) -> int:
        """Delete segments left without a manifest for over ``older_than`` seconds."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        newest: dict[str, datetime] = defaultdict(lambda: datetime.min.replace(tzinfo=UTC))
        params = {"prefix": self._prefix, "format": "json", "marker": ""}
        while True:
            listing = await self._request("GET", self._segments, params=params)
            _expect(
                listing.status_code, (200, 204), f"store {self.name!r} could not list its segments"
            )
            entries = listing.json() if listing.status_code == 200 else []
            if not entries:
                break
            for entry in entries:  # <prefix><key>/<8-digit number>, modified in UTC
                key = entry["name"].removeprefix(self._prefix).rpartition("/")[0]
                modified = datetime.fromisoformat(entry["last_modified"]).replace(tzinfo=UTC)
                newest[key] = max(newest[key], modified)
            params["marker"] = entries[-1]["name"]
        swept = 0
        for key, modified in newest.items():
            if modified >= cutoff:
                continue  # perhaps an upload still under way
            manifest = await self._request("HEAD", self._path(key))
            if manifest.status_code == 404:
                await self._delete_segments(key)
                swept += 1
        return swept

    def location_url(self, key: str) -> str:
        return f"swift://{self._path(key)}"

    @property
    def _segments(self) -> str:
        return f"{self._container}_segments"

    def _path(self, key: str, container: str | None = None) -> str:
        return f"{container or self._container}/{self._prefix}{key}"

    def _segment_path(self, key: str, number: int) -> str:
        return self._path(f"{key}/{number:08d}", self._segments)

    async def _delete_segments(self, key: str, numbers: Iterable[int] = ()) -> None:
        """Every segment of ``key``: those ``numbers`` by name, then what the listing
        names, page by page (a listing holds up to 10,000 names).

        A segment whose PUT was cut off after its last byte may be written all the same,
        and listed only later: deleted by name, it is gone (Swift orders a PUT and a
        DELETE by when they arrived, whatever order it writes them in). One that was not
        there yet (404) may still be on its way: it is deleted by name once more, a
        moment later (a cut-off upload's segment was seen written after a 404 to its
        DELETE).
        """
        missing = [
            number
            for number in numbers
            if (await self._request("DELETE", self._segment_path(key, number))).status_code == 404
        ]
        if missing:
            await anyio.sleep(LATE_SEGMENT_WAIT)
            for number in missing:
                await self._request("DELETE", self._segment_path(key, number))
        params = {"prefix": f"{self._prefix}{key}/", "marker": ""}
        while True:
            listing = await self._request("GET", self._segments, params=params)
            names = listing.text.split() if listing.status_code == 200 else []
            if not names:
                return
            for name in names:
                await self._request("DELETE", f"{self._segments}/{name}")
            params["marker"] = names[-1]

    async def _put_segment(
        self,
        key: str,
        segment: Segment,
        manifest: dict[int, dict[str, object]],
        in_flight: anyio.Semaphore,
    ) -> None:
        try:
            path = self._segment_path(key, segment.number)
            etag = await self._put_verified(path, segment)
            entry = {"path": f"/{path}", "etag": etag, "size_bytes": segment.size}
            manifest[segment.number] = entry
        finally:
            segment.chunks.clear()  # Swift has it, or nobody needs it any more
            in_flight.release()

    async def _put_verified(self, path: str, segment: Segment) -> str:
        """PUT the segment's bytes with their MD5 as ETag: Swift refuses them if they differ."""
        etag = await anyio.to_thread.run_sync(segment.md5)
        headers = {"etag": etag, "content-length": str(segment.size)}
        for attempt in range(2):  # once more with a new token after a 401
            await self._sign_in_once()
            url = f"{self._storage_url}/{quote(path)}"
            with http_errors(self.name, "is unreachable"):
                answer = await self._wire.put(
                    url, {**headers, "x-auth-token": self._token or ""}, self._body(segment)
                )
            if answer.status == 401 and attempt == 0:
                self._token = None
                continue
            break
        _expect(answer.status, (201,), f"store {self.name!r} refused {path!r}")
        return etag

    def _body(self, segment: Segment) -> Iterable[bytes]:
        """The segment's bytes, as sent (the same for each attempt: a 401 sends it again)."""
        return segment.chunks

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

        with http_errors(self.name, "is unreachable"):
            response = await send()
            if response.status_code == 401:  # the token expired: renew it, send once more
                self._token = None
                response = await send()
        return response

    async def _sign_in_once(self) -> None:
        if self._token is not None:
            return
        session = await self._auth.sign_in(self._client, self.name)
        self._token, self._storage_url = session.token, session.storage_url.rstrip("/")


def _manifest_delete_failure(response: httpx.Response) -> str | None:
    """What went wrong in a manifest-delete that Swift answered 200 (its SLO middleware
    reports the outcome in the body, in JSON as asked); None if nothing did, or if no SLO
    middleware took the request (a plain delete then)."""
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        outcome = response.json()
        status = str(outcome["Response Status"])
    except (ValueError, KeyError, TypeError):
        return f"an answer it could not read: {response.text[:200]!r}"
    return None if status.startswith("2") else f"{status} {outcome.get('Errors')}"


def _expect(status: int, statuses: tuple[int, ...], message: str) -> None:
    if status == 404:
        raise ObjectNotFound(message)
    if status not in statuses:
        raise StoreError(f"{message} (Swift answered {status})")


@dataclass(slots=True)
class Segment:
    """A run of the upload's chunks, sent as one object (or one segment of a large one)."""

    number: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    last: bool = False

    def md5(self) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        for chunk in self.chunks:
            digest.update(chunk)
        return digest.hexdigest()


async def _segments(chunks: AsyncIterable[bytes], segment_size: int) -> AsyncIterator[Segment]:
    """The stream cut into segments of ``segment_size`` bytes, the last one marked.

    A segment goes out only once a byte beyond it has arrived, so that an object of
    exactly ``segment_size`` bytes is one segment marked last, and the empty stream too.
    """
    segment = Segment(0)
    try:
        async for chunk in chunks:
            while segment.size + len(chunk) > segment_size:
                room = segment_size - segment.size
                if room:
                    segment.chunks.append(chunk[:room])
                segment.size = segment_size
                yield segment
                segment, chunk = Segment(segment.number + 1), chunk[room:]
            if chunk:
                segment.chunks.append(chunk)
                segment.size += len(chunk)
    except GeneratorExit:  # closed at a yield: the segment is the consumer's
        raise
    except BaseException:  # the stream failed: the segment it was filling goes nowhere
        segment.chunks.clear()  # (the exception's frames may hold it a long while)
        raise
    segment.last = True
    if segment.size or segment.number == 0:
        yield segment


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
