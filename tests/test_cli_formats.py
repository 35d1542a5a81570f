"""``lading upload`` without ``--disk-format`` names the format the file's header says,
which is what the server checks the data against; else the suffix's."""

from __future__ import annotations

import os
from pathlib import Path

from lading.cli.artifacts import disk_format_of, new_fields
from tests.disk_images import DiskImages, iso


def test_the_header_wins_over_the_suffix(tmp_path: Path) -> None:
    made = DiskImages(tmp_path / "made")
    cirros = tmp_path / "cirros.img"  # as cirros ships it: a qcow2 named .img
    cirros.write_bytes(made.qcow2())
    disc = tmp_path / "disc.bin"
    disc.write_bytes(iso(24))
    stream = tmp_path / "disk.raw"
    stream.write_bytes(made.vmdk("streamOptimized"))
    assert [disk_format_of(path) for path in (cirros, disc, stream)] == ["qcow2", "iso", "vmdk"]
    assert new_fields(cirros.name, cirros, props={})["disk_format"] == "qcow2"
    assert new_fields(cirros.name, cirros, props={}, disk_format="raw")["disk_format"] == "raw"


def test_other_files_go_by_their_suffix(tmp_path: Path) -> None:
    noise = tmp_path / "disk.ploop"
    noise.write_bytes(os.urandom(3 * 1024 * 1024))
    assert disk_format_of(noise) is None
    assert new_fields(noise.name, noise, props={})["disk_format"] == "ploop"
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    assert new_fields(empty.name, empty, props={})["disk_format"] == "raw"
