"""A container disk pushed to the registry, registered as an image of the catalogue.

A KubeVirt container disk is an image manifest whose one layer (a tar, gzip-compressed or
not) holds one disk file right inside ``disk/``. Registering it is an explicit act (``lading
registry import``), as CDI imports a registry's container disk into a volume: a push
alone never makes an image, since pushes are retried, partial and made by tools that know
nothing of the catalogue, and an image needs a name and an owner's say.

The disk streams out of the layer, as the layer's blob is read once, into a new image
through the upload path any Glance upload takes (``Transfers.create_uploaded``): hashed,
its format inspected (the ``disk_format`` its first MiB shows, raw when none, then
checked by the inspection with the safety checks every upload gets), bounded by
``image_size_cap`` and the owner's quota. The bytes are copied: lading's stores keep an
image as an object of its own, and an image that is a range of another object (a
layer's) would be a location of a kind no store, recovery or deduplication knows.

What follows the disk in the layer is read too before the image may become active: a
second disk, a link or device under ``disk/``, a name reaching out of the layer (``..``),
an archive cut short or a gzip bomb (inflated past ``package_inflate_ratio`` times what
was read, once past ``package_inflate_allowance``) fail the upload, and the image it was
making is dropped: nothing is left active.
"""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from lading.domain import Artifact
from lading.errors import BadRequest, ManifestInvalid, TooLarge, Unauthorized, Unsupported
from lading.services.archive_bounds import ArchiveBounds, inflated
from lading.services.container_disks import is_image_repository
from lading.services.inspection import detected_format
from lading.services.oci import IMAGE_MANIFESTS, Access, Registry, is_digest
from lading.services.transfers import Transfers
from lading.services.validation import Changes
from lading.settings import Settings

KiB = 1024
MiB = 1024 * KiB
BLOCK = 512
HEAD = MiB  # what tells a disk image's format
MAX_HEADER = 64 * KiB  # a long name's or a pax header's data
MAX_MEMBERS = 10_000
LAYER_OVERHEAD = 64 * MiB  # what a layer may hold besides its disk, once inflated
DISK_DIRECTORY = "disk"
LAYERS = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.diff.tar",
    }
)
REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
DATALESS = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE,
            tarfile.DIRTYPE, tarfile.FIFOTYPE)  # fmt: skip
EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")
SOURCE_PROPERTY = "container_disk_source"  # <repository>@<manifest digest>


class DiskLayerInvalid(BadRequest):
    """The layer is no container disk lading takes."""


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    kind: bytes
    size: int  # bytes of data that follow its header


class LayerReader:
    """A layer's tar, read as its bytes stream past: headers parsed, data streamed out or
    skipped, never held whole."""

    def __init__(self, chunks: AsyncIterable[bytes], disk_cap: int) -> None:
        self._chunks = aiter(chunks)
        self._buffer = bytearray()
        self._ended = False
        self._members = 0
        self._disk_cap = disk_cap
        self.disk: Member | None = None

    async def _fill(self, wanted: int) -> None:
        while len(self._buffer) < wanted and not self._ended:
            try:
                self._buffer += await anext(self._chunks)
            except StopAsyncIteration:
                self._ended = True

    async def _exactly(self, size: int) -> bytes:
        await self._fill(size)
        if len(self._buffer) < size:
            raise DiskLayerInvalid("the layer's tar is cut short: it ends inside a member")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]  # a bytearray drops its head without copying the rest
        return data

    async def _stream(self, size: int) -> AsyncIterator[bytes]:
        left = size
        while left:
            if not self._buffer:
                await self._fill(1)
                if not self._buffer:
                    raise DiskLayerInvalid("the layer's tar is cut short: it ends inside a member")
            piece = bytes(self._buffer[:left])
            del self._buffer[: len(piece)]
            left -= len(piece)
            yield piece

    async def _skip(self, size: int) -> None:
        async for _ in self._stream(size):
            pass

    async def _next(self) -> Member | None:
        """The next member's header (None: the archive's end), extended headers read."""
        pax: dict[bytes, bytes] = {}
        long_name: str | None = None
        while True:
            block = await self._exactly(BLOCK)
            if block.count(0) == BLOCK:
                return None
            self._members += 1
            if self._members > MAX_MEMBERS:
                raise DiskLayerInvalid(f"the layer holds more than {MAX_MEMBERS} members")
            try:
                info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            # tarfile's HeaderError, whatever its kind: the block is no tar header
            except Exception as exc:
                raise DiskLayerInvalid(
                    f"the layer is no tar: a header is unreadable ({exc})"
                ) from None
            kind = info.type
            if kind in EXTENDED:
                if info.size > MAX_HEADER:
                    raise DiskLayerInvalid(f"the layer has a tar header of {info.size} bytes")
                data = (await self._exactly(-(-info.size // BLOCK) * BLOCK))[: info.size]
                if kind == tarfile.GNUTYPE_LONGNAME:
                    long_name = data.rstrip(b"\0").decode("utf-8", "surrogateescape")
                elif kind == tarfile.XHDTYPE:
                    pax = _pax_records(data)
                elif b"size" in _pax_records(data):
                    raise DiskLayerInvalid("a global pax header of the layer sets a size")
                continue
            if kind == tarfile.GNUTYPE_SPARSE or any(k.startswith(b"GNU.sparse") for k in pax):
                raise DiskLayerInvalid(f"{info.name} is a sparse file")
            name = info.name
            if b"path" in pax:
                name = pax[b"path"].decode("utf-8", "surrogateescape")
            elif long_name is not None:
                name = long_name
            size = 0 if kind in DATALESS else info.size
            if b"size" in pax and kind not in DATALESS:
                try:
                    size = int(pax[b"size"])
                except ValueError:
                    raise DiskLayerInvalid("a pax header of the layer has a bad size") from None
            return Member(name, kind, size)

    def _judge(self, member: Member) -> bool:
        """Whether the member is a disk; DiskLayerInvalid for what a container disk may
        not hold."""
        parts = [part for part in member.name.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise DiskLayerInvalid(f"{member.name!r} reaches out of the layer (..)")
        if not parts or parts[0] != DISK_DIRECTORY:
            return False
        if len(parts) == 1:
            if member.kind != tarfile.DIRTYPE:
                raise DiskLayerInvalid(f"{member.name!r} is not a directory")
            return False
        if member.kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
            raise DiskLayerInvalid(f"{member.name!r} is a link: a container disk is a file")
        if member.kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
            raise DiskLayerInvalid(f"{member.name!r} is a device or a pipe")
        if parts[-1].startswith(".wh."):
            raise DiskLayerInvalid(f"{member.name!r} is a whiteout, in a layer of its own")
        is_disk = len(parts) == 2 and member.kind in REGULAR
        if is_disk and self.disk is not None:
            raise DiskLayerInvalid(
                f"the layer holds two disks, {self.disk.name!r} and {member.name!r}: a "
                "container disk holds one"
            )
        return is_disk

    async def find_disk(self) -> Member:
        """Up to the disk's header, every member before it judged and skipped."""
        while (member := await self._next()) is not None:
            if self._judge(member):
                if member.size > self._disk_cap:
                    raise TooLarge(
                        f"the disk {member.name!r} holds {member.size} bytes: more than the "
                        f"limit of {self._disk_cap}"
                    )
                self.disk = member
                return member
            await self._skip(-(-member.size // BLOCK) * BLOCK)
        raise DiskLayerInvalid("the layer holds no disk: a file right inside disk/")

    async def head(self, size: int) -> bytes:
        """The disk's first ``size`` bytes, kept to be streamed again by ``disk_data``."""
        await self._fill(size)
        return bytes(self._buffer[:size])

    async def disk_data(self) -> AsyncIterator[bytes]:
        """The disk's bytes; then the rest of the layer, judged, before the end."""
        assert self.disk is not None
        async for piece in self._stream(self.disk.size):
            yield piece
        await self._skip(-self.disk.size % BLOCK)
        while (member := await self._next()) is not None:
            self._judge(member)
            await self._skip(-(-member.size // BLOCK) * BLOCK)


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    records = {}
    position = 0
    while (match := PAX_RECORD.match(data, position)) is not None:
        length = int(match[1])
        if length <= 0:
            raise DiskLayerInvalid("a pax header of the layer is malformed")
        records[match[2]] = data[match.end(2) + 1 : match.start(1) + length - 1]
        position += length
    return records


def _layer_of(content: bytes, media_type: str) -> dict[str, Any]:
    """The manifest's one layer, when it is a container disk's."""
    if media_type not in IMAGE_MANIFESTS:
        raise ManifestInvalid(
            f"{media_type} is no image manifest: name one platform's manifest by its digest"
        )
    layers = json.loads(content).get("layers")
    if not isinstance(layers, list) or len(layers) != 1:
        count = len(layers) if isinstance(layers, list) else 0
        raise DiskLayerInvalid(f"a container disk has one layer; this manifest has {count}")
    layer: dict[str, Any] = layers[0]
    if layer.get("mediaType") not in LAYERS:
        raise Unsupported(
            f"the layer is {layer.get('mediaType')}: a container disk's is a tar, or a gzip of one"
        )
    return layer


def split_reference(reference: str) -> tuple[str, str]:
    """``name:tag``, ``name@sha256:...``, ``name:tag@sha256:...`` or ``name`` (tag
    ``latest``), as docker writes them (the registry's host left out)."""
    if "@" in reference:
        name, _, digest = reference.partition("@")
        tagged, colon, tag = name.rpartition(":")
        return (tagged if colon and "/" not in tag else name), digest  # the digest wins
    name, colon, tag = reference.rpartition(":")
    if colon and "/" not in tag:
        return name, tag
    return reference, "latest"


@dataclass(frozen=True, slots=True)
class DiskStream:
    """A container disk's disk, ready to stream out of its layer once."""

    manifest_digest: str
    size: int  # the disk's, in bytes
    head: bytes  # its first MiB at most: what tells its format
    reader: LayerReader

    def chunks(self) -> AsyncIterator[bytes]:
        return self.reader.disk_data()


class DiskImports:
    def __init__(self, settings: Settings, registry: Registry, transfers: Transfers) -> None:
        self._settings = settings
        self._registry = registry
        self._transfers = transfers

    async def resolve(self, access: Access, name: str, reference: str) -> str:
        """The digest of the manifest ``reference`` names, when it is a container disk's
        the caller may pull (its layer is read only when the disk is)."""
        if is_image_repository(name):
            raise BadRequest(f"{name} is an image of the catalogue already")
        manifest = await self._registry.manifest(access, name, reference)
        _layer_of(manifest.content, manifest.media_type)
        return manifest.digest

    async def disk(self, access: Access, name: str, reference: str) -> DiskStream:
        """The container disk's disk, its layer read up to the disk's first MiB; what
        comes after is judged as ``chunks`` streams it."""
        if is_image_repository(name):
            raise BadRequest(f"{name} is an image of the catalogue already")
        manifest = await self._registry.manifest(access, name, reference)
        layer = _layer_of(manifest.content, manifest.media_type)
        blob = await self._registry.blob(access, name, layer["digest"])
        await self._registry.check_bytes(blob)
        cap = self._settings.image_size_cap
        bounds = ArchiveBounds(
            cap + LAYER_OVERHEAD,
            self._settings.package_inflate_ratio,
            self._settings.package_inflate_allowance,
        )
        reader = LayerReader(inflated(self._registry.read(blob, 0, blob.size), bounds), cap)
        found = await reader.find_disk()
        head = await reader.head(min(found.size, HEAD))
        return DiskStream(manifest.digest, found.size, head, reader)

    async def register(
        self, access: Access, name: str, reference: str, image_name: str | None = None
    ) -> Artifact:
        """The container disk ``name:reference`` (or ``name@digest``) as a new image of the
        caller's project, active once its bytes are in; an error, and no image, otherwise."""
        caller = access.caller
        if caller is None:
            raise Unauthorized("registering an image needs a caller")
        stream = await self.disk(access, name, reference)
        separator = "@" if is_digest(reference) else ":"
        changes = Changes(
            {
                "name": f"{name}{separator}{reference}"[:255] if image_name is None else image_name,
                "disk_format": detected_format(stream.head),
                "container_format": "bare",
            },
            {SOURCE_PROPERTY: f"{name}@{stream.manifest_digest}"},
        )
        return await self._transfers.create_uploaded(caller, changes, stream.chunks())
