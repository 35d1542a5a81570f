"""What an image's bytes are, found as they stream: their format, virtual size and safety.

Glance inspects the data of every image upload and import (its ``[image_format]``
options): the format found must be the one the ``disk_format`` declares, the virtual
size is read from the format's header, and images a compute host could be tricked by
are refused, whatever they declare (a qcow2 with a backing file or an external data
file, a vmdk whose extents are other files, an unknown qcow2 feature, ...), because
``qemu-img`` and the hypervisor would follow those to the host's own files.

oslo.utils' ``format_inspector`` does the reading, as it does for Glance, Nova and
Cinder: its readers are the field's maintained parsers of these headers, and its safety
checks are the ones those services agree on. They keep only the header regions they need
(a VMDK's descriptor, at most 1 MiB), so memory stays constant, and they read the chunks
in the same pass as the digests: nothing is read twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lading.errors import BadRequest
from lading.lazy import LazyModule
from lading.settings import ImageFormatSettings

if TYPE_CHECKING:
    from oslo_utils.imageutils import format_inspector
else:  # it loads cryptography's OpenSSL (LUKS): 9 MiB, from the first upload (lading.lazy)
    format_inspector = LazyModule("oslo_utils.imageutils.format_inspector")

log = logging.getLogger(__name__)

KiB = 1024
# A reader learns where to look next only after a chunk is read (a VHDX's region table
# leads to its metadata, which leads to the virtual size): what the next place holds must
# not have passed already in the same chunk. Near the start, where those places lie, the
# chunks are read in slices of SLICE; further on, whole (a slice costs as much as a chunk).
SLICE = 64 * KiB
SLICED = 16 * 1024 * KiB

# The containers whose data is the disk itself; the others (ovf, ova, docker,
# compressed) wrap it, and Glance inspects bare images only.
INSPECTED_CONTAINERS = (None, "bare", "ami", "ari", "aki")
# For each disk_format, the format the inspector must find (its names are qemu-img's);
# None: a disk_format it has no reader for (ploop), which must at least not be another
# format it knows. ami, ari and aki are raw disks, kernels and ramdisks.
EXPECTED: dict[str, str | None] = {
    "raw": "raw", "ami": "raw", "ari": "raw", "aki": "raw", "qcow2": "qcow2",
    "vmdk": "vmdk", "vhd": "vhd", "vhdx": "vhdx", "vdi": "vdi", "iso": "iso", "gpt": "gpt",
    "ploop": None,
}  # fmt: skip
# Besides the expected format, what the data may be: a raw disk with a partition table
# (MBR or GPT) is a raw image too, as Glance has it, and gets the partition table's checks.
ALSO: dict[str | None, tuple[str, ...]] = {"raw": ("gpt",)}
# Formats found together that are one image: a bootable ISO also carries an MBR
# (isohybrid); it is checked as the format it declares.
HYBRIDS: dict[str | None, frozenset[str]] = {"iso": frozenset({"iso", "gpt"})}


@dataclass(frozen=True, slots=True)
class Inspected:
    """What the data turned out to be."""

    format: str  # as the inspector names it (raw, qcow2, vmdk, gpt, ...)
    virtual_size: int | None  # None: unknown (a format lading cannot read)


class Inspection:
    """One stream's inspection: ``feed`` it every chunk in order, then ask ``verdict``.

    As oslo's ``InspectWrapper`` does, every format's reader sees the data and the one
    found decides; unlike it, a reader that has what it needs is not shown the rest: the
    readers are Python, and the upload is bound by the CPU (hashing), so reading every
    chunk with each of them cost a fifth of the throughput (docs/reliability.md). A
    reader done with its regions gets one chunk more (its next region may be found only
    then), and the virtual size of raw data is counted here rather than by its reader.
    """

    def __init__(self, disk_format: str, settings: ImageFormatSettings) -> None:
        self._declared = disk_format
        self._expected = EXPECTED[disk_format]
        self._settings = settings
        self._seen = 0
        self._readers = [kind() for kind in format_inspector.ALL_FORMATS.values()]
        self._reading = [reader for reader in self._readers if str(reader) != "raw"]
        self._done: set[format_inspector.FileInspector] = set()  # had their chunk more

    def feed(self, chunk: bytes) -> None:
        """Read one more chunk; BadRequest as soon as the data cannot be what it declares."""
        if not self._reading:
            self._seen += len(chunk)
            return
        if self._seen < SLICED and len(chunk) > SLICE:
            for offset in range(0, len(chunk), SLICE):
                self._read(chunk[offset : offset + SLICE])
        else:
            self._read(chunk)
        self._seen += len(chunk)

    def _read(self, chunk: bytes) -> None:
        strict = self._settings.require_image_format_match
        for reader in list(self._reading):
            expected = strict and str(reader) == self._expected
            try:
                reader.eat_chunk(chunk)
            # The readers parse hostile bytes: whatever they trip on is the data's fault.
            except Exception as exc:
                if expected:
                    raise BadRequest(
                        f"the data is not {self._declared}, as the image's disk_format says: {exc}"
                    ) from exc
                self._reading.remove(reader)  # not this format: it is out
                self._readers.remove(reader)
                continue
            if not reader.complete:
                self._done.discard(reader)
            elif expected and not reader.format_match:
                # Known as soon as the declared format's header is read: the rest of the
                # body is not stored.
                raise BadRequest(f"the data is not {self._declared}, as the image's "
                                 f"disk_format says: its {reader} header is not there")  # fmt: skip
            elif reader in self._done:
                self._reading.remove(reader)
            else:
                self._done.add(reader)

    def _formats(self) -> list[format_inspector.FileInspector]:
        """The formats found, as oslo's ``InspectWrapper.formats`` tells them: every
        specific one that matches, else raw."""
        for reader in self._readers:
            reader.finish()
        matches = [r for r in self._readers if str(r) != "raw" and r.complete and r.format_match]
        return matches or [r for r in self._readers if str(r) == "raw"]

    def verdict(self) -> Inspected:
        """What the data is, once it has all been fed; BadRequest when it is not the
        declared format (and the settings require that), or fails a safety check."""
        found = self._formats()
        names = sorted(str(inspector) for inspector in found)
        if len(found) > 1:
            # One header hidden behind another is how unsafe images get past checks: only
            # a bootable ISO's MBR is expected beside another format.
            if frozenset(names) != HYBRIDS.get(self._expected):
                raise BadRequest(
                    f"the data looks like several formats at once ({', '.join(names)}); "
                    "such an image is refused"
                )
            found = [inspector for inspector in found if str(inspector) == self._expected]
        inspector = found[0]
        name = str(inspector)
        allowed = {self._expected or "raw", *ALSO.get(self._expected, ())}
        matched = name in allowed
        if not matched:
            if self._settings.require_image_format_match:
                raise BadRequest(
                    f"the data is {name}, not {self._declared} as the image's disk_format "
                    "says; set disk_format to what the data is (qemu-img info tells it)"
                )
            log.warning("image data declared %s is %s; accepted, as [image_format] "
                        "require_image_format_match is off", self._declared, name)  # fmt: skip
        self._check_safety(inspector)
        if self._expected is None and name == "raw":
            return Inspected(name, None)  # ploop's size is not a raw one's
        # A partition table's reader, as raw's, takes the size it saw: all of it, here.
        counted = name in ("raw", "gpt")
        return Inspected(name, self._seen if counted else inspector.virtual_size)

    def _check_safety(self, inspector: format_inspector.FileInspector) -> None:
        name = str(inspector)
        try:
            inspector.safety_check()
        except format_inspector.SafetyCheckFailed as exc:
            found = "; ".join(f"{check}: {failure}" for check, failure in exc.failures.items())
            if name == "gpt" and self._settings.gpt_safety_checks_nonfatal:
                log.warning("image data's partition table fails safety checks (%s); "
                            "accepted, as gpt_safety_checks_nonfatal is on", found)  # fmt: skip
                return
            raise BadRequest(
                f"the {name} data fails the safety checks that keep a compute host's own "
                f"files out of reach ({found}); such an image is refused"
            ) from exc
        except format_inspector.ImageFormatError as exc:
            raise BadRequest(f"the {name} data cannot be checked for safety: {exc}") from exc


def inspection_for(
    disk_format: str | None, container_format: str | None, settings: ImageFormatSettings
) -> Inspection | None:
    """The inspection an upload of an artifact with these formats gets; None: its data is
    not a VM disk (a package, no disk_format) or is wrapped in a container."""
    if disk_format not in EXPECTED or container_format not in INSPECTED_CONTAINERS:
        return None
    return Inspection(disk_format, settings)


# What the inspector's names are as a disk_format, when they differ: a partition table is
# a raw disk's.
DISK_FORMATS = {"gpt": "raw"}


def detected_format(head: bytes) -> str:
    """The disk_format of data that begins with ``head`` (its first MiB tells any format
    lading inspects), as the upload's inspection will find it: raw when no specific
    format's header is there. For images that come with no declared format (an OSM
    package's)."""
    found = set()
    for kind in format_inspector.ALL_FORMATS.values():
        reader = kind()
        if str(reader) == "raw":
            continue
        try:
            for offset in range(0, len(head), SLICE):
                reader.eat_chunk(head[offset : offset + SLICE])
            reader.finish()
        # The readers parse hostile bytes: whatever they trip on is not their format.
        except Exception:
            continue
        if reader.complete and reader.format_match:
            found.add(str(reader))
    if found == HYBRIDS["iso"]:
        return "iso"
    if len(found) != 1:  # none, or several at once: the upload's inspection says which
        return "raw"
    name = found.pop()
    return DISK_FORMATS.get(name, name)
