"""Moving an artifact's bytes: the upload path and the download path.

Upload: queued -> saving under a lease (compare-and-set) -> the body, capped and
hashed, streams into a reserved key -> the announced size is checked -> in one
transaction the blob is committed (or shared with identical bytes) and the artifact
becomes active. Any failure removes the bytes and puts the artifact back to queued,
as Glance v2 does.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import artifacts, blobs, imports, uploads, usage
from lading.db.engine import Database
from lading.db.uploads import Lease
from lading.domain import Artifact, Digests, EventType, Location, Status
from lading.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    LadingError,
    NotFound,
    ObjectNotFound,
    StoreError,
    TooLarge,
)
from lading.metrics import Metrics
from lading.processes import ThisProcess
from lading.services import validation
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.digests import DigestingStream
from lading.services.downloads import DownloadLedger
from lading.services.events import Outbox
from lading.services.image_cache import CachedCopy, ImageCache, Tee
from lading.services.inspection import inspection_for
from lading.services.liveness import beating
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.base import Part, Store, StoredObject
from lading.stores.registry import StoreRegistry
from lading.url_rules import UrlRules

MAX_LOCATION = 512  # characters: the length of a stored object's key


@dataclass(frozen=True, slots=True)
class Incoming:
    """The data a request brings with its metadata (Glance v1, VISoR): a body, an
    external location, or neither; and what the client states of it."""

    body: AsyncIterable[bytes] | None = None
    location: str | None = None
    size: int | None = None
    checksum: str | None = None  # MD5
    store: str | None = None
    # An object already in ``store`` (VISoR's store locations), registered where it is.
    stored_key: str | None = None
    # Glance v1's rules: data needs both formats; a stated size of 0 with no data is an
    # empty image, active at once; a non-admin may not restate an active image's size or
    # checksum otherwise.
    glance_v1: bool = False

    @property
    def placed(self) -> bool:
        """Whether the data is somewhere already (a location), not in the request."""
        return self.location is not None or self.stored_key is not None


@dataclass(frozen=True, slots=True)
class Download:
    """An artifact's bytes, ready to read; ``location`` is None when it has no data.

    A part (``part``) is a range of the stored object served as a file of its own, such
    as one file inside a stored package archive."""

    artifact: Artifact
    location: Location | None = None
    store: Store | None = None
    offset: int | None = None  # a part's first byte in the stored object
    # What a whole read passes through to fill the image cache (None: nothing).
    tee: Tee | None = None
    # Told the artifact's id as its bytes go out (retention's last download), however
    # they go: read here, sent by path, handed off to a store's URL.
    served: Callable[[str], None] | None = None

    def read(self, start: int, end: int) -> AsyncGenerator[bytes]:
        """Bytes ``start`` (inclusive) to ``end`` (exclusive)."""
        assert self.store is not None and self.location is not None
        self._served()
        skip = self.offset or 0
        chunks = self.store.open(self.location.key, skip + start, skip + end)
        whole = self.offset is None and start == 0 and end == self.location.size
        return self.tee(chunks) if self.tee is not None and whole else chunks

    async def redirect_url(self) -> str | None:
        """Where the client may fetch the bytes itself, when the store hands them off."""
        assert self.store is not None and self.location is not None
        if self.offset is not None:
            return None
        url = await self.store.redirect_url(self.location.key)
        if url is not None:
            self._served()
        return url

    def accel_uri(self) -> str | None:
        """Where the proxy in front (nginx) finds the whole object's file, when the store
        hands downloads off to it (``X-Accel-Redirect``): never for a part of an object,
        nor for bytes that fill the image cache as they go."""
        assert self.store is not None and self.location is not None
        if self.offset is not None or self.tee is not None:
            return None
        uri = self.store.accel_uri(self.location.key)
        if uri is not None:
            self._served()
        return uri

    def local_path(self) -> Path | None:
        """A file the server may send as it is, when the store is local."""
        assert self.store is not None and self.location is not None
        path = None if self.offset is not None else self.store.local_path(self.location.key)
        if path is not None:
            self._served()
        return path

    def part(self, offset: int, size: int, md5: str | None) -> Download:
        assert self.location is not None
        place = Location(self.location.store, self.location.key, size, md5, None)
        return Download(
            self.artifact, place, self.store, (self.offset or 0) + offset, served=self.served
        )

    def cached(self, copy: CachedCopy) -> Download:
        """The same bytes, read from the image cache's copy."""
        assert self.location is not None
        place = replace(self.location, key=copy.key)
        return Download(self.artifact, place, copy.store, served=self.served)

    def _served(self) -> None:
        if self.served is not None:
            self.served(self.artifact.id)


@dataclass(frozen=True, slots=True)
class Expected:
    """Digests a client announces for the data it sends (hex, any case)."""

    md5: str | None = None
    sha256: str | None = None

    def check(self, digests: Digests) -> None:
        for name, announced, actual in (
            ("md5", self.md5, digests.md5),
            ("sha256", self.sha256, digests.sha256),
        ):
            if announced is not None and announced.lower() != actual:
                raise BadRequest(f"the data's {name} is {actual}, not {announced}")


@dataclass(frozen=True, slots=True)
class Placed:
    """Data already in the store under ``key`` (a resumable upload's file): linked to the
    artifact's own key rather than copied, and read once (the body) for its digests and
    its format inspection, which are checked as any upload's. With ``parts``, the data is
    those parts of ``key``, joined by the store where it can (``Store.assemble``), or
    else copied from the body as any upload is."""

    key: str
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True, slots=True)
class Receiving:
    """Data on its way into an artifact's store, and what it makes of the artifact."""

    body: AsyncIterable[bytes]
    status: Status  # the artifact's while it comes: saving, uploading (staged), importing
    announced_size: int | None = None  # exactly so many bytes, when the client says so
    store_name: str | None = None  # None: the default store
    expected: Expected | None = None  # digests the data must have
    failed: Status = Status.QUEUED  # what a failure leaves the artifact (v1: killed)
    on_active: Callable[[Connection], None] | None = None  # in the activating transaction
    by: Caller | None = None  # whose request it is (None: a task's worker)
    placed: Placed | None = None  # the data is in the store already; ``body`` is unread


@dataclass(frozen=True, slots=True)
class LocationUrl:
    store: str
    url: str
    metadata: dict[str, Any] = field(default_factory=dict)  # as a Glance client gave it


@dataclass(frozen=True, slots=True)
class ShownLocations:
    """Where an artifact's data lies, as far as the settings (``show_image_direct_url``,
    ``show_multiple_locations``) and the policy (``get_image_location``) let a caller
    know: what every face shows of it, decided once."""

    direct_url: str | None  # the first location, with show_image_direct_url
    locations: list[LocationUrl] | None  # all, with show_multiple_locations (None: not shown)
    places: list[LocationUrl]  # all, with either: what a page listing them shows


@dataclass(frozen=True, slots=True)
class StoreChoice:
    """A store a client may send data to."""

    name: str
    description: str
    default: bool


class Transfers:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        catalogue: Catalogue,
        metrics: Metrics,
        this_process: ThisProcess,
        outbox: Outbox,
        image_cache: ImageCache | None = None,
        clock: Clock | None = None,
        downloads: DownloadLedger | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._served = None if downloads is None else downloads.served
        self._outbox = outbox
        self._settings = settings
        self._image_cache = image_cache
        self._this_process = this_process
        self._database = database
        self._stores = stores
        self._catalogue = catalogue
        self._metrics = metrics

    @property
    def default_store(self) -> str:
        return self._stores.default

    def store_choices(self) -> list[StoreChoice]:
        """The stores clients choose among; empty with a single store (no choice)."""
        if not self._stores.several:
            return []
        return [
            StoreChoice(store.name, store.description, store.name == self._stores.default)
            for store in self._stores.writable()
        ]

    async def upload(
        self,
        caller: Caller,
        artifact_id: str,
        body: AsyncIterable[bytes],
        announced_size: int | None = None,
        store_name: str | None = None,
        expected: Expected | None = None,
        failed: Status = Status.QUEUED,
        on_active: Callable[[Connection], None] | None = None,
        require_formats: bool = False,
        placed: Placed | None = None,
    ) -> Artifact:
        """Store ``body`` as the artifact's data and make it active.

        ``placed``: the data lies in the default store already (a resumable upload's
        file, or its parts): linked, or joined by the store where it can, rather than
        copied; ``body`` (the same data) is read for its digests and format all the same.

        ``require_formats``: an artifact without a disk or container format is refused
        (Glance's rule for images; the package faces upload without them).

        ``store_name`` picks a store when several are configured; with one, it is
        ignored, as Glance ignores it with multi-store off. Digests the client
        ``expected`` are checked before the artifact becomes active. ``on_active`` runs
        in the transaction that makes it active (a package takes its name there); what it
        raises fails the upload. A failure leaves the artifact ``failed``: queued, or
        killed as Glance v1 has it.
        """
        artifact = await self._queued(caller, artifact_id)
        if require_formats:
            validation.require_formats(artifact)
        await self._receive(
            artifact,
            Receiving(
                body, Status.SAVING, announced_size, store_name, expected, failed, on_active,
                by=caller, placed=placed,
            ),
        )  # fmt: skip
        return caller.view(await self._catalogue.visible(caller, artifact.id))

    async def create_uploaded(
        self,
        caller: Caller,
        changes: Changes,
        body: AsyncIterable[bytes],
        *,
        published: bool = True,
        expected: Expected | None = None,
        on_active: Callable[[Connection, str], None] | None = None,
        store_name: str | None = None,
    ) -> Artifact:
        """A new artifact with ``body`` as its data, or nothing: an upload that fails or
        is cut off removes the artifact it made, whatever the policy says of deleting and
        with delayed delete on (the web UI's form posted without scripts, the package
        faces). ``on_active`` runs as in ``upload``, given the new artifact's id too."""
        artifact = await self._catalogue.create(caller, changes, published=published)

        def activating(connection: Connection) -> None:
            if on_active is not None:
                on_active(connection, artifact.id)

        try:
            return await self.upload(
                caller, artifact.id, body, store_name=store_name, expected=expected,
                on_active=activating,
            )  # fmt: skip
        except BaseException:
            # The upload's failure is what to tell, not a failure to undo it.
            with anyio.CancelScope(shield=True), contextlib.suppress(LadingError):
                await self._catalogue.drop(artifact.id, caller)
            raise

    async def create_with(
        self, caller: Caller, changes: Changes, artifact_id: str | None, incoming: Incoming
    ) -> Artifact:
        """A new artifact with the data its request brings (Glance v1, VISoR). What can be
        refused is refused before the artifact is made; an upload that fails then leaves
        it killed, as those systems have it."""
        if incoming.placed:
            if incoming.glance_v1:
                caller.require("set_image_location")
            external, store = await self._placed(caller, incoming)
            artifact = await self._catalogue.create(caller, changes, artifact_id)
            try:
                if incoming.glance_v1:
                    validation.require_formats(artifact)
                return await self._register(caller, artifact, external, incoming.checksum, store)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._catalogue.drop(artifact.id, caller)
                raise
        if incoming.body is not None:
            self._check_upload(incoming.size, incoming.store)
        artifact = await self._catalogue.create(caller, changes, artifact_id)
        if incoming.body is None and incoming.glance_v1 and incoming.size == 0:
            # Nothing to wait for: v1 makes such an image active as it registers it.
            return await self.upload(caller, artifact.id, _nothing(), announced_size=0)
        if incoming.body is None:
            return artifact
        return await self._upload_incoming(caller, artifact.id, incoming)

    async def update_with(
        self,
        caller: Caller,
        artifact_id: str,
        changes: Callable[[Artifact], Changes],
        incoming: Incoming,
        refill_killed: bool = False,
    ) -> Artifact:
        """Metadata changes with the data the request brings, if any (Glance v1, VISoR):
        data goes only into a queued artifact (or a killed one, with ``refill_killed``:
        VISoR took new data into an image whose upload had failed), and what can be
        refused is refused before the metadata changes, so that a refused update
        changes nothing."""
        external, store = None, None
        if incoming.glance_v1 and incoming.body is None and not incoming.placed:
            _check_restated(caller, await self._catalogue.get(caller, artifact_id), incoming)
        if incoming.body is not None or incoming.placed:
            current = await self._catalogue.get(caller, artifact_id)
            caller.require_owner(current, "upload_image")
            takes = (Status.QUEUED, Status.KILLED) if refill_killed else (Status.QUEUED,)
            if current.status not in takes:
                wanted = " or ".join(takes)
                raise Conflict(f"artifact {artifact_id} is {current.status}: data only goes "
                               f"into one that is {wanted}, which has none")  # fmt: skip
            if incoming.placed:
                if incoming.glance_v1:
                    caller.require("set_image_location", current)
                external, store = await self._placed(caller, incoming, current)
            else:
                self._check_upload(incoming.size, incoming.store)
            if current.status is Status.KILLED:
                await self._database.write(_requeue_killed, artifact_id, self._clock.now())
        artifact = await self._catalogue.update(caller, artifact_id, changes)
        if external is not None and store is not None:
            if incoming.glance_v1:
                validation.require_formats(artifact)
            return await self._register(caller, artifact, external, incoming.checksum, store)
        if incoming.body is not None:
            return await self._upload_incoming(caller, artifact.id, incoming)
        return artifact

    async def _upload_incoming(
        self, caller: Caller, artifact_id: str, incoming: Incoming
    ) -> Artifact:
        assert incoming.body is not None
        return await self.upload(
            caller,
            artifact_id,
            incoming.body,
            announced_size=incoming.size,
            store_name=incoming.store,
            expected=Expected(md5=incoming.checksum),
            failed=Status.KILLED,
            require_formats=incoming.glance_v1,
        )

    def _check_upload(self, announced_size: int | None, store_name: str | None) -> None:
        """What can be refused before an artifact is made or changed for an upload: an
        announced size over the cap, a store that takes no uploads."""
        if announced_size is not None and announced_size > self._settings.image_size_cap:
            cap = self._settings.image_size_cap
            raise TooLarge(f"the data is larger than the limit of {cap} bytes")
        several, name = self._stores.several, store_name
        if name is not None and several and self._stores.get(name).read_only:
            raise BadRequest(f"store {name!r} only reads external locations")

    async def locate(self, url: str, announced_size: int | None = None) -> StoredObject:
        """The bytes at an external location (see ``_locate``)."""
        return await self._locate(url, announced_size)

    async def _locate(self, url: str, announced_size: int | None) -> StoredObject:
        """The bytes at an external location, as the http store sees them: the URL must
        pass the fetch rules, as every read of it will, carry no credentials, and lead to
        data of the announced size, under the size cap. Nothing is copied: the artifact
        registered there is active at once, its checksum the client's word."""
        store = self._stores.external()
        if len(url) > MAX_LOCATION or UrlRules(self._settings.fetch).check_url(url).userinfo:
            # A location is read at every download: credentials would be kept in clear.
            raise BadRequest(f"a location is an http(s) URL of at most {MAX_LOCATION} "
                             "characters, without credentials (user:password@); copy such "
                             "data in instead (copy-from, web-download)")  # fmt: skip
        try:
            stored = await store.stat(url)
        except ObjectNotFound as exc:
            raise NotFound(f"no data at {store.location_url(url)}: {exc}") from None
        except StoreError as exc:  # the caller's URL, not a store of ours, failed
            raise BadRequest(f"cannot read {store.location_url(url)}: {exc}") from None
        if announced_size is not None and announced_size != stored.size:
            raise BadRequest(f"the location holds {stored.size} bytes, not {announced_size}")
        self._check_upload(stored.size, None)
        return stored

    async def _placed(
        self, caller: Caller, incoming: Incoming, artifact: Artifact | None = None
    ) -> tuple[StoredObject, str]:
        """The object a location names and the store it is in: an external URL (the
        http store), or a key in one of lading's stores, which only a caller the policy
        lets set locations and claim stored objects (administrators) may name."""
        if incoming.stored_key is None:
            assert incoming.location is not None
            return await self._locate(
                incoming.location, incoming.size
            ), self._stores.external().name
        assert incoming.store is not None
        caller.require("set_image_location", artifact)
        caller.require("claim_store_object", artifact)
        store = self._stores.get(incoming.store)
        try:
            stored = await store.stat(incoming.stored_key)
        except ObjectNotFound:
            raise NotFound(f"no data in store {store.name} at {incoming.stored_key}") from None
        if incoming.size is not None and incoming.size != stored.size:
            raise BadRequest(f"the location holds {stored.size} bytes, not {incoming.size}")
        self._check_upload(stored.size, None)
        return stored, store.name

    async def _register(
        self,
        caller: Caller,
        artifact: Artifact,
        external: StoredObject,
        checksum: str | None,
        store: str,
    ) -> Artifact:
        cap = await self._room(artifact)
        if external.size > cap:
            raise TooLarge(f"the data is larger than the limit of {cap} bytes")

        def register(connection: Connection) -> None:
            uploads.register(
                connection,
                artifact.id,
                store,
                external.key,
                external.size,
                checksum,
                self._clock.now(),
            )
            self._catalogue.activated(connection, artifact.id, caller)

        await self._database.write(register)
        return caller.view(await self._catalogue.visible(caller, artifact.id))

    async def stage(
        self,
        caller: Caller,
        artifact_id: str,
        body: AsyncIterable[bytes],
        announced_size: int | None = None,
    ) -> None:
        """glance-direct's first step: the data is received as by ``upload``, and the
        artifact stays ``uploading`` until an import makes it active."""
        artifact = await self._queued(caller, artifact_id)
        await self._receive(artifact, Receiving(body, Status.UPLOADING, announced_size))

    async def import_data(
        self,
        artifact: Artifact,
        body: AsyncIterable[bytes],
        store_name: str | None = None,
        expected: Expected | None = None,
        on_active: Callable[[Connection], None] | None = None,
        announced_size: int | None = None,
    ) -> None:
        """As ``upload``, for an import task: the artifact stays ``importing`` (the task
        makes it active); the task's caller was checked when the import was asked for.
        The data is inspected as ``artifact``'s disk_format says (a conversion's output:
        the format it was converted to); ``announced_size``: exactly so many bytes."""
        await self._receive(
            artifact,
            Receiving(
                body, Status.IMPORTING, announced_size, store_name, expected, on_active=on_active
            ),
        )

    def read_data(self, artifact: Artifact) -> AsyncGenerator[bytes]:
        """The artifact's data as its first location holds it, whatever its status (an
        import reads what it fetched or staged)."""
        location = artifact.locations[0]
        return self._stores.get(location.store).open(location.key, 0, location.size)

    async def copy(
        self,
        artifact: Artifact,
        store_name: str,
        watch: Callable[[AsyncIterable[bytes]], AsyncIterable[bytes]] = lambda chunks: chunks,
    ) -> int:
        """Copy the artifact's data into another store (copy-image, imports to several
        stores), checking the copy's digests against the original's; ``watch`` sees the
        bytes pass. Returns the bytes copied (0: there already)."""
        if any(location.store == store_name for location in artifact.locations):
            return 0
        source = artifact.locations[0]
        target = self._stores.get(store_name)
        async with self._catalogue.pending_blob(target.name, self._this_process.holder) as pending:
            blob_id = pending.blob.id
            chunks = beating(
                watch(self._stores.get(source.store).open(source.key, 0, source.size)),
                self._settings.upload_stuck_after / 4,
                lambda: self._database.write(blobs.touch, blob_id, self._clock.now()),
            )
            stream = DigestingStream(chunks, self._settings.chunk_size, source.size, source.size)
            stored = await target.put(pending.blob.key, stream.chunks())
            digests = await stream.digests()
            if stored.size != source.size or source.os_hash_value not in (None, digests.sha256):
                raise StoreError(f"the copy in {store_name!r} differs from the original")
            redundant = await self._database.write(imports.add_copy, blob_id, artifact.id, digests)
            pending.redundant = [] if redundant is None else [redundant]
        return source.size

    async def remove_from_store(self, caller: Caller, artifact_id: str, store_name: str) -> None:
        """Drop an active artifact's copy in one store (Glance's delete from store), when
        another store keeps one."""
        if store_name not in {store.name for store in self._stores.all()}:
            raise Conflict(f"no store named {store_name!r}")
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require("delete_image_location", artifact)

        def remove(connection: Connection) -> list[blobs.Blob]:
            outcome = artifacts.remove_from_store(
                connection, artifact.id, store_name, self._clock.now()
            )
            if isinstance(outcome, artifacts.KeptInStore):  # raised: the write is undone
                raise _kept_error(outcome, artifact.id, store_name)
            return outcome

        await self._catalogue.discard(await self._database.write(remove))

    async def uncopy(self, artifact_id: str, store_name: str) -> None:
        """Undo a copy: the artifact's data in that store goes."""
        doomed = await self._database.write(imports.remove_copy, artifact_id, store_name)
        await self._catalogue.discard(doomed)

    async def _receive(self, artifact: Artifact, receiving: Receiving) -> None:
        """Store the data, checked as it passes, and record it: the upload's lease held
        throughout, the artifact ``receiving.status`` while it comes, and what the data
        makes it once stored (``receiving.failed`` on any failure, the bytes removed)."""
        by = receiving.by
        cap = await self._room(artifact)
        if receiving.announced_size is not None and receiving.announced_size > cap:
            raise TooLarge(f"the data is larger than the limit of {cap} bytes")
        store = self._stores.get(receiving.store_name if self._stores.several else None)
        lease = Lease(
            artifact.id, uuid.uuid4().hex, store.name, blobs.new_key(), status=receiving.status,
            failed=receiving.failed, holder=self._this_process.holder,
        )  # fmt: skip
        inspection = inspection_for(
            artifact.disk_format, artifact.container_format, self._settings.image_format
        )
        expiry = self._expiry()

        def begin(connection: Connection) -> int:
            blob_id = uploads.begin(connection, lease, expiry, self._clock.now())
            if receiving.status is Status.SAVING:
                self._outbox.notify(connection, EventType.IMAGE_PREPARE, artifact.id, by)
            return blob_id

        lease.blob_id = await self._database.write(begin)
        self._metrics.uploads_in_flight.inc()
        try:
            stream = DigestingStream(
                beating(
                    receiving.body,
                    self._settings.upload_stuck_after / 4,
                    lambda: self._renew(lease),
                ),
                self._settings.chunk_size,
                cap,
                receiving.announced_size,
                sees=None if inspection is None else inspection.feed,
            )
            try:
                placed = receiving.placed
                if placed is not None and placed.parts and store.joins(placed.parts):
                    stored = await _joined(store, placed, lease.key, stream.chunks())
                elif placed is not None and not placed.parts:
                    stored = await store.link(placed.key, lease.key)
                    async for _ in stream.chunks():  # inspected (and hashed again: checked)
                        pass
                else:
                    stored = await store.put(lease.key, stream.chunks())
            except StoreError as exc:
                # Recovery gave up on the upload and removed its partial data under it
                # (a stall, or its process taken for dead): that is the error to tell.
                lost = await self._database.read(uploads.check_held, lease)
                if lost is not None:
                    raise _lost_error(lost, lease) from exc
                raise
            digests = await stream.digests()
            if receiving.expected is not None:
                receiving.expected.check(digests)
            # Refused as a wrong digest is: back to queued, the bytes removed.
            virtual_size = None if inspection is None else inspection.verdict().virtual_size
            if stored.size != digests.size:
                raise StoreError(f"store {store.name!r} kept {stored.size} of {digests.size} bytes")
            # a stage stays uploading and an import importing, until the import is done
            final = Status.ACTIVE if receiving.status is Status.SAVING else receiving.status

            def activate(connection: Connection) -> blobs.Blob | None:
                redundant = uploads.activate(
                    connection, lease, digests, self._clock.now(), final, virtual_size
                )
                if isinstance(redundant, uploads.Lost):  # raised: what it wrote is undone
                    raise _lost_error(redundant, lease)
                if receiving.on_active is not None:
                    receiving.on_active(connection)
                if final is Status.ACTIVE:
                    self._outbox.notify(connection, EventType.IMAGE_UPLOAD, lease.artifact_id, by)
                    self._catalogue.activated(connection, lease.artifact_id, by)
                return redundant

            redundant = await self._database.write(activate)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._abandon(store, lease)
            raise
        finally:
            self._metrics.uploads_in_flight.dec()
        if redundant is not None:
            with anyio.CancelScope(shield=True):
                await self._catalogue.discard([redundant])

    async def download(self, caller: Caller, artifact_id: str) -> Download:
        """The artifact and, when it has data the caller may read, where it lies.

        The object is looked at first, so that missing bytes are an error before any
        response starts rather than a body cut short.
        """
        artifact = await self._catalogue.visible(caller, artifact_id)
        return await self.download_of(caller, artifact)

    async def download_of(self, caller: Caller | None, artifact: Artifact) -> Download:
        """As ``download``, for an artifact found already; no caller: a public download."""
        if caller is not None:
            caller.require("download_image", artifact)
        if artifact.status is Status.DEACTIVATED and not (caller is not None and caller.is_admin):
            raise Forbidden(f"artifact {artifact.id} is deactivated")
        if artifact.status not in (Status.ACTIVE, Status.DEACTIVATED) or not artifact.locations:
            return Download(artifact)
        location = artifact.locations[0]
        store = self._stores.get(location.store)
        cache = self._image_cache
        copy = None if cache is None else await cache.find(artifact, location)
        if copy is not None:
            return Download(artifact, location, store, served=self._served).cached(copy)
        stored = await store.stat(location.key)
        if stored.size != location.size:
            raise ObjectNotFound(
                f"store {store.name!r} holds {stored.size} of the {location.size} bytes of "
                f"{location.key!r}"
            )
        tee = None if cache is None else cache.tee(artifact, location)
        return Download(artifact, location, store, tee=tee, served=self._served)

    async def room(self, artifact: Artifact) -> int:
        """How many bytes data given to the artifact may hold (see ``_room``)."""
        return await self._room(artifact)

    async def _room(self, artifact: Artifact) -> int:
        """How many bytes an upload may bring: the size cap, or less under the owner's quota.

        Uploads running at once may each take the room left, so a quota can be passed by
        what they bring together; the next upload is then refused.
        """
        cap = self._settings.image_size_cap
        limit = self._settings.quota.for_project(artifact.owner).bytes
        if limit is None:
            return cap
        used = await self._database.read(usage.used_bytes, artifact.owner)  # every face's
        if used >= limit:
            raise TooLarge(f"project {artifact.owner} has used its quota of {limit} bytes")
        return min(cap, limit - used)

    async def queued(self, caller: Caller, artifact_id: str) -> Artifact:
        """The caller's artifact, waiting for data: Conflict unless it is queued."""
        return await self._queued(caller, artifact_id)

    async def _queued(self, caller: Caller, artifact_id: str) -> Artifact:
        """The caller's artifact, waiting for data (upload or stage)."""
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require_owner(artifact, "upload_image")
        if artifact.status is not Status.QUEUED:
            raise Conflict(f"artifact {artifact.id} is {artifact.status}, not queued")
        return artifact

    def shown_locations(self, caller: Caller, artifact: Artifact) -> ShownLocations:
        """Where the artifact's data lies, as much as the settings show and the policy
        lets the caller see (``get_image_location``); the URLs carry no credentials."""
        settings = self._settings
        direct, listed = settings.show_image_direct_url, settings.show_multiple_locations
        places = []
        if (direct or listed) and caller.may("get_image_location", artifact):
            for location in artifact.locations:
                url = self._stores.get(location.store).location_url(location.key)
                places.append(LocationUrl(location.store, url, location.metadata))
        return ShownLocations(
            direct_url=places[0].url if direct and places else None,
            locations=places if listed else None,
            places=places,
        )

    async def _renew(self, lease: Lease) -> None:
        """The upload's lease pushed back while its bytes flow; Conflict, or Gone, if the
        upload no longer holds its artifact."""
        lost = await self._database.write(uploads.renew, lease, self._expiry(), self._clock.now())
        if lost is not None:
            raise _lost_error(lost, lease)

    def _expiry(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._settings.upload_stuck_after)

    async def _abandon(self, store: Store, lease: Lease) -> None:
        """Undo a failed upload: saving back to queued first, then its bytes and blob.

        Removing the bytes is best effort (recovery retries), so that nothing here can
        hide the error that made the upload fail.
        """
        await self._database.write(uploads.abandon, lease)
        if lease.blob_id is not None:
            await self._catalogue.discard([blobs.Blob(lease.blob_id, store.name, lease.key)])


async def _joined(
    store: Store, placed: Placed, key: str, chunks: AsyncIterable[bytes]
) -> StoredObject:
    """The parts joined by the store as ``key`` while their bytes are read (inspected and
    hashed again, to be checked): the two take as long as the longer, not their sum."""
    joined: list[StoredObject] = []
    failures: list[BaseException] = []

    async def join() -> None:
        try:
            joined.append(await store.assemble(placed.key, placed.parts, key))
        except Exception as exc:  # raised below, as it is, not in a group
            failures.append(exc)

    async with anyio.create_task_group() as joining:
        joining.start_soon(join)
        try:
            async for _ in chunks:
                pass
        except Exception as exc:
            failures.insert(0, exc)  # the read's failure first: it says what the data is
    if failures:
        raise failures[0]
    return joined[0]


async def _nothing() -> AsyncGenerator[bytes]:
    """An empty body (an async generator that yields nothing)."""
    nothing: tuple[bytes, ...] = ()
    for chunk in nothing:
        yield chunk


def _check_restated(caller: Caller, current: Artifact, incoming: Incoming) -> None:
    """Glance v1: once an image is active, only an administrator may state another size
    or checksum for it (403); lading keeps them as the data says, whoever asks."""
    if caller.is_admin or current.status is not Status.ACTIVE:
        return
    for name, stated, actual in (("size", incoming.size, current.size),
                                 ("checksum", incoming.checksum, current.checksum)):  # fmt: skip
        if stated is not None and stated != actual:
            raise Forbidden(f"the {name} of an active image is not changed")


def _lost_error(lost: uploads.Lost, lease: Lease) -> LadingError:
    if lost is uploads.Lost.DELETED:
        return Gone(f"artifact {lease.artifact_id} was deleted during the upload")
    return Conflict(f"the upload to {lease.artifact_id} was given up as stuck (it received "
                    "nothing for too long, or its server process was taken for dead)")  # fmt: skip


def _kept_error(kept: artifacts.KeptInStore, artifact_id: str, store: str) -> LadingError:
    match kept:
        case artifacts.KeptInStore.NOT_ACTIVE:
            return Conflict("only an active image's data can be removed from a store")
        case artifacts.KeptInStore.NOT_IN_STORE:
            return NotFound(f"image {artifact_id} is not in store {store!r}")
        case artifacts.KeptInStore.ONLY_COPY:
            return Forbidden(
                f"store {store!r} holds the only copy of image {artifact_id}: "
                "delete the image instead"
            )


def _requeue_killed(connection: Connection, artifact_id: str, moment: datetime) -> None:
    """killed -> queued, so that new data may go in; Conflict when another request moved
    it first (two refills race: one wins)."""
    if not artifacts.set_status(
        connection, artifact_id, [Status.KILLED], Status.QUEUED, **artifacts.WITHOUT_DATA,
        updated_at=moment,
    ):  # fmt: skip
        artifacts.refuse_if_gone(connection, artifact_id)
        raise Conflict(f"artifact {artifact_id} is no longer killed")
