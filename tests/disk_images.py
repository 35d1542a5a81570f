"""Real disk images for the inspection tests, made by qemu-img (Debian's qemu-utils), and
the few it cannot make (an ISO 9660 volume, an MBR) written byte by byte."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

from tests.services_required import unavailable

ISO_BLOCK = 2048
MBR_SIGNATURE = b"\x55\xaa"


class DiskImages:
    """Makes images in ``folder``; each method returns the image's bytes."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("qemu-img") is None:
            unavailable("qemu-img is not installed", "apt-get install qemu-utils")
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def qemu_img(self, name: str, fmt: str, size: str, *options: str) -> bytes:
        path = self.folder / name
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", fmt, *options, str(path), size],
            check=True, timeout=60, cwd=self.folder,
        )  # fmt: skip
        return path.read_bytes()

    def qcow2(self, size: str = "64M") -> bytes:
        return self.qemu_img("plain.qcow2", "qcow2", size)

    def qcow2_with_backing_file(self) -> bytes:
        """A qcow2 whose unwritten clusters are read from another file: named by the
        image, on the host that opens it."""
        (self.folder / "base.raw").write_bytes(os.urandom(64 * 1024))
        return self.qemu_img("backed.qcow2", "qcow2", "1M", "-b", "base.raw", "-F", "raw")

    def qcow2_with_data_file(self) -> bytes:
        return self.qemu_img(
            "external.qcow2", "qcow2", "1M", "-o", "data_file=external.raw,data_file_raw=on"
        )

    def vmdk(self, subformat: str = "monolithicSparse") -> bytes:
        return self.qemu_img(f"{subformat}.vmdk", "vmdk", "32M", "-o", f"subformat={subformat}")

    def vmdk_with_extent_elsewhere(self) -> bytes:
        """A sparse vmdk whose descriptor names an extent by a path on the host."""
        data = bytearray(self.vmdk())
        start = 512  # the descriptor, null-padded, right after the sparse header
        end = data.index(b"\x00", start)
        descriptor = bytes(data[start:end])
        hostile = descriptor.replace(b'"monolithicSparse.vmdk"', b'"/etc/shadow"')
        assert hostile != descriptor and len(hostile) <= len(descriptor)
        data[start:end] = hostile.ljust(end - start, b"\x00")
        return bytes(data)

    def vhd(self) -> bytes:
        return self.qemu_img("disk.vhd", "vpc", "16M")

    def vhdx(self) -> bytes:
        return self.qemu_img("disk.vhdx", "vhdx", "16M")


def iso(blocks: int = 24, mbr: bool = False) -> bytes:
    """A tiny ISO 9660 volume: 16 empty system blocks, a primary volume descriptor (its
    size, both-endian), a terminator; ``mbr``: with an isohybrid MBR in the system area."""
    system = bytearray(16 * ISO_BLOCK)
    if mbr:
        system[446:462] = _partition(0x80, 0x17, 0, blocks * 4)
        system[510:512] = MBR_SIGNATURE
    primary = bytearray(ISO_BLOCK)
    primary[0:7] = b"\x01CD001\x01"
    primary[80:88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
    primary[128:132] = struct.pack("<H", ISO_BLOCK) + struct.pack(">H", ISO_BLOCK)
    terminator = bytearray(ISO_BLOCK)
    terminator[0:7] = b"\xffCD001\x01"
    data = bytes(system + primary + terminator)
    return data + bytes(blocks * ISO_BLOCK - len(data))


def mbr_disk(size: int = 1024 * 1024, boot_flag: int = 0x80) -> bytes:
    """A raw disk with a DOS partition table of one Linux partition (boot_flag other than
    0x00 and 0x80 breaks it)."""
    sector = bytearray(512)
    sector[446:462] = _partition(boot_flag, 0x83, 2048, size // 512 - 2048)
    sector[510:512] = MBR_SIGNATURE
    return bytes(sector) + bytes(size - 512)


def _partition(boot: int, kind: int, start: int, sectors: int) -> bytes:
    return struct.pack("<B3BB3BII", boot, 0, 2, 0, kind, 0, 0, 0, start, sectors)


def qcow2_header(virtual_size: int = 1024**3) -> bytes:
    """The first 512 bytes of a qcow2 (version 3, no backing file, no feature): what makes
    the bytes after it a qcow2 to the inspector, for tests about other things than images."""
    header = struct.pack(">4sIQIIQ", b"QFI\xfb", 3, 0, 0, 16, virtual_size)
    return header.ljust(512, b"\x00")
