"""skopeo (Debian's) and a real ``lading serve``: an image of the catalogue copied out of
the registry as a KubeVirt container disk, its disk byte-identical to the image; and a
container disk copied in by skopeo, registered as an image by ``lading registry import``
and seen by the Glance face."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import LADING, Registry, log_tail
from tests.clients.oci_layouts import OCI_MANIFEST, tagged_layout
from tests.clients.test_skopeo import SKOPEO, skopeo
from tests.disk_images import qcow2_header

pytestmark = pytest.mark.skipif(
    SKOPEO is None, reason="skopeo is not installed (apt-get install skopeo)"
)
DISK = qcow2_header() + os.urandom(3 * 1024 * 1024 + 5)


def untarred_disk(layout: Path) -> tuple[str, bytes]:
    """The name and bytes of the disk in the one layer of the layout's image."""
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].removeprefix("sha256:")
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_bytes())
    assert manifest["mediaType"] == OCI_MANIFEST and len(manifest["layers"]) == 1
    layer = manifest["layers"][0]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    path = layout / "blobs" / "sha256" / layer["digest"].removeprefix("sha256:")
    with tarfile.open(path) as tar:
        files = [member for member in tar.getmembers() if member.isfile()]
        assert len(files) == 1
        extracted = tar.extractfile(files[0])
        assert extracted is not None
        return files[0].name, extracted.read()


def container_disk_layout(layout: Path, disk: bytes) -> None:
    """An OCI layout holding a container disk as people build one (FROM scratch, ADD
    --chown=107:107 disk.qcow2 /disk/): one gzip layer, tagged v1."""
    (layout / "blobs" / "sha256").mkdir(parents=True)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo("disk")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(directory)
        info = tarfile.TarInfo("disk/disk.qcow2")
        info.size, info.uid, info.gid, info.mode = len(disk), 107, 107, 0o440
        tar.addfile(info, io.BytesIO(disk))
    tagged_layout(layout, buffer.getvalue(), gzipped=True)


def test_container_disks_both_ways_with_skopeo(tmp_path: Path, registry_server: Registry) -> None:
    registry, lading, log = registry_server.address, registry_server.lading, registry_server.log
    creds = f"any:{lading.token}"
    api = httpx.Client(base_url=lading.url, headers={"x-auth-token": lading.token})
    body = {"name": "vm", "disk_format": "qcow2", "container_format": "bare"}
    image_id = api.post("/v2/images", json=body).json()["id"]
    uploaded = api.put(
        f"/v2/images/{image_id}/file", content=DISK,
        headers={"content-type": "application/octet-stream"},
    )  # fmt: skip
    assert uploaded.status_code == 204, uploaded.text

    # Out: the image as a container disk, into an OCI layout.
    out = tmp_path / "out"
    pulled = skopeo(
        # As served: skopeo would compress the layer for an oci: layout otherwise.
        "copy", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds,
        f"docker://{registry}/images/{image_id}:latest", f"oci:{out}:latest",
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr + log_tail(log)
    name, data = untarred_disk(out)
    assert name == "disk/disk.qcow2"
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(DISK).hexdigest()
    assert hashlib.md5(data).hexdigest() == api.get(f"/v2/images/{image_id}").json()["checksum"]
    inspected = skopeo(
        "inspect", "--tls-verify=false", "--creds", creds,
        f"docker://{registry}/images/{image_id}:latest",
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    facts = json.loads(inspected.stdout)
    assert facts["Os"] == "linux" and facts["Architecture"] == "amd64"
    # A private image is not pulled anonymously; once public, it is.
    anonymous = [
        "copy", "--src-tls-verify=false",
        f"docker://{registry}/images/{image_id}:latest", f"dir:{tmp_path / 'anon'}",
    ]  # fmt: skip
    assert skopeo(*anonymous).returncode != 0
    patch = [{"op": "replace", "path": "/visibility", "value": "public"}]
    made_public = api.patch(
        f"/v2/images/{image_id}", json=patch,
        headers={"content-type": "application/openstack-images-v2.1-json-patch"},
    )  # fmt: skip
    assert made_public.status_code == 200, made_public.text
    public = skopeo(*anonymous)
    assert public.returncode == 0, public.stderr + log_tail(log)

    # In: a container disk pushed by skopeo, registered, seen by the Glance face.
    source = tmp_path / "source"
    disk = qcow2_header() + os.urandom(2 * 1024 * 1024)
    container_disk_layout(source, disk)
    pushed = skopeo(
        "copy", "--dest-tls-verify=false", "--dest-creds", creds,
        f"oci:{source}:v1", f"docker://{registry}/clients/vm-disk:v1",
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr + log_tail(log)
    imported = subprocess.run(
        [str(LADING), "registry", "import", "clients/vm-disk:v1", "--name", "from-registry"],
        env=lading.env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    new_id, disk_format, size = imported.stdout.split()
    assert (disk_format, int(size)) == ("qcow2", len(disk))
    shown = api.get(f"/v2/images/{new_id}").json()
    assert shown["status"] == "active" and shown["name"] == "from-registry"
    assert shown["os_hash_value"] == hashlib.sha256(disk).hexdigest()
    assert api.get(f"/v2/images/{new_id}/file").content == disk

    # Deleting the image takes its container disk.
    assert api.delete(f"/v2/images/{image_id}").status_code == 204
    gone = skopeo(
        "inspect", "--raw", "--tls-verify=false", "--creds", creds,
        f"docker://{registry}/images/{image_id}:latest",
    )  # fmt: skip
    assert gone.returncode != 0
    api.close()
