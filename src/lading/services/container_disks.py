"""Images of the catalogue pulled from the registry as KubeVirt container disks.

An image is the repository ``images/<image-id>`` of the registry, tagged ``latest``: an
OCI image manifest whose config says linux and the image's architecture, and whose one
layer is an uncompressed tar holding the image at ``disk/disk.qcow2`` (or
``disk/disk.img`` for a raw one), owned by uid and gid 107 (KubeVirt's qemu user) and
readable by them only, where KubeVirt looks for it. Who may pull it is who may download
the image (its visibility, its members, the policy's ``download_image``), as the Glance
faces decide: anyone, without a token, for a public one. No project can push to
``images/``: those names are the catalogue's.

The layer is never stored: it is composed when read, of a tar header, the image's own
bytes from its store, the padding to tar's next block and tar's end-of-archive blocks,
so that a ``Range`` is served by reading the parts it covers. Its sha256 is worked out
once, by reading the image through at the first pull that needs it, and kept in the
catalogue (``container_disk_layers``): most images are never pulled this way, and a read
of every image as it becomes active would double what the stores are asked for. The
config and the manifest are small and are made again on each request from the kept
digest, the image's size and its ``architecture`` property (so that they follow a change
of that property; the same inputs give the same bytes, so the same digests, across
requests, processes and restarts).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio

from lading.clock import Clock
from lading.db import container_disks as queries
from lading.db.engine import Database
from lading.domain import Artifact, Status
from lading.errors import (
    BlobUnknown,
    ManifestUnknown,
    NameUnknown,
    NotFound,
    StoreError,
    Unauthorized,
)
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.transfers import Download, Transfers

PREFIX = "images/"  # the registry's names of catalogue images: images/<image-id>
TAG = "latest"
LAYOUT = 1  # the form of the layer's tar header below; another form, another digest
BLOCK = 512
END = bytes(2 * BLOCK)  # tar's end-of-archive: two zero blocks
OWNER = 107  # KubeVirt's qemu user and group, which reads the disk
DISK_MODE = 0o440
DIRECTORY_MODE = 0o550
# What KubeVirt boots from a container disk, by disk_format: the file's extension.
EXTENSIONS = {"qcow2": "qcow2", "raw": "img"}
CONTAINERS = (None, "bare")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# Glance's (libvirt's) architecture names as OCI's (Go's) say them.
ARCHITECTURES = {
    "x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
    "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x",
    "riscv64": "riscv64", "armv7l": "arm",
}  # fmt: skip


def is_image_repository(name: str) -> bool:
    return name.startswith(PREFIX)


class ComposedLayer:
    """The layer's bytes: the tar header, the image's data, the padding and end."""

    def __init__(self, header: bytes, data: Download, data_size: int) -> None:
        self._header = header
        self._data = data
        self._data_size = data_size
        self._trailer = bytes(-data_size % BLOCK) + END

    @property
    def size(self) -> int:
        return len(self._header) + self._data_size + len(self._trailer)

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive), from the parts that hold them."""
        offset = 0
        for length, part in (
            (len(self._header), self._header),
            (self._data_size, None),
            (len(self._trailer), self._trailer),
        ):
            first, last = max(start, offset), min(end, offset + length)
            if first < last:
                if part is None:
                    async for chunk in self._data.read(first - offset, last - offset):
                        yield chunk
                else:
                    yield part[first - offset : last - offset]
            offset += length


@dataclass(frozen=True, slots=True)
class DiskManifest:
    digest: str
    content: bytes
    config_digest: str
    config: bytes
    layer_digest: str
    layer: ComposedLayer


@dataclass(frozen=True, slots=True)
class DiskBlob:
    """A blob of an image's container disk: its config, or its composed layer."""

    digest: str
    size: int
    content: bytes | None = None  # the config
    layer: ComposedLayer | None = None

    def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        if self.layer is not None:
            return self.layer.read(start, end)
        assert self.content is not None
        return _once(self.content[start:end])


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def layer_header(artifact: Artifact) -> bytes:
    """The tar headers before the image's bytes: ``disk/`` and ``disk/disk.<ext>``, as
    KubeVirt's own container disks have them. A function of the image's size and format
    only (and ``LAYOUT``), so that the digest kept for it stays true."""
    assert artifact.size is not None and artifact.disk_format is not None
    directory = tarfile.TarInfo("disk")
    directory.type = tarfile.DIRTYPE
    disk = tarfile.TarInfo(f"disk/disk.{EXTENSIONS[artifact.disk_format]}")
    disk.size = artifact.size
    for member, mode in ((directory, DIRECTORY_MODE), (disk, DISK_MODE)):
        member.mode, member.uid, member.gid, member.mtime = mode, OWNER, OWNER, 0
        member.uname = member.gname = ""
    # PAX: a disk of 8 GiB or more needs its size in an extended header, which
    # PAX_FORMAT writes then, and only then.
    return directory.tobuf(tarfile.PAX_FORMAT) + disk.tobuf(tarfile.PAX_FORMAT)


def config_of(artifact: Artifact, layer_digest: str) -> bytes:
    wanted = str(artifact.properties.get("architecture") or "amd64").lower()
    document = {
        "architecture": ARCHITECTURES.get(wanted, wanted),
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "config": {},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def manifest_of(config: bytes, layer_digest: str, layer_size: int) -> bytes:
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": layer_size}],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class ContainerDisks:
    def __init__(
        self,
        database: Database,
        catalogue: Catalogue,
        transfers: Transfers,
        clock: Clock | None = None,
    ) -> None:
        self._database = database
        self._catalogue = catalogue
        self._transfers = transfers
        self._clock = clock or Clock()
        # One reading of an image at a time in this process: a second first pull waits
        # for the digest rather than reading the image through again.
        self._working: defaultdict[str, anyio.Lock] = defaultdict(anyio.Lock)

    async def _image(self, caller: Caller | None, name: str) -> tuple[Artifact, Download]:
        """The image behind ``name`` and its data, when the caller may download it;
        NameUnknown (anonymous: Unauthorized, to be asked for a token) otherwise."""
        image_id = name.removeprefix(PREFIX)
        try:
            if caller is None:
                artifact = await self._catalogue.public(image_id)
            else:
                artifact = await self._catalogue.visible(caller, image_id)
        except NotFound:
            if caller is None:
                raise Unauthorized(f"pulling from {name} needs a token") from None
            raise NameUnknown(f"repository {name} is not known") from None
        download = await self._transfers.download_of(caller, artifact)
        if artifact.status is not Status.ACTIVE or download.location is None:
            raise ManifestUnknown(f"image {artifact.id} is {artifact.status}, with no data to pull")
        if artifact.disk_format not in EXTENSIONS or artifact.container_format not in CONTAINERS:
            raise ManifestUnknown(
                f"image {artifact.id} is {artifact.disk_format} in {artifact.container_format}: "
                "a container disk holds a bare raw or qcow2 disk"
            )
        return artifact, download

    async def manifest(self, caller: Caller | None, name: str, reference: str) -> DiskManifest:
        artifact, download = await self._image(caller, name)
        found = await self._manifest(artifact, download)
        if reference not in (TAG, found.digest):
            raise ManifestUnknown(f"repository {name} has no manifest {reference} (only {TAG})")
        return found

    async def tags(self, caller: Caller | None, name: str) -> list[str]:
        await self._image(caller, name)
        return [TAG]

    async def blob(self, caller: Caller | None, name: str, digest: str) -> DiskBlob:
        artifact, download = await self._image(caller, name)
        found = await self._manifest(artifact, download)
        if digest == found.config_digest:
            return DiskBlob(digest, len(found.config), content=found.config)
        if digest == found.layer_digest:
            return DiskBlob(digest, found.layer.size, layer=found.layer)
        raise BlobUnknown(f"repository {name} holds no blob {digest}")

    async def _manifest(self, artifact: Artifact, download: Download) -> DiskManifest:
        assert download.location is not None
        layer = ComposedLayer(layer_header(artifact), download, download.location.size)
        sha256 = await self._layer_digest(artifact, layer)
        layer_digest = f"sha256:{sha256}"
        config = config_of(artifact, layer_digest)
        content = manifest_of(config, layer_digest, layer.size)
        return DiskManifest(_digest(content), content, _digest(config), config, layer_digest, layer)

    async def _layer_digest(self, artifact: Artifact, layer: ComposedLayer) -> str:
        """The layer's sha256: kept, or worked out now (once) and kept."""
        kept = await self._database.read(queries.find_layer, artifact.id)
        if kept is not None and kept.layout == LAYOUT and kept.size == layer.size:
            return kept.sha256
        lock = self._working[artifact.id]
        try:
            async with lock:
                kept = await self._database.read(queries.find_layer, artifact.id)
                if kept is not None and kept.layout == LAYOUT and kept.size == layer.size:
                    return kept.sha256
                sha256 = await _hash(layer)
                found = queries.Layer(LAYOUT, layer.size, sha256)
                await self._database.write(
                    queries.remember_layer, artifact.id, found, self._clock.now()
                )
                return sha256
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._working.pop(artifact.id, None)


async def _hash(layer: ComposedLayer) -> str:
    """The sha256 of the whole layer, read through once; hashing off the event loop."""
    digest = hashlib.sha256()
    seen = 0
    async for chunk in layer.read(0, layer.size):
        seen += len(chunk)
        if len(chunk) > 64 * 1024:
            await anyio.to_thread.run_sync(digest.update, chunk)
        else:
            digest.update(chunk)
    if seen != layer.size:
        raise StoreError(f"the image's layer read {seen} of its {layer.size} bytes")
    return digest.hexdigest()
