"""Small Python distributions made in the test, without a build backend or the network: a
wheel written with zipfile (METADATA, WHEEL, RECORD and one module), an sdist with tarfile,
and the legacy upload API's form for either, as twine sends it. Each is the same bytes however
often it is made (fixed times, as reproducible builds write them): a test that makes one
twice gets one file, not two that differ by the second they were made in."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

WHEN = (2020, 2, 2, 0, 0, 0)  # a zip entry's time; a tar member's and gzip's are 0 (1970)


@dataclass(frozen=True)
class Dist:
    filename: str
    data: bytes
    name: str
    version: str
    filetype: str
    requires_python: str | None = None

    def fields(self, **overrides: str) -> dict[str, str]:
        """The upload form's fields, with the file's digests."""
        fields = {
            ":action": "file_upload",
            "protocol_version": "1",
            "metadata_version": "2.1",
            "name": self.name,
            "version": self.version,
            "filetype": self.filetype,
            "pyversion": "py3" if self.filetype == "bdist_wheel" else "source",
            "md5_digest": hashlib.md5(self.data).hexdigest(),
            "sha256_digest": hashlib.sha256(self.data).hexdigest(),
            "blake2_256_digest": hashlib.blake2b(self.data, digest_size=32).hexdigest(),
        }
        if self.requires_python:
            fields["requires_python"] = self.requires_python
        return {**fields, **overrides}

    def write(self, folder: Path) -> Path:
        path = folder / self.filename
        path.write_bytes(self.data)
        return path


def metadata(name: str, version: str, requires_python: str | None = None) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    return "\n".join(lines) + "\n\nA package made by lading's tests.\n"


def wheel(
    name: str, version: str, requires_python: str | None = None, module: str | None = None
) -> Dist:
    """A pure-Python wheel of ``name`` with one module (``module``, else the name's)."""
    stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    module = module or re.sub(r"[-_.]+", "_", name).lower()
    files = {
        f"{module}.py": f"VERSION = {version!r}\n".encode(),
        f"{stem}.dist-info/METADATA": metadata(name, version, requires_python).encode(),
        f"{stem}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: lading-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={_record_hash(data)},{len(data)}\n" for path, data in files.items()
    )
    record += f"{stem}.dist-info/RECORD,,\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in [*files.items(), (f"{stem}.dist-info/RECORD", record.encode())]:
            archive.writestr(zipfile.ZipInfo(path, WHEN), data, zipfile.ZIP_DEFLATED)
    return Dist(f"{stem}-py3-none-any.whl", buffer.getvalue(), name, version, "bdist_wheel",
                requires_python)  # fmt: skip


def sdist(name: str, version: str) -> Dist:
    """A PEP 625 sdist: ``{name}-{version}.tar.gz`` with PKG-INFO."""
    stem = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    buffer = io.BytesIO()
    members = {
        "PKG-INFO": metadata(name, version).encode(),
        "pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode(),
    }
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w") as archive,
    ):
        for member, data in members.items():  # in one folder, as twine reads them
            entry = tarfile.TarInfo(f"{stem}/{member}")
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    return Dist(f"{stem}.tar.gz", buffer.getvalue(), name, version, "sdist")


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
