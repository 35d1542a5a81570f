"""OCI image layouts (directories) that the registry's client tests push from."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def write_blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return f"sha256:{digest}"


def make_layout(layout: Path, payload: bytes) -> str:
    """An OCI image layout holding one image tagged v1: a layer (a tar of one file), its
    config and its manifest. Returns the manifest's digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as tar:
        info = tarfile.TarInfo("disk/data.bin")
        info.size = len(payload)
        info.mtime = 0
        tar.addfile(info, io.BytesIO(payload))
    return tagged_layout(layout, layer_buffer.getvalue())


def tagged_layout(layout: Path, plain: bytes, gzipped: bool = False) -> str:
    """An OCI image layout (its blobs directory made) holding one image tagged v1 of one
    layer, the tar ``plain`` (gzipped if ``gzipped``), and its config. Returns the
    manifest's digest."""
    layer = gzip.compress(plain, mtime=0) if gzipped else plain
    layer_digest = write_blob(layout, layer)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(plain).hexdigest()]},
    }).encode()  # fmt: skip
    config_digest = write_blob(layout, config)
    media_type = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzipped else "")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": media_type, "digest": layer_digest, "size": len(layer)}],
    }).encode()  # fmt: skip
    manifest_digest = write_blob(layout, manifest)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }]}  # fmt: skip
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return manifest_digest
