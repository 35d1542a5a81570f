"""OSM packages made in memory for the tests: a VNFD (or NSD) with a cloud-init file and
a checksums file, as tar or tar.gz, and ways to spoil them."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

VNFD = """vnfd:vnfd-catalog:
    vnfd:
    -   id: {id}
        name: {id}
        version: '{version}'
        description: A ping VNF
        vdu:
        -   id: iovdu_0
            image: ping.qcow2
            cloud-init-file: {cloud_init}
"""
NSD = """{"nsd:nsd-catalog": {"nsd": [{"id": "ping_pong_nsd", "version": "2.0",
  "constituent-vnfd": [{"member-vnf-index": 1, "vnfd-id-ref": "ping_vnfd"}]}]}}"""


def package(
    id: str = "ping_vnfd",
    version: str = "1.0",
    *,
    compressed: bool = True,
    cloud_init: str = "ping_init.cfg",
    with_cloud_init: bool = True,
    checksums: bool = True,
    spoil_checksum: bool = False,
    extra: dict[str, bytes] | None = None,
    descriptor: tuple[str, str] | None = None,
) -> bytes:
    """A package archive; the files are under ``<id>/`` as OSM lays them out."""
    name, text = descriptor or (f"{id}.yaml", VNFD.format(id=id, version=version,
                                                          cloud_init=cloud_init))  # fmt: skip
    files = {name: text.encode(), "icons/ping.png": b"\x89PNG fake icon"}
    if with_cloud_init:
        files[f"cloud_init/{cloud_init}"] = b"#cloud-config\npassword: fedora\n"
    files.update(extra or {})
    if checksums:
        lines = [f"{hashlib.md5(data).hexdigest()}  {path}" for path, data in files.items()]
        if spoil_checksum:
            lines[-1] = "0" * 32 + lines[-1][32:]
        files["checksums.txt"] = ("\n".join(lines) + "\n").encode()
    return archive({f"{id}/{path}": data for path, data in files.items()}, compressed)


def archive(files: dict[str, bytes], compressed: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories = {path.rpartition("/")[0] for path in files if "/" in path.lstrip("/")}
        for path in sorted(directories):  # as tar -c writes them
            info = tarfile.TarInfo(path)
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    return gzip.compress(raw) if compressed else raw


def gzip_bomb(size: int) -> bytes:
    """A valid tar.gz of one file of ``size`` zero bytes: small, and huge once inflated."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as zipped:
        header = tarfile.TarInfo("bomb/zeros.bin")
        header.size = size
        zipped.write(header.tobuf(format=tarfile.PAX_FORMAT))
        block = bytes(1024 * 1024)
        for _ in range(size // len(block)):
            zipped.write(block)
    return out.getvalue()
