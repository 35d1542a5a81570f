"""Resumable uploads (the tus protocol 1.0): data that arrives over many requests, on any
node, and becomes an artifact's data once its last byte is in.

An upload belongs to its caller's project. Each PATCH that brings bytes writes one part
on the default store (a file appended to, on the filesystem store; an object per part on
object stores), hashed (md5 and sha256) as it arrives, and recorded in the catalogue with
the new offset in one compare-and-set: what a cut-off PATCH brought is kept up to its last
byte, and a PATCH whose ``Upload-Checksum`` fails leaves nothing.

The running hashes of an upload stay in the process (``uploads.hashers`` of them, the
least recently used evicted). hashlib's state cannot be serialised, so a process that does
not hold an upload's hashes (another node, a restart, an eviction) rebuilds them by
reading back the bytes stored so far, in constant memory, before it appends.

Once the last byte is in, the parts are streamed through the same service call as any
other upload of their kind (``Upload-Metadata`` says which): ``Transfers.upload`` into a
queued image (new, made from the metadata at creation, or existing: ``artifact``),
``Transfers.stage`` (``stage``), and for packages the call of their face:
``Packages.put_file`` (``package=pnda``), ``Packages.add`` (``package=click``),
``Onboarding.upload`` (``package=osm``, an onboarding transaction). Quotas, size caps,
names, archive checks, format inspection, digests, events and the state machine are
theirs; the md5 and sha256 hashed on arrival are the digests the data must have there.
A refused finish removes the upload and its bytes and leaves the artifact queued
(retryable); a failure of a store or the catalogue leaves the upload whole, for the client
to retry its last PATCH (an OSM onboarding that fails, for whatever reason, is a refusal:
its transaction records why, and the onboarding face would not keep its bytes either).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import anyio

from lading.clock import Clock
from lading.db import artifacts as artifact_queries
from lading.db import tus as queries
from lading.db.engine import Database
from lading.domain import Status, TaskStatus
from lading.errors import (
    BadRequest,
    CatalogueUnavailable,
    ChecksumMismatch,
    ClientDisconnected,
    Conflict,
    Gone,
    LadingError,
    NotFound,
    StoreError,
    TooLarge,
)
from lading.processes import ThisProcess
from lading.serial_thread import SerialThread
from lading.services import validation
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.digests import HashStates, RunningHashes, rechunked, rehash
from lading.services.onboarding import Onboarding
from lading.services.packages import NewPackage, Packages, parse_filename
from lading.services.transfers import Expected, Placed, Transfers
from lading.services.validation import Changes
from lading.settings import Settings
from lading.stores.base import Part
from lading.stores.registry import StoreRegistry

TUS_VERSION = "1.0.0"
EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "checksum",
    "expiration",
)
CHECKSUM_ALGORITHMS = ("md5", "sha1", "sha256")
IMAGE, STAGE, PACKAGE = "image", "stage", "package"
PNDA, CLICK, OSM = "pnda", "click", "osm"
PACKAGE_KINDS = (PNDA, CLICK, OSM)
OSM_MODES = ("onboard", "update")  # OSM's two flows: a new package, a new version of one
# Upload-Metadata keys that are the image's fields, as Glance's create takes them.
TEXT_FIELDS = ("name", "disk_format", "container_format", "visibility")
NUMBER_FIELDS = ("min_disk", "min_ram")
FLAG_FIELDS = ("protected", "os_hidden")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
SWEEP_BATCH = 100
MAX_METADATA = 8192  # characters of Upload-Metadata kept and echoed by HEAD
HASH_DEPTH = 2  # chunks waiting for each hasher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Checksum:
    """A PATCH's ``Upload-Checksum``: the algorithm and the digest of its body."""

    algorithm: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """What a client is told of an upload."""

    id: str
    offset: int
    length: int | None  # None: deferred
    metadata: str  # Upload-Metadata as sent
    expires_at: datetime | None  # None: finished, nothing to expire
    artifact_id: str | None


class Resumable:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        catalogue: Catalogue,
        transfers: Transfers,
        packages: Packages,
        onboarding: Onboarding,
        this_process: ThisProcess,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._stores = stores
        self._catalogue = catalogue
        self._transfers = transfers
        self._packages = packages
        self._onboarding = onboarding
        self._this_process = this_process
        self._clock = clock or Clock()
        self.hashes = HashStates(settings.uploads.hashers)

    @property
    def max_size(self) -> int:
        return self._settings.image_size_cap

    # Creation

    async def create(
        self,
        caller: Caller,
        length: int | None,
        metadata_text: str,
        metadata: Mapping[str, str | None],
    ) -> UploadInfo:
        """A new upload of ``length`` bytes (None: told later), for what ``metadata``
        names; what would be refused at the end is refused now, before any byte."""
        if length is not None and length > self.max_size:
            raise TooLarge(f"an upload may not exceed {self.max_size} bytes")
        purpose, artifact_id, made = await self._target(caller, metadata)
        try:
            if length is not None and artifact_id is not None:
                artifact = await self._catalogue.visible(caller, artifact_id)
                room = await self._transfers.room(artifact)
                if length > room:
                    raise TooLarge(f"the data is larger than the limit of {room} bytes")
            store = self._stores.get(None)
            upload_id = str(uuid.uuid4())
            moment = self._clock.now()
            upload = queries.Upload(
                upload_id, caller.project, caller.user, store.name,
                f"tus/{upload_id[:2]}/{upload_id}", length, 0, 0, metadata_text, purpose,
                artifact_id, made, queries.RECEIVING, self._expiry(), moment,
            )  # fmt: skip
            await self._database.write(queries.insert_upload, upload)
        except BaseException:
            if made and artifact_id is not None:
                with anyio.CancelScope(shield=True), contextlib.suppress(LadingError):
                    await self._catalogue.drop(artifact_id, caller)
            raise
        return _info(upload)

    async def _target(
        self, caller: Caller, metadata: Mapping[str, str | None]
    ) -> tuple[str, str | None, bool]:
        """What the upload is for: (purpose, the artifact, whether the upload made it)."""
        kind = metadata.get("package")
        if kind is not None:
            if kind not in PACKAGE_KINDS:
                raise BadRequest(f"package is one of {', '.join(PACKAGE_KINDS)}, not {kind!r}")
            await self._admissible(caller, kind, metadata)  # refused now, not after the last byte
            return PACKAGE, None, False
        stage = _flag(metadata, "stage")
        artifact_id = metadata.get("artifact")
        if artifact_id is not None:
            artifact = await self._transfers.queued(caller, artifact_id)
            if not stage:
                validation.require_formats(artifact)
            return (STAGE if stage else IMAGE), artifact.id, False
        artifact = await self._catalogue.create(
            caller, _changes(metadata), published=self._settings.published_by_default.glance_v2
        )
        if not stage:
            try:
                validation.require_formats(artifact)
            except BadRequest:
                with anyio.CancelScope(shield=True):
                    await self._catalogue.drop(artifact.id, caller)
                raise
        return (STAGE if stage else IMAGE), artifact.id, True

    async def _admissible(
        self, caller: Caller, kind: str, metadata: Mapping[str, str | None]
    ) -> None:
        """What the package's face would refuse whatever the bytes, refused before them."""
        if kind == OSM:
            caller.require("add_image")
            _osm_mode(metadata)
            return
        filename = metadata.get("filename")
        if not filename:
            raise BadRequest("a package upload names its file (filename)")
        if kind == PNDA:
            parse_filename(filename)
            return
        await self._packages.admissible(caller, self._click_package(metadata, None))

    def _click_package(
        self, metadata: Mapping[str, str | None], expected: Expected | None
    ) -> NewPackage:
        """A Click package as its face's upload form gives it (without the properties:
        tus clients send keys of their own, such as ``filetype``)."""
        visibility = metadata.get("visibility")
        return NewPackage(
            name=metadata.get("name") or "",
            version=metadata.get("version") or "",
            filename=metadata.get("filename") or "",
            published=self._settings.published_by_default.click,
            fields={} if visibility is None else {"visibility": visibility},
            expected=expected,
        )

    # Reading

    async def status(self, caller: Caller, upload_id: str) -> UploadInfo:
        return _info(await self._mine(caller, upload_id))

    async def _mine(self, caller: Caller, upload_id: str) -> queries.Upload:
        """The caller's project's upload: another project's is not found; one past its
        expiry is gone (until recovery forgets it)."""
        upload = await self._database.read(queries.find, check_upload_id(upload_id))
        if upload is None or upload.project != caller.project or upload.state == queries.REMOVING:
            raise NotFound(f"no upload {upload_id}")
        if upload.expires_at < self._clock.now() and upload.state != queries.FINISHING:
            raise Gone(f"upload {upload_id} expired")
        return upload

    # Appending

    async def append(
        self,
        caller: Caller,
        upload_id: str,
        offset: int,
        body: AsyncIterable[bytes],
        checksum: Checksum | None = None,
        length: int | None = None,
    ) -> UploadInfo:
        """Bytes from ``offset`` on (the body may end early: what came is kept, unless a
        checksum was given and fails). ``length``: a deferred length, stated now."""
        upload = await self._mine(caller, upload_id)
        if upload.state == queries.DONE:
            if offset == upload.offset:
                return _info(upload)
            raise Conflict(f"upload {upload_id} is complete: it holds {upload.offset} bytes")
        if upload.state == queries.FINISHING:
            raise Conflict(f"upload {upload_id} is being finished")
        if offset != upload.offset:
            raise Conflict(f"upload {upload_id} is at offset {upload.offset}, not {offset}")
        total = self._length(upload, length)
        if total is not None and total == upload.offset:  # a finish to try again
            return await self._finish(caller, upload)
        token = uuid.uuid4().hex
        claimed = await self._database.write(
            queries.claim, upload.id, offset, token, self._this_process.holder.id,
            self._claim_until(), self._clock.now(),
        )  # fmt: skip
        if not claimed:
            raise Conflict(f"another request is writing to upload {upload_id}")
        hashes: RunningHashes | None = None
        try:
            hashes = self.hashes.take(upload.id, offset) or await self._rebuild(upload)
            room = total if total is not None else self.max_size
            receiving = _Receiving(
                body, room - offset, hashes, checksum, self._settings.chunk_size,
                lambda: self._database.write(queries.renew, upload.id, token, self._claim_until()),
                self._settings.upload_stuck_after / 4,
            )  # fmt: skip
            store = self._stores.get(upload.store)
            stored = await store.put_part(upload.key, upload.parts, offset, receiving.chunks())
            await receiving.drain()
            if stored.size != receiving.size:
                raise StoreError(f"store {store.name!r} kept {stored.size} of "
                                 f"{receiving.size} bytes")  # fmt: skip
            if checksum is not None and receiving.checksum() != checksum.digest:
                with anyio.CancelScope(shield=True):
                    await store.discard_part(upload.key, upload.parts, offset)
                raise ChecksumMismatch(
                    f"the body's {checksum.algorithm} is not the Upload-Checksum given: "
                    f"its {receiving.size} bytes are discarded"
                )
            part = queries.Part(upload.parts, offset, stored.size)
            recorded = await self._database.write(
                queries.add_part, upload.id, token, part,
                length if upload.length is None else None, self._expiry(), self._clock.now(),
            )  # fmt: skip
            if not recorded:
                raise Conflict(f"upload {upload_id} was taken over or removed meanwhile")
            self.hashes.keep(upload.id, receiving.hashes())
        finally:
            with anyio.CancelScope(shield=True):
                await self._database.write(queries.release, upload.id, token)
        upload = await self._mine(caller, upload_id)
        if upload.length is not None and upload.offset == upload.length:
            return await self._finish(caller, upload)
        return _info(upload)

    def _length(self, upload: queries.Upload, stated: int | None) -> int | None:
        if stated is None:
            return upload.length
        if upload.length is not None and stated != upload.length:
            raise BadRequest(f"the upload's length is {upload.length}; it cannot change")
        if stated < upload.offset:
            raise BadRequest(f"the upload holds {upload.offset} bytes already, over {stated}")
        if stated > self.max_size:
            raise TooLarge(f"an upload may not exceed {self.max_size} bytes")
        return stated

    async def _rebuild(self, upload: queries.Upload) -> RunningHashes:
        """The running hashes of the bytes stored so far, read back from the store."""
        if upload.offset == 0:
            return RunningHashes.empty()
        store = self._stores.get(upload.store)
        parts = await self._parts(upload)
        hashes = await rehash(store.open_parts(upload.key, parts, 0, upload.offset))
        if hashes.offset != upload.offset:
            raise StoreError(f"store {store.name!r} holds {hashes.offset} of the "
                             f"{upload.offset} bytes of upload {upload.id}")  # fmt: skip
        return hashes

    async def _parts(self, upload: queries.Upload) -> list[Part]:
        found = await self._database.read(queries.parts, upload.id)
        return [Part(part.number, part.offset, part.size) for part in found]

    # Finishing

    async def _finish(self, caller: Caller, upload: queries.Upload) -> UploadInfo:
        """The whole data, through the service call of the upload's kind."""
        token = uuid.uuid4().hex
        holder = self._this_process.holder.id
        moment = self._clock.now()
        if not await self._database.write(
            queries.claim, upload.id, upload.offset, token, holder, self._claim_until(), moment
        ):
            raise Conflict(f"another request is finishing upload {upload.id}")
        if not await self._database.write(
            queries.set_state, upload.id, queries.RECEIVING, queries.FINISHING, moment
        ):
            await self._database.write(queries.release, upload.id, token)
            raise Conflict(f"another request is finishing upload {upload.id}")
        try:
            artifact_id = await self._deliver(caller, upload)
        except (StoreError, CatalogueUnavailable, ClientDisconnected):
            # Nothing wrong with the data: the upload stays, its last PATCH to retry.
            with anyio.CancelScope(shield=True):
                await self._database.write(
                    queries.set_state, upload.id, queries.FINISHING, queries.RECEIVING,
                    self._clock.now(),
                )  # fmt: skip
                await self._database.write(queries.release, upload.id, token)
            raise
        except BaseException:
            # Refused (its format, its digests, a quota, a name): the bytes go; the
            # artifact stays queued, to take another upload.
            with anyio.CancelScope(shield=True):
                await self._forget(upload.id, (queries.FINISHING,), keep_artifact=True)
            raise
        with anyio.CancelScope(shield=True):
            await self._database.write(
                queries.set_state, upload.id, queries.FINISHING, queries.DONE,
                self._clock.now(), artifact_id, self._expiry(),
            )  # fmt: skip
            await self._database.write(queries.release, upload.id, token)
            self.hashes.take(upload.id, upload.offset)
            # Should this fail, the parts go when the finished upload's record expires.
            with contextlib.suppress(LadingError):
                await self._stores.get(upload.store).delete_parts(upload.key, upload.parts)
        done = await self._database.read(queries.find, upload.id)
        assert done is not None
        return _info(done)

    async def _deliver(self, caller: Caller, upload: queries.Upload) -> str:
        assert upload.length is not None
        store = self._stores.get(upload.store)
        parts = await self._parts(upload)
        data = store.open_parts(upload.key, parts, 0, upload.length)
        if upload.purpose == PACKAGE:
            return await self._deliver_package(caller, upload, data)
        assert upload.artifact_id is not None
        if upload.purpose == STAGE:
            await self._transfers.stage(caller, upload.artifact_id, data, upload.length)
            return upload.artifact_id
        hashes = self.hashes.take(upload.id, upload.offset) or await self._rebuild(upload)
        expected = Expected(md5=hashes.md5.hexdigest(), sha256=hashes.sha256.hexdigest())
        placed = None
        if upload.parts and store.name == self._transfers.default_store:
            # One file already: the image's object is a second name for it, not a copy;
            # parts as objects: joined by the store where it can (S3's part copies).
            placed = Placed(upload.key, () if store.appends_in_place else tuple(parts))
        await self._transfers.upload(
            caller, upload.artifact_id, data, announced_size=upload.length, expected=expected,
            require_formats=True, placed=placed,
        )  # fmt: skip
        return upload.artifact_id

    async def _deliver_package(
        self, caller: Caller, upload: queries.Upload, data: AsyncIterable[bytes]
    ) -> str:
        metadata = parse_metadata(upload.metadata)
        kind = metadata.get("package")
        filename = metadata.get("filename") or ""
        if kind == OSM:
            task = await self._onboarding.upload(caller, _osm_mode(metadata), filename, data)
            if task.status is not TaskStatus.SUCCESS or not task.result:
                # The transaction says why (its events); the package is not kept.
                raise BadRequest(f"onboarding transaction {task.id} failed: {task.message}")
            return str(task.result["package_id"])
        if kind == CLICK:
            hashes = self.hashes.take(upload.id, upload.offset) or await self._rebuild(upload)
            arrived = Expected(md5=hashes.md5.hexdigest(), sha256=hashes.sha256.hexdigest())
            for algorithm in ("md5", "sha256"):
                declared = (metadata.get(algorithm) or "").lower()
                if declared and declared != getattr(arrived, algorithm):
                    raise ChecksumMismatch(f"the data's {algorithm} is not the {algorithm} given")
            package = self._click_package(metadata, arrived)
            return (await self._packages.add(caller, package, data)).id
        return (await self._packages.put_file(caller, filename, data)).id

    # Ending

    async def terminate(self, caller: Caller, upload_id: str) -> None:
        """The upload and its bytes removed (termination); an artifact it made and that
        is still queued goes with it."""
        await self._mine(caller, upload_id)
        if not await self._forget(upload_id, (queries.RECEIVING, queries.DONE), caller):
            raise Conflict(f"upload {upload_id} is being written to or finished")

    async def _forget(
        self,
        upload_id: str,
        states: tuple[str, ...],
        caller: Caller | None = None,
        keep_artifact: bool = False,
    ) -> bool:
        """The upload removed with its bytes, and the queued image it made unless
        ``keep_artifact`` (a refused finish: the image takes another upload)."""
        moment = self._clock.now()
        removed = await self._database.write(queries.begin_removal, upload_id, states, moment)
        if removed is None:
            return False
        self.hashes.take(upload_id, removed.offset)
        made = removed.made_artifact and not keep_artifact and removed.state != queries.DONE
        if made and removed.artifact_id is not None:
            status = await self._database.read(artifact_queries.status_of, removed.artifact_id)
            if status is Status.QUEUED:
                with contextlib.suppress(LadingError):
                    await self._catalogue.drop(removed.artifact_id, caller)
        with contextlib.suppress(LadingError):  # the sweep tries again (``REMOVING``)
            await self._remove_parts(removed)
        return True

    async def _remove_parts(self, upload: queries.Upload) -> None:
        """The upload's parts deleted, then its records (a finished upload's parts were
        deleted at its finish: deleting them again is nothing, unless that failed)."""
        await self._stores.get(upload.store).delete_parts(upload.key, upload.parts)
        await self._database.write(queries.remove, upload.id)

    async def sweep(self) -> int:
        """Expired uploads forgotten, their bytes removed, and the bytes of uploads whose
        removal failed removed again; returns how many uploads were forgotten."""
        swept = 0
        for upload in await self._database.read(queries.removing, SWEEP_BATCH):
            try:
                await self._remove_parts(upload)
            except LadingError as exc:  # the store is still failing: the next sweep
                log.warning("the parts of upload %s are still to be removed: %s", upload.id, exc)
        for upload_id in await self._database.read(queries.expired, self._clock.now(), SWEEP_BATCH):
            if await self._forget(upload_id, (queries.RECEIVING, queries.DONE)):
                swept += 1
        return swept

    def _expiry(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._settings.uploads.expire_after)

    def _claim_until(self) -> datetime:
        return self._clock.now() + timedelta(seconds=self._settings.upload_stuck_after)


class _Receiving:
    """A PATCH's body: counted, bounded, hashed into the upload's running hashes (copies,
    so that a refused part leaves them as they were) and its own checksum, re-chunked to
    ``chunk_size``; a sign of life every ``beat_every`` seconds."""

    def __init__(
        self,
        body: AsyncIterable[bytes],
        room: int,
        hashes: RunningHashes,
        checksum: Checksum | None,
        chunk_size: int,
        beat: Any,
        beat_every: float,
    ) -> None:
        self._body = body
        self._room = room
        self._offset = hashes.offset
        self._md5 = hashes.md5.copy()
        self._sha256 = hashes.sha256.copy()
        self._check = None if checksum is None else hashlib.new(checksum.algorithm)
        self._chunk_size = chunk_size
        self._beat = beat
        self._beat_every = beat_every
        self.size = 0
        self._threads = [
            SerialThread("lading-md5", HASH_DEPTH),
            SerialThread("lading-sha256", HASH_DEPTH),
        ]
        if self._check is not None:
            self._threads.append(SerialThread("lading-checksum", HASH_DEPTH))

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in rechunked(self._counted(), self._chunk_size):
                await self._hash(chunk)
                yield chunk
        finally:
            for thread in self._threads:
                thread.close()

    async def _counted(self) -> AsyncIterator[bytes]:
        """The body's pieces, counted against the room left, with signs of life."""
        last_beat = time.monotonic()
        async for piece in self._body:
            self.size += len(piece)
            if self.size > self._room:
                raise BadRequest(
                    f"the body goes past the upload's length ({self._room} bytes were left)"
                )
            yield piece
            if time.monotonic() - last_beat > self._beat_every:
                last_beat = time.monotonic()
                await self._beat()

    async def _hash(self, chunk: bytes) -> None:
        hashers = [self._md5, self._sha256] + ([self._check] if self._check is not None else [])
        for thread, hasher in zip(self._threads, hashers, strict=True):
            await thread.submit(hasher.update, chunk)

    async def drain(self) -> None:
        for thread in self._threads:
            await thread.drain()

    def checksum(self) -> bytes:
        assert self._check is not None
        return bytes(self._check.digest())

    def hashes(self) -> RunningHashes:
        return RunningHashes(self._offset + self.size, self._md5, self._sha256)


def _info(upload: queries.Upload) -> UploadInfo:
    done = upload.state == queries.DONE
    return UploadInfo(
        upload.id, upload.offset, upload.length, upload.metadata,
        None if done else upload.expires_at, upload.artifact_id,
    )  # fmt: skip


def _osm_mode(metadata: Mapping[str, str | None]) -> str:
    mode = metadata.get("mode") or "onboard"
    if mode not in OSM_MODES:
        raise BadRequest(f"mode is one of {', '.join(OSM_MODES)}, not {mode!r}")
    return mode


def _flag(metadata: Mapping[str, str | None], key: str) -> bool:
    if key not in metadata:
        return False
    value = (metadata[key] or "true").lower()  # a key alone is a flag set
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise BadRequest(f"{key} is true or false, not {value!r}")


def _changes(metadata: Mapping[str, str | None]) -> Changes:
    """A new image's fields, as Glance's create would take them, from the metadata."""
    fields: dict[str, Any] = {}
    for key in TEXT_FIELDS:
        if metadata.get(key) is not None:
            fields[key] = metadata[key]
    if "name" not in fields and metadata.get("filename"):
        fields["name"] = metadata["filename"]
    for key in NUMBER_FIELDS:
        value = metadata.get(key)
        if value is not None:
            if not value.isdigit():
                raise BadRequest(f"{key} is a whole number, not {value!r}")
            fields[key] = int(value)
    for key in FLAG_FIELDS:
        if key in metadata:
            fields[key] = _flag(metadata, key)
    tags = metadata.get("tags")
    listed = None if tags is None else [tag.strip() for tag in tags.split(",") if tag.strip()]
    return Changes(fields, {}, listed)


def parse_metadata(text: str) -> dict[str, str | None]:
    """``Upload-Metadata``: comma-separated pairs of a key and its value in base64 (or a
    key alone); keys unique, values UTF-8 text here."""
    if len(text) > MAX_METADATA:
        raise BadRequest(f"Upload-Metadata may not exceed {MAX_METADATA} characters")
    found: dict[str, str | None] = {}
    for pair in text.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        encoded = encoded.strip()
        if not key or " " in encoded or key in found:
            raise BadRequest(f"Upload-Metadata: {pair[:100]!r} is not a key and base64 value")
        if not encoded:
            found[key] = None
            continue
        try:
            found[key] = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(f"Upload-Metadata: the value of {key!r} is not base64 of "
                             "UTF-8 text") from None  # fmt: skip
    return found


def check_upload_id(upload_id: str) -> str:
    """An upload's id as lading makes them (a UUID's text); any other names no upload."""
    try:
        if str(uuid.UUID(upload_id)) == upload_id:
            return upload_id
    except ValueError:
        pass
    raise NotFound(f"no upload {upload_id[:64]!r}")
