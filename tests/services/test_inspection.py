"""The inspection reads the same from any cutting of the stream: one byte at a time, the
chunks an upload joins, or the whole body in one piece (a VHDX finds its virtual size
only through its region table and metadata, found one after the other)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lading.errors import BadRequest
from lading.services.inspection import Inspection, inspection_for
from lading.settings import ImageFormatSettings
from tests.disk_images import DiskImages, iso, mbr_disk

MiB = 1024 * 1024
CUTS = [4096, 65536 + 7, 512 * 1024, 3 * MiB + 1, 64 * MiB]


def inspected(data: bytes, disk_format: str, cut: int) -> tuple[str, int | None]:
    inspection = Inspection(disk_format, ImageFormatSettings())
    for offset in range(0, len(data), cut):
        inspection.feed(data[offset : offset + cut])
    verdict = inspection.verdict()
    return verdict.format, verdict.virtual_size


@pytest.mark.parametrize("cut", CUTS)
def test_the_verdict_does_not_depend_on_how_the_stream_is_cut(tmp_path: Path, cut: int) -> None:
    made = DiskImages(tmp_path)
    cases = [
        (made.vhdx(), "vhdx", ("vhdx", 16 * MiB)),
        (made.qcow2("1G"), "qcow2", ("qcow2", 1024 * MiB)),
        (made.vmdk("streamOptimized"), "vmdk", ("vmdk", 32 * MiB)),
        (made.vmdk(), "vmdk", ("vmdk", 32 * MiB)),
        (iso(40), "iso", ("iso", 40 * 2048)),
        (mbr_disk(2 * MiB), "raw", ("gpt", 2 * MiB)),
        (bytes(20 * MiB), "raw", ("raw", 20 * MiB)),
    ]
    for data, disk_format, verdict in cases:
        assert inspected(data, disk_format, cut) == verdict, disk_format


@pytest.mark.parametrize("cut", CUTS)
def test_unsafe_images_are_refused_however_the_stream_is_cut(tmp_path: Path, cut: int) -> None:
    made = DiskImages(tmp_path)
    for data, disk_format in [(made.qcow2_with_backing_file(), "qcow2"),
                              (made.vmdk_with_extent_elsewhere(), "vmdk"),
                              (made.qcow2(), "raw")]:  # fmt: skip
        with pytest.raises(BadRequest):
            inspected(data, disk_format, cut)


def test_only_disks_are_inspected() -> None:
    settings = ImageFormatSettings()
    assert inspection_for(None, None, settings) is None  # a package
    assert inspection_for("qcow2", "ova", settings) is None  # wrapped in a container
    assert inspection_for("qcow2", "bare", settings) is not None
    assert inspection_for("raw", None, settings) is not None
