"""A stored package as the OSM launchpad exported it: a ``.tar.gz``, and its files as
a tree of directories.

lading keeps a package inflated (so that its files are ranges of the archive); an
export compresses it again as it is sent, chunk by chunk on a worker thread (zlib lets
go of the GIL), so that nothing is written anywhere and memory stays one chunk deep.
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from lading.domain import ArchiveMember
from lading.services.transfers import Download

# zlib's fastest level: a package is mostly disk images, compressed already or made of
# zeros; level 1 shrinks zeros nearly as well as 6 at 2.5 times the speed, and is no
# slower on what does not compress (docs/reliability.md).
COMPRESSION_LEVEL = 1
GZIP = 16 + zlib.MAX_WBITS  # a gzip member (header and trailer); its mtime is 0
EXPORT_SUFFIX = ".tar.gz"
# The launchpad's export options that lading honours: it exports the package as it was
# onboarded, its descriptor untouched, never converted to another grammar.
GRAMMARS = ("osm",)


@dataclass(frozen=True, slots=True)
class Export:
    """A package's archive, to be sent gzipped under ``filename``."""

    download: Download
    filename: str  # <package name>-<version>.tar.gz

    def chunks(self) -> AsyncIterator[bytes]:
        assert self.download.location is not None
        return gzipped(self.download.read(0, self.download.location.size))


async def gzipped(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, GZIP)
    async for chunk in chunks:
        if packed := await anyio.to_thread.run_sync(compressor.compress, chunk):
            yield packed
    yield compressor.flush()


def package_root(members: Sequence[ArchiveMember]) -> str:
    """The package's directory inside its archive: the one directory everything is in,
    as OSM lays a package out (``<name>/...``), or the archive's top ("")."""
    tops = {member.path.partition("/")[0] for member in members}
    if len(tops) == 1:
        (top,) = tops
        below = [m for m in members if m.path != top]
        if below and all(m.path.startswith(f"{top}/") for m in below):
            return top
    return ""


def tree(members: Sequence[ArchiveMember], root: str, directory: str) -> dict[str, Any]:
    """``directory`` (a path in the archive, "" for its top) and everything under it, as
    nested entries: ``name``, ``path`` (from the package's root), ``type`` (file,
    directory, symlink), ``size``, and ``contents`` for a directory."""
    top = _entry(directory, "directory", 0, None, root)
    nodes: dict[str, dict[str, Any]] = {directory: top}
    prefix = f"{directory}/" if directory else ""
    for member in sorted(members, key=lambda m: m.path):  # a parent before its children
        if not member.path.startswith(prefix) or member.path == directory:
            continue
        entry = _entry(member.path, member.kind, member.size, member.md5, root)
        if member.kind == "directory":
            nodes[member.path] = entry
        parent = nodes.get(posixpath.dirname(member.path))
        if parent is None:  # a tar may omit a directory's own entry: make it up
            parent = _made_up(nodes, posixpath.dirname(member.path), root)
        parent["contents"].append(entry)
    return top


def _made_up(nodes: dict[str, dict[str, Any]], path: str, root: str) -> dict[str, Any]:
    entry = _entry(path, "directory", 0, None, root)
    nodes[path] = entry
    parent = nodes.get(posixpath.dirname(path)) or _made_up(nodes, posixpath.dirname(path), root)
    parent["contents"].append(entry)
    return entry


def _entry(path: str, kind: str, size: int, md5: str | None, root: str) -> dict[str, Any]:
    inside = root and (path == root or path.startswith(f"{root}/"))
    shown = path[len(root) :].lstrip("/") if inside else path
    entry: dict[str, Any] = {"name": posixpath.basename(path), "path": shown, "type": kind}
    if kind == "directory":
        entry["contents"] = []
    else:
        entry["size"] = size
        if md5 is not None:
            entry["md5"] = md5
    return entry
