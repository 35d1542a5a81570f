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
from datetime import datetime

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


@dataclass(slots=True)
class Lease:
    """One upload's hold on a saving artifact.

    Every write the upload makes to the artifact checks ``touched_at``, so an upload
    that recovery gave up on cannot disturb the upload that came after it.
    """

    artifact_id: str
    key: str
    touched_at: datetime
    queued_since: datetime  # restored on failure: a failed upload leaves no trace
    blob_id: int | None = None


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
            raise Conflict(f"artifact {artifact.id} is {artifact.status}, not queued")
        lease = Lease(
            artifact.id, key=_new_key(), touched_at=now(), queued_since=artifact.updated_at
        )
        if not await self._database.write(
            queries.set_status,
            artifact.id,
            [Status.QUEUED],
            Status.SAVING,
            updated_at=lease.touched_at,
        ):
            raise Conflict(f"artifact {artifact.id} is no longer queued")
        try:
            lease.blob_id = await self._database.write(
                blobs.reserve, store.name, lease.key, lease.touched_at
            )
            stream = DigestingStream(
                self._watched(body, lease, announced_size), self._settings.chunk_size, cap
            )
            await store.put(lease.key, stream.chunks())
            digests = await stream.digests()
            if announced_size is not None and digests.size != announced_size:
                raise BadRequest(
                    f"received {digests.size} bytes but {announced_size} were announced"
                )
            redundant = await self._database.write(self._activate, lease, digests)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._abandon(store, lease)
            raise
        if redundant is not None:
            with anyio.CancelScope(shield=True):
                await self._catalogue.discard([redundant])
        return await self._catalogue.get(caller, artifact.id)

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
    def _activate(connection: Connection, lease: Lease, digests: Digests) -> blobs.Blob | None:
        assert lease.blob_id is not None
        redundant = blobs.commit(
            connection, lease.blob_id, lease.artifact_id, digests.size, digests.md5, digests.sha256
        )
        if not queries.set_status(
            connection,
            lease.artifact_id,
            [Status.SAVING],
            Status.ACTIVE,
            touched_at=lease.touched_at,
            size=digests.size,
            checksum=digests.md5,
            os_hash_algo=HASH_ALGO,
            os_hash_value=digests.sha256,
            updated_at=now(),
        ):
            raise Conflict(f"artifact {lease.artifact_id} was changed or deleted during the upload")
        return redundant

    async def _abandon(self, store: Store, lease: Lease) -> None:
        """Undo a failed upload: its bytes, its blob, and saving back to queued as it was."""
        if lease.blob_id is not None:
            await store.delete(lease.key)
            await self._database.write(blobs.forget, lease.blob_id)
        await self._database.write(
            queries.set_status,
            lease.artifact_id,
            [Status.SAVING],
            Status.QUEUED,
            touched_at=lease.touched_at,
            updated_at=lease.queued_since,
        )

    async def _watched(
        self, body: AsyncIterable[bytes], lease: Lease, announced_size: int | None
    ) -> AsyncIterator[bytes]:
        """The body, refusing bytes past the announced size and keeping the lease alive."""
        interval = self._settings.upload_stuck_after / 4
        last_sign = time.monotonic()
        received = 0
        async for piece in body:
            received += len(piece)
            if announced_size is not None and received > announced_size:
                raise BadRequest(f"received more than the {announced_size} bytes announced")
            if time.monotonic() - last_sign > interval:
                last_sign = time.monotonic()
                await self._database.write(self._renew, lease)
            yield piece

    @staticmethod
    def _renew(connection: Connection, lease: Lease) -> None:
        moment = now()
        if not queries.touch_saving(connection, lease.artifact_id, lease.touched_at, moment):
            raise Conflict(f"the upload to {lease.artifact_id} was given up as stuck")
        assert lease.blob_id is not None
        blobs.touch(connection, lease.blob_id, moment)
        lease.touched_at = moment


def _new_key() -> str:
    name = uuid.uuid4().hex
    return f"{name[:2]}/{name}"
