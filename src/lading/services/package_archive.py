"""Reading a package archive as it streams past, without unpacking it anywhere.

An OSM package is a tar (gzip-compressed or not) holding one descriptor (YAML or JSON),
maybe a ``checksums.txt`` (lines of ``md5  path``) and the files the descriptor refers
to. The bytes flow on to a store unchanged (once ungzipped, within the bounds of
``archive_bounds``, which also refuse what follows the archive's end), while a worker thread
reads the same bytes with ``tarfile`` in stream mode: each member's path, kind, size,
MD5 and where its data begins in the archive, so that a stored package can later be
browsed by reading ranges of it. Only the descriptor and the checksums file are kept in
memory, and only up to ``MAX_KEPT`` bytes each.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import posixpath
import queue
import tarfile
import threading
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import yaml

from lading.domain import ArchiveMember
from lading.services.archive_bounds import MAX_HEADER, PackageInvalid

MiB = 1024 * 1024
MAX_KEPT = 256 * 1024  # the largest descriptor or checksums file read
MAX_MEMBERS = 10_000
MAX_PATH = 1024
MAX_KEPT_TOTAL = 4 * MiB  # all the files that may be the descriptor, together
DESCRIPTOR_SUFFIXES = (".yaml", ".yml", ".json")
DESCRIPTOR_KINDS = ("vnfd", "nsd", "pnfd")
CHECKSUMS = "checksums.txt"
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's when there
QUEUE_DEPTH = 8  # chunks waiting for the reading thread
INVALID_HEADER: type[Exception] = tarfile.InvalidHeaderError  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Descriptor:
    kind: str  # vnfd | nsd | pnfd
    id: str
    version: str
    name: str | None
    path: str
    document: Any = field(repr=False, compare=False)


@dataclass(slots=True)
class Report:
    """What a valid package holds."""

    descriptor: Descriptor
    members: list[ArchiveMember]
    checked: int  # files whose MD5 the checksums file listed and that matched


class _Pipe:
    """A file the reading thread reads what the event loop writes into it."""

    def __init__(self) -> None:
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUE_DEPTH)
        self._buffer = bytearray()
        self._ended = False
        self._abandoned = False

    def abandon(self) -> None:
        """End the reading thread's input at once, whatever is still queued."""
        self._abandoned = True
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def put(self, chunk: bytes | None) -> None:
        try:
            self._queue.put_nowait(chunk)
        except queue.Full:
            await anyio.to_thread.run_sync(self._queue.put, chunk)

    def read(self, size: int = -1) -> bytes:
        while not self._ended and (size < 0 or len(self._buffer) < size):
            chunk = self._queue.get()
            if chunk is None or self._abandoned:
                self._ended = True
            else:
                self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]  # cheap: a bytearray drops its head without copying the rest
        return data

    def drain(self) -> None:
        while not self._ended:
            self.read(MiB)
            self._buffer.clear()


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a long name or a pax header whole, however large it says it is; and
    it takes a header it cannot read, past the first, for the archive's end, which would
    leave the members after it unread (yet stored)."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Any:
        try:
            return super().frombuf(buf, encoding, errors)
        except INVALID_HEADER as exc:
            raise PackageInvalid(
                "unreadable-package", f"a tar header is unreadable: {exc}"
            ) from None

    def _proc_gnulong(self, archive: Any) -> Any:
        self._bound()
        return super()._proc_gnulong(archive)  # type: ignore[misc]

    def _proc_pax(self, archive: Any) -> Any:
        self._bound()
        return super()._proc_pax(archive)  # type: ignore[misc]

    def _bound(self) -> None:
        if self.size > MAX_HEADER:
            raise PackageInvalid("unreadable-package", f"a tar header of {self.size} bytes")


class ArchiveReader:
    """Pass ``chunks(source)`` on to a store; then ``await report()``."""

    def __init__(self) -> None:
        self._pipe = _Pipe()
        self._members: list[ArchiveMember] = []
        self._kept: dict[str, bytes] = {}
        self._paths: set[str] = set()
        self._error: PackageInvalid | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, name="lading-archive", daemon=True)

    async def chunks(self, source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        self._thread.start()
        try:
            async for chunk in source:
                if self._error is not None:
                    raise self._error  # no need to store the rest of what cannot be taken
                await self._pipe.put(chunk)
                yield chunk
        except BaseException:
            self._pipe.abandon()
            raise
        await self._pipe.put(None)
        await anyio.to_thread.run_sync(self._done.wait)
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop the reading thread, if a consumer left ``chunks`` before its end."""
        if self._thread.is_alive():
            self._pipe.abandon()

    async def report(self) -> Report:
        """What the archive holds, once ``chunks`` is exhausted; PackageInvalid if it is
        not a valid package. (YAML is parsed on a thread: it may take a while.)"""
        return await anyio.to_thread.run_sync(self._report)

    def _report(self) -> Report:
        members = self._members
        try:
            descriptor = _descriptor(members, self._kept)
            root = posixpath.dirname(descriptor.path)
            checked = _check_checksums(members, self._kept, root)
            _check_references(descriptor, members)
        except RecursionError:
            raise PackageInvalid("descriptor-error", "the descriptor nests too deeply") from None
        return Report(descriptor, members, checked)

    def _read(self) -> None:
        try:
            with tarfile.open(  # type: ignore[call-overload]
                fileobj=self._pipe, mode="r|", tarinfo=_BoundedTarInfo, bufsize=MiB
            ) as archive:
                for info in archive:
                    self._add(archive, info)
                self._check_end(archive)
        except PackageInvalid as exc:
            self._error = exc
        except (tarfile.TarError, EOFError, UnicodeError) as exc:
            self._error = PackageInvalid(
                "unreadable-package", f"the package is not a readable tar archive: {exc}"
            )
        finally:
            self._pipe.drain()
            self._done.set()

    def _check_end(self, archive: tarfile.TarFile) -> None:
        """Only zeros follow where tarfile saw the archive end, as they follow where
        ``archive_bounds`` did: no member is stored that was not read."""
        while piece := archive.fileobj.read(MiB):
            if piece.count(0) != len(piece):
                raise PackageInvalid(
                    "unreadable-package",
                    f"the tar archive seems to end at byte {archive.offset}, but goes on",
                )

    def _add(self, archive: tarfile.TarFile, info: tarfile.TarInfo) -> None:
        if len(self._members) == MAX_MEMBERS:
            raise PackageInvalid("unreadable-package", f"more than {MAX_MEMBERS} files")
        path = _safe_path(info.name)
        if path is None:
            return  # the root itself ("." or "./")
        if path in self._paths:
            raise PackageInvalid("unreadable-package", f"{path} is in the archive twice")
        self._paths.add(path)
        if info.issparse():
            raise PackageInvalid("unreadable-package", f"{path} is a sparse file")
        if info.isdir():
            self._members.append(ArchiveMember(path, "directory", 0, info.offset_data))
        elif info.issym() or info.islnk():
            base = posixpath.dirname(path) if info.issym() else ""
            target = posixpath.normpath(posixpath.join(base, info.linkname))
            # No ".." at all: through other links, even one that looks inside could lead out.
            if info.linkname.startswith("/") or ".." in info.linkname.split("/"):
                raise PackageInvalid(
                    "unsafe-path",
                    f"{path} links to {info.linkname!r}, which may lead outside "
                    "the package (links take no absolute path and no ..)",
                )
            _check_text(target)
            self._members.append(ArchiveMember(path, "symlink", 0, info.offset_data, target=target))
        elif info.isreg():
            digest = hashlib.md5(usedforsecurity=False)
            kept = bytearray()
            keep = _may_keep(path) and info.size <= MAX_KEPT
            data = archive.extractfile(info)
            assert data is not None
            while piece := data.read(MiB):
                digest.update(piece)
                if keep:
                    kept += piece
            if keep:
                self._kept[path] = bytes(kept)
                if sum(map(len, self._kept.values())) > MAX_KEPT_TOTAL:
                    raise PackageInvalid(
                        "descriptor-error", "too many YAML or JSON files where a descriptor may be"
                    )
            self._members.append(
                ArchiveMember(path, "file", info.size, info.offset_data, digest.hexdigest())
            )
        else:
            raise PackageInvalid("unsafe-path", f"{path} is a device or fifo, not a file")


def _safe_path(name: str) -> str | None:
    """The member's path, relative and inside the archive; PackageInvalid otherwise."""
    if name.startswith("/") or "\\" in name:
        raise PackageInvalid("unsafe-path", f"{name} is an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PackageInvalid("unsafe-path", f"{name} escapes the package's root")
    path = "/".join(parts)
    _check_text(path)
    return path or None


def _check_text(path: str) -> None:
    """A path the catalogue can keep: UTF-8, no control characters, not too long."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise PackageInvalid("unsafe-path", f"{path!r} is not UTF-8") from None
    if len(path) > MAX_PATH or any(ord(c) < 32 for c in path):
        raise PackageInvalid("unsafe-path", f"{path!r} is not a usable path")


def _may_keep(path: str) -> bool:
    """Descriptors and checksums lie at the top, or in the package's directory."""
    return path.count("/") <= 1 and (
        path.endswith(DESCRIPTOR_SUFFIXES) or posixpath.basename(path) == CHECKSUMS
    )


def _descriptor(members: list[ArchiveMember], kept: dict[str, bytes]) -> Descriptor:
    found = []
    for path, content in kept.items():
        if path.endswith(DESCRIPTOR_SUFFIXES):
            descriptor = _parse_descriptor(path, content)
            if descriptor is not None:
                found.append(descriptor)
    if not found:
        raise PackageInvalid(
            "descriptor-error",
            "the package holds no descriptor: a YAML or JSON file with a vnfd, nsd or pnfd, "
            "at the top of the archive or in its directory",
        )
    if len(found) > 1:
        paths = ", ".join(sorted(descriptor.path for descriptor in found))
        raise PackageInvalid("descriptor-error", f"the package holds several descriptors: {paths}")
    return found[0]


def _parse_descriptor(path: str, content: bytes) -> Descriptor | None:
    """The descriptor in a file, None if the file is not one; PackageInvalid if it looks
    like one but cannot be used."""
    try:
        document = _load(path, content)
    except RecursionError:
        raise PackageInvalid("descriptor-error", f"{path} nests too deeply") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise PackageInvalid("descriptor-error", f"{path} cannot be read: {exc}") from None
    if not isinstance(document, dict):
        return None
    for key, value in document.items():
        # vnfd:vnfd-catalog: {vnfd: [...]}, nsd-catalog: {nsd: [...]}, or vnfd: {...}
        kind = str(key).rpartition(":")[2].removesuffix("-catalog")
        if kind not in DESCRIPTOR_KINDS:
            continue
        if isinstance(value, dict) and any(str(k).rpartition(":")[2] == kind for k in value):
            value = next(v for k, v in value.items() if str(k).rpartition(":")[2] == kind)
        entries = value if isinstance(value, list) else [value]
        if len(entries) != 1 or not isinstance(entries[0], dict):
            raise PackageInvalid("descriptor-error", f"{path} must describe exactly one {kind}")
        entry: dict[str, Any] = entries[0]
        identifier = entry.get("id")
        if not isinstance(identifier, str | int) or not str(identifier).strip():
            raise PackageInvalid("descriptor-error", f"the {kind} in {path} has no id")
        version = entry.get("version", "1.0")
        if not isinstance(version, str | int | float) or isinstance(version, bool):
            raise PackageInvalid("descriptor-error", f"the {kind} in {path} has a bad version")
        version = str(version)
        name = entry.get("name")
        shown_name = None if name is None else str(name)
        return Descriptor(kind, str(identifier), version, shown_name, path, document)
    return None


def _load(path: str, content: bytes) -> Any:
    if path.endswith(".json"):
        return json.loads(content)
    return yaml.load(content, Loader=SAFE_LOADER)


def _check_checksums(members: list[ArchiveMember], kept: dict[str, bytes], root: str) -> int:
    path = posixpath.join(root, CHECKSUMS)
    if path not in kept:
        return 0
    files = {member.path: member for member in members if member.kind == "file"}
    checked = 0
    for number, line in enumerate(kept[path].decode("utf-8", "replace").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        md5, _, listed = line.strip().partition(" ")
        listed = listed.strip().removeprefix("*")  # md5sum's binary mark
        if len(md5) != 32 or not listed:
            raise PackageInvalid(
                "checksum-error", f"{path} line {number} is not 'md5  path': {line!r}"
            )
        member = files.get(posixpath.normpath(posixpath.join(root, listed)))
        if member is None:
            raise PackageInvalid(
                "checksum-error", f"{path} lists {listed}, which is not in the package"
            )
        if member.md5 != md5.lower():
            raise PackageInvalid("checksum-mismatch", f"checksum mismatch for {listed}")
        checked += 1
    return checked


def _check_references(descriptor: Descriptor, members: list[ArchiveMember]) -> None:
    """Files the descriptor names must be in the archive (a VNFD's cloud-init files)."""
    files = [member.path for member in members if member.kind != "directory"]
    for name in _cloud_init_files(descriptor.document):
        if not any(path == name or path.endswith(f"/{name}") for path in files):
            raise PackageInvalid(
                "missing-file",
                f"the {descriptor.kind} names the cloud-init file {name}, which is not in the "
                "package",
            )


def _cloud_init_files(document: Any) -> list[str]:
    """Every ``cloud-init-file`` (or ``cloud_init_file``) anywhere in the descriptor. YAML
    aliases share nodes: each is walked once, so that an alias bomb costs nothing."""
    found: list[str] = []
    seen: set[int] = set()
    waiting = [document]
    while waiting:
        node = waiting.pop()
        if id(node) in seen or not isinstance(node, dict | list):
            continue
        seen.add(id(node))
        if isinstance(node, list):
            waiting.extend(node)
            continue
        for key, value in node.items():
            if str(key).rpartition(":")[2] in ("cloud-init-file", "cloud_init_file"):
                found.append(str(value))
            else:
                waiting.append(value)
    return found
