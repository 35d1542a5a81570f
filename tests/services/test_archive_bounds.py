"""The tar framing that ``archive_bounds`` follows as bytes stream: it must find the
headers where tarfile finds them, in every format tarfile writes, however the bytes are
cut into pieces; and refuse what tarfile would read differently."""

from __future__ import annotations

import io
import tarfile

import pytest

from lading.services.archive_bounds import (
    BLOCK,
    PackageInvalid,
    PackageTooLarge,
    TarFraming,
)

GiB = 1024**3
CUTS = [1, 7, BLOCK - 1, BLOCK, BLOCK + 1, 4096, 1 << 20]


def made(tar_format: int) -> bytes:
    """An archive with what real packages hold: directories, long names and links, a
    symbolic link, an empty file, files of odd sizes."""
    buffer = io.BytesIO()
    link_depth = 15 if tar_format == tarfile.USTAR_FORMAT else 30  # ustar: 100 at most
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as tar:
        for name, kind, data, link in [
            ("pkg", tarfile.DIRTYPE, b"", ""),
            ("pkg/pkg.yaml", tarfile.REGTYPE, b"vnfd: {id: pkg}\n", ""),
            ("pkg/" + "long/" * 30 + "name.bin", tarfile.REGTYPE, b"x" * 1000, ""),
            ("pkg/empty", tarfile.REGTYPE, b"", ""),
            ("pkg/link", tarfile.SYMTYPE, b"", "pkg.yaml"),
            ("pkg/far", tarfile.SYMTYPE, b"", "long/" * link_depth + "name.bin"),
            ("pkg/ünïcode", tarfile.REGTYPE, b"y" * BLOCK, ""),
        ]:
            info = tarfile.TarInfo(name)
            info.type, info.size, info.linkname = kind, len(data), link
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fed(data: bytes, cut: int, size_cap: int = GiB) -> bytes:
    framing = TarFraming(size_cap)
    passed = b"".join(framing.feed(data[at : at + cut]) for at in range(0, len(data), cut))
    framing.finish()
    return passed


@pytest.mark.parametrize("tar_format", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT,
                                        tarfile.PAX_FORMAT])  # fmt: skip
def test_archives_tarfile_writes_pass_whole_however_they_are_cut(tar_format: int) -> None:
    data = made(tar_format)
    for cut in CUTS:
        assert fed(data, cut) == data


def header(
    name: str,
    length: int,
    kind: bytes = tarfile.REGTYPE,
    pax: dict[str, str] | None = None,
    pax_kind: bytes = tarfile.XHDTYPE,
) -> bytes:
    """A ustar header saying ``length``, after a pax header of ``pax``, if any."""
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, length
    built = info.tobuf(format=tarfile.USTAR_FORMAT)
    if not pax:
        return built
    records = b"".join(_record(key, value) for key, value in pax.items())
    extended = tarfile.TarInfo("././@PaxHeader")
    extended.type, extended.size = pax_kind, len(records)
    padding = bytes(-len(records) % BLOCK)
    return extended.tobuf(format=tarfile.USTAR_FORMAT) + records + padding + built


def _record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:  # the length counts its own digits
        length = len(str(length)) + len(body)
    return str(length).encode() + body


def test_a_pax_size_decides_where_the_next_header_is_as_tarfile_has_it() -> None:
    """The ustar field says 0; the pax header says 1000: tarfile skips 1000."""
    data = header("pkg/big", 0, pax={"size": "1000"}) + b"z" * 1000 + bytes(24)
    data += header("pkg/after", 0) + bytes(2 * BLOCK)
    assert fed(data, 100) == data
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        assert [(info.name, info.size) for info in tar] == [("pkg/big", 1000), ("pkg/after", 0)]


def test_sizes_past_the_cap_are_refused_at_their_header_in_any_notation() -> None:
    gnu = tarfile.TarInfo("pkg/huge")
    gnu.size = 10 * GiB  # too large for octal: base-256
    for data in (
        gnu.tobuf(format=tarfile.GNU_FORMAT),
        header("pkg/huge", 0, pax={"size": str(10 * GiB)}),
    ):
        with pytest.raises(PackageTooLarge, match="pkg/huge holds 10737418240 bytes"):
            fed(data, BLOCK, size_cap=8 * GiB)


def test_an_old_directory_has_no_data_as_tarfile_reads_it() -> None:
    """A regular file (type NUL) whose name ends in / is a directory: what follows its
    header is the next header, whatever its size field says."""
    data = header("pkg/", 5000, kind=tarfile.AREGTYPE) + header("pkg/a", 0) + bytes(2 * BLOCK)
    assert fed(data, BLOCK) == data
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
        assert [info.name for info in tar] == ["pkg", "pkg/a"]


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (header("pkg/a", 0, pax={"size": "5"}, pax_kind=tarfile.XGLTYPE), "global pax"),
        (header("pkg/s", 10, kind=tarfile.GNUTYPE_SPARSE), "sparse"),
        (header("pkg/s", 10, pax={"GNU.sparse.major": "1"}), "sparse"),
        (header("pkg/a", 0, pax={"size": "ten"}), "bad size"),
        (header("pkg/a", 0, tarfile.XHDTYPE, {"path": "x"}) + header("b", 0, pax={"path": "y"}),
         "two pax headers"),
        (header("pkg/a", 0, kind=tarfile.GNUTYPE_LONGNAME), "extended header"),
        (header("pkg/a", 200 * 1024, kind=tarfile.GNUTYPE_LONGNAME), "tar header of 204800"),
    ],
)  # fmt: skip
def test_what_tarfile_would_read_otherwise_is_refused(data: bytes, says: str) -> None:
    with pytest.raises(PackageInvalid, match=says):
        fed(data + bytes(2 * BLOCK), BLOCK)
