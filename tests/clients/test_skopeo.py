"""skopeo (Debian's) copying an OCI image to a real ``lading serve``'s registry listener
(``oci.port``) and back, with a lading token as its credentials: digests compared."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import Registry, log_tail
from tests.clients.oci_layouts import make_layout

SKOPEO = shutil.which("skopeo")
TIMEOUT = 120.0

pytestmark = pytest.mark.skipif(
    SKOPEO is None, reason="skopeo is not installed (apt-get install skopeo)"
)


def skopeo(*arguments: str) -> subprocess.CompletedProcess[str]:
    assert SKOPEO is not None
    return subprocess.run(
        [SKOPEO, "--insecure-policy", *arguments],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip


def test_skopeo_copies_an_image_to_lading_and_back(
    tmp_path: Path, registry_server: Registry
) -> None:
    registry, lading, log = registry_server.address, registry_server.lading, registry_server.log
    source = tmp_path / "source"
    payload = bytes(range(256)) * 4096
    digest = make_layout(source, payload)
    creds = f"any:{lading.token}"
    pushed = skopeo(
        "copy", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds,
        f"oci:{source}:v1", f"docker://{registry}/clients/disk:v1",
    )  # fmt: skip
    assert pushed.returncode == 0, pushed.stderr + log_tail(log)
    inspected = skopeo(
        "inspect", "--raw", "--tls-verify=false", "--creds", creds,
        f"docker://{registry}/clients/disk:v1",
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert "sha256:" + hashlib.sha256(inspected.stdout.encode()).hexdigest() == digest
    back = tmp_path / "back"
    pulled = skopeo(
        "copy", "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds,
        f"docker://{registry}/clients/disk:v1", f"oci:{back}:v1",
    )  # fmt: skip
    assert pulled.returncode == 0, pulled.stderr + log_tail(log)
    index = json.loads((back / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    for blob in (source / "blobs" / "sha256").iterdir():
        assert (back / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()
    # Without credentials, the private repository is not pulled.
    anonymous = skopeo(
        "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/clients/disk:v1"
    )
    assert anonymous.returncode != 0
