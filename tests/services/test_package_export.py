"""A package as the OSM launchpad exports it: its archive gzipped as it is sent, and its
files as a tree below the package's own directory, directories a tar left out made up."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest

from lading.domain import ArchiveMember
from lading.services.package_export import gzipped, package_root, tree

pytestmark = pytest.mark.anyio


def member(path: str, kind: str = "file", size: int = 1) -> ArchiveMember:
    if kind == "file":
        return ArchiveMember(path, kind, size, 0, "m")
    return ArchiveMember(path, kind, 0, 0)


PACKAGE = [
    member("vnf", "directory"),
    member("vnf/vnfd.yaml", size=10),
    member("vnf/cloud_init/init.cfg", size=3),  # its directory has no entry of its own
    member("vnf/icons", "directory"),
]


def test_the_root_is_the_one_directory_everything_is_in() -> None:
    assert package_root(PACKAGE) == "vnf"
    assert package_root([member("vnf/a"), member("vnf/b")]) == "vnf"
    assert package_root([member("vnf/a"), member("other/b")]) == ""
    assert package_root([member("vnf")]) == ""  # a lone file is no directory
    assert package_root([member("vnfd.yaml"), member("vnfdx/a")]) == ""


def test_the_tree_is_shown_from_the_root_with_missing_directories_made_up() -> None:
    top = tree(PACKAGE, "vnf", "vnf")
    assert (top["name"], top["path"], top["type"]) == ("vnf", "", "directory")
    shown = {entry["path"]: entry for entry in top["contents"]}
    assert sorted(shown) == ["cloud_init", "icons", "vnfd.yaml"]
    assert shown["vnfd.yaml"] == {
        "name": "vnfd.yaml", "path": "vnfd.yaml", "type": "file", "size": 10, "md5": "m",
    }  # fmt: skip
    assert shown["cloud_init"]["contents"][0]["path"] == "cloud_init/init.cfg"
    assert shown["icons"]["contents"] == []


def test_a_subtree_holds_only_what_is_below_it() -> None:
    below = tree(PACKAGE, "vnf", "vnf/cloud_init")
    assert below["path"] == "cloud_init"
    assert [entry["name"] for entry in below["contents"]] == ["init.cfg"]
    assert tree([member("a/b/c")], "", "")["contents"][0]["contents"][0]["path"] == "a/b"


async def test_gzipped_chunks_inflate_to_what_went_in() -> None:
    pieces = [b"\0" * 100_000, b"package bytes", b""]

    async def chunks() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    sent = [chunk async for chunk in gzipped(chunks())]
    packed = b"".join(sent)
    assert gzip.decompress(packed) == b"".join(pieces)
    assert len(packed) < 1000  # compressed, not stored
