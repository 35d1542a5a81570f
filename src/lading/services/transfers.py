"""Moving an artifact's bytes: the upload path and the download lookup.

Upload: queued -> saving (compare-and-set) -> the body, capped and hashed, streams
into a reserved key -> the announced size is checked -> in one transaction the blob
is committed (or shared with identical bytes) and the artifact becomes active. Any
failure removes the bytes and puts the artifact back to queued, as Glance v2 does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

import anyio
from sqlalchemy import Connection

from lading.db import artifacts as queries
from lading.db import blobs
from lading.db.engine import Database
from lading.domain import HASH_ALGO, Artifact, Location, Status
from lading.errors import BadRequest, Conflict, Forbidden, TooLarge
from lading.services.access import Caller
from lading.services.catalogue import Catalogue, now
from lading.services.digests import DigestingStream, Digests
from lading.settings import Settings
from lading.stores.base import Store
from lading.stores.registry import StoreRegistry


@dataclass(frozen=True, slots=True)
class Download:
    """Where to read an artifact's bytes from; no location means it has no data."""

    artifact: Artifact
    location: Location | None = None
    store: Store | None = None


class Transfers:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        catalogue: Catalogue,
    ) -> None:
        self._settings = settings
        self._database = database
        self._stores = stores
        self._catalogue = catalogue

    async def upload(
        self,
        caller: Caller,
        artifact_id: str,
        body: AsyncIterable[bytes],
        announced_size: int | None = None,
        store_name: str | None = None,
    ) -> Artifact:
        """Store ``body`` as the artifact's data and make it active."""
        artifact = await self._catalogue.get(caller, artifact_id)
        store = self._stores.get(store_name)
        cap = self._settings.image_size_cap
        if announced_size is not None and announced_size > cap:
            raise TooLarge(f"the data is larger than the limit of {cap} bytes")
        if artifact.status is not Status.QUEUED:
            raise Conflict(f"artifact {artifact_id} is {artifact.status}, not queued")
        started = now()
        if not await self._database.write(
            queries.set_status, artifact_id, [Status.QUEUED], Status.SAVING, updated_at=started
        ):
            raise Conflict(f"artifact {artifact_id} is no longer queued")
        key = _new_key()
        try:
            blob_id = await self._database.write(blobs.reserve, store.name, key, started)
        except BaseException:
            await self._requeue(artifact_id)
            raise
        try:
            stream = DigestingStream(
                self._watched(body, artifact_id, blob_id, announced_size),
                self._settings.chunk_size,
                cap,
            )
            await store.put(key, stream.chunks())
            digests = await stream.digests()
            if announced_size is not None and digests.size != announced_size:
                raise BadRequest(
                    f"received {digests.size} bytes but {announced_size} were announced"
                )
            redundant = await self._database.write(self._activate, artifact_id, blob_id, digests)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await store.delete(key)
                await self._database.write(blobs.forget, blob_id)
                await self._requeue(artifact_id)
            raise
        if redundant is not None:
            with anyio.CancelScope(shield=True):
                await self._catalogue.discard([redundant])
        return await self._catalogue.get(caller, artifact_id)

    async def download(self, caller: Caller, artifact_id: str) -> Download:
        """The artifact and, when it has data the caller may read, where it lies."""
        artifact = await self._catalogue.get(caller, artifact_id)
        if artifact.status is Status.DEACTIVATED and not caller.is_admin:
            raise Forbidden(f"artifact {artifact_id} is deactivated")
        if artifact.status not in (Status.ACTIVE, Status.DEACTIVATED) or not artifact.locations:
            return Download(artifact)
        location = artifact.locations[0]
        return Download(artifact, location, self._stores.get(location.store))

    @staticmethod
    def _activate(
        connection: Connection, artifact_id: str, blob_id: int, digests: Digests
    ) -> blobs.Blob | None:
        redundant = blobs.commit(
            connection, blob_id, artifact_id, digests.size, digests.md5, digests.sha256
        )
        if not queries.set_status(
            connection,
            artifact_id,
            [Status.SAVING],
            Status.ACTIVE,
            size=digests.size,
            checksum=digests.md5,
            os_hash_algo=HASH_ALGO,
            os_hash_value=digests.sha256,
            updated_at=now(),
        ):
            raise Conflict(f"artifact {artifact_id} was changed or deleted during the upload")
        return redundant

    async def _requeue(self, artifact_id: str) -> None:
        await self._database.write(
            queries.set_status, artifact_id, [Status.SAVING], Status.QUEUED, updated_at=now()
        )

    async def _watched(
        self,
        body: AsyncIterable[bytes],
        artifact_id: str,
        blob_id: int,
        announced_size: int | None,
    ) -> AsyncIterator[bytes]:
        """The body, refusing bytes past the announced size and keeping the upload alive."""
        interval = self._settings.upload_stuck_after / 4
        last_sign = time.monotonic()
        received = 0
        async for piece in body:
            received += len(piece)
            if announced_size is not None and received > announced_size:
                raise BadRequest(f"received more than the {announced_size} bytes announced")
            if time.monotonic() - last_sign > interval:
                last_sign = time.monotonic()
                await self._database.write(self._heartbeat, artifact_id, blob_id)
            yield piece

    @staticmethod
    def _heartbeat(connection: Connection, artifact_id: str, blob_id: int) -> None:
        moment = now()
        queries.touch_saving(connection, artifact_id, moment)
        blobs.touch(connection, blob_id, moment)


def _new_key() -> str:
    name = uuid.uuid4().hex
    return f"{name[:2]}/{name}"
