"""Reading an OSM package as it streams past: every member's path, kind, size, MD5 and
offset; the one descriptor found; checksums and the files the descriptor names checked;
paths and links that lead outside the package refused (``PackageInvalid``, its event
naming what was wrong). Hostile archives at scale: tests/api/test_hostile_archives.py."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import AsyncIterator

import pytest

from lading.services.archive_bounds import PackageInvalid
from lading.services.package_archive import ArchiveReader, Report

pytestmark = pytest.mark.anyio
VNFD = b"vnfd:vnfd-catalog:\n  vnfd:\n  - id: ping\n    version: '2.1'\n    name: Ping\n"
INIT = b"#cloud-config\n"


def tar(*members: tuple[str, bytes | None] | tuple[str, bytes | None, str]) -> bytes:
    """(path, data) for a file, (path, None) for a directory, (path, None, target) for a
    symbolic link."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data, *link in members:
            info = tarfile.TarInfo(path)
            if link:
                info.type, info.linkname = tarfile.SYMTYPE, link[0]
            elif data is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(data)
            archive.addfile(info, None if data is None else io.BytesIO(data))
    return buffer.getvalue()


async def read(archive: bytes) -> tuple[Report, bytes]:
    async def source() -> AsyncIterator[bytes]:
        for start in range(0, len(archive), 4096):
            yield archive[start : start + 4096]

    reader = ArchiveReader()
    passed = b"".join([chunk async for chunk in reader.chunks(source())])
    return await reader.report(), passed


async def refused(archive: bytes) -> PackageInvalid:
    with pytest.raises(PackageInvalid) as caught:
        await read(archive)
    return caught.value


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


async def test_a_package_is_read_as_it_passes_unchanged() -> None:
    checksums = f"{md5(VNFD)}  ping_vnfd.yaml\n{md5(INIT)} *cloud_init/init.cfg\n".encode()
    archive = tar(("ping", None), ("ping/ping_vnfd.yaml", VNFD), ("ping/cloud_init", None),
                  ("ping/cloud_init/init.cfg", INIT), ("ping/checksums.txt", checksums),
                  ("ping/link", None, "cloud_init/init.cfg"))  # fmt: skip
    report, passed = await read(archive)
    assert passed == archive
    descriptor = report.descriptor
    assert (descriptor.kind, descriptor.id, descriptor.version, descriptor.name) == (
        "vnfd", "ping", "2.1", "Ping",
    )  # fmt: skip
    assert descriptor.path == "ping/ping_vnfd.yaml" and report.checked == 2
    kinds = {member.path: member.kind for member in report.members}
    assert kinds == {"ping": "directory", "ping/ping_vnfd.yaml": "file", "ping/cloud_init":
                     "directory", "ping/cloud_init/init.cfg": "file", "ping/checksums.txt":
                     "file", "ping/link": "symlink"}  # fmt: skip
    (init,) = [member for member in report.members if member.path.endswith("init.cfg")]
    assert init.md5 == md5(INIT)
    assert archive[init.data_offset : init.data_offset + init.size] == INIT  # a range of it
    (link,) = [member for member in report.members if member.kind == "symlink"]
    assert link.target == "ping/cloud_init/init.cfg"


@pytest.mark.parametrize(
    ("members", "event"),
    [
        ((("../x.yaml", VNFD),), "unsafe-path"),
        ((("/etc/x.yaml", VNFD),), "unsafe-path"),
        ((("p/x.yaml", VNFD), ("p/l", None, "../../etc/passwd")), "unsafe-path"),
        ((("p/x.yaml", VNFD), ("p/l", None, "/etc/passwd")), "unsafe-path"),
        ((("p/x.yaml", VNFD), ("p/x.yaml", VNFD)), "unreadable-package"),  # twice
        ((("p/readme.txt", b"hello"),), "descriptor-error"),  # no descriptor
        ((("a.yaml", VNFD), ("b.json", b'{"nsd": {"id": "n"}}')), "descriptor-error"),
        ((("a.yaml", b"vnfd: {name: no-id}\n"),), "descriptor-error"),
        ((("a.yaml", b"vnfd: [{id: a}, {id: b}]\n"),), "descriptor-error"),
        ((("a.yaml", b"vnfd: {id: a\n"),), "descriptor-error"),  # not YAML
        ((("a.yaml", VNFD), ("checksums.txt", b"0" * 32 + b"  a.yaml\n")), "checksum-mismatch"),
        ((("a.yaml", VNFD), ("checksums.txt", md5(b"").encode() + b"  b\n")), "checksum-error"),
        ((("a.yaml", VNFD), ("checksums.txt", b"not a line\n")), "checksum-error"),
        ((("a.yaml", VNFD + b"    cloud-init-file: init.cfg\n"),), "missing-file"),
    ],
)  # fmt: skip
async def test_what_is_no_package_is_refused_saying_why(
    members: tuple[tuple[str, bytes | None], ...], event: str
) -> None:
    assert (await refused(tar(*members))).event == event


async def test_bytes_that_are_no_tar_are_refused() -> None:
    assert (await refused(b"x" * 10_000)).event == "unreadable-package"


async def test_a_cloud_init_file_named_by_the_descriptor_may_lie_anywhere() -> None:
    descriptor = VNFD + b"    vdu:\n    - cloud_init_file: init.cfg\n"
    report, _ = await read(tar(("p/a.yaml", descriptor), ("p/cloud_init/init.cfg", INIT)))
    assert report.descriptor.id == "ping" and report.checked == 0
