"""podman (Debian's) pushing an image to a real ``lading serve``'s registry listener and
pulling it back, with a lading token as its credentials.

Push and pull run no container: rootful podman with the ``vfs`` storage driver (no
overlay mount needed) and a storage root of the test's own, so it leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import Registry, log_tail
from tests.clients.oci_layouts import make_layout

PODMAN = shutil.which("podman")
TIMEOUT = 120.0

pytestmark = [
    pytest.mark.skipif(PODMAN is None, reason="podman is not installed (apt-get install podman)"),
    pytest.mark.skipif(os.geteuid() != 0, reason="podman's vfs storage here needs root"),
]


class Podman:
    """podman with a storage of its own under ``root``."""

    def __init__(self, root: Path, runroot: Path) -> None:
        self.root = root
        self.runroot = runroot  # podman takes one of at most 50 characters
        root.mkdir(parents=True, exist_ok=True)
        # The host's registries.conf stays out: images are named in full here.
        self.env = {**os.environ, "CONTAINERS_REGISTRIES_CONF": str(root / "registries.conf")}
        (root / "registries.conf").write_text("unqualified-search-registries = []\n")

    def __call__(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        assert PODMAN is not None
        return subprocess.run(
            [PODMAN, "--storage-driver=vfs", f"--root={self.root / 'storage'}",
             f"--runroot={self.runroot}", "--events-backend=file",
             "--cgroup-manager=cgroupfs", *arguments],
            capture_output=True, text=True, timeout=TIMEOUT, check=False, env=self.env,
        )  # fmt: skip


def test_podman_pushes_an_image_to_lading_and_pulls_it_back(
    tmp_path: Path, registry_server: Registry
) -> None:
    registry, lading, log = registry_server.address, registry_server.lading, registry_server.log
    with tempfile.TemporaryDirectory(prefix="lading-podman-") as runroot:
        podman = Podman(tmp_path / "podman", Path(runroot))
        source = tmp_path / "source"
        payload = os.urandom(256 * 1024)
        make_layout(source, payload)
        image = f"{registry}/clients/pod:v1"
        loaded = podman("pull", f"oci:{source}:v1")
        assert loaded.returncode == 0, loaded.stderr
        tagged = podman("tag", loaded.stdout.strip().splitlines()[-1], image)
        assert tagged.returncode == 0, tagged.stderr
        creds = f"any:{lading.token}"
        pushed = podman("push", "--tls-verify=false", "--creds", creds, image)
        assert pushed.returncode == 0, pushed.stderr + log_tail(log)

        # What the registry holds is what podman pulls back.
        answer = httpx.head(
            f"http://{registry}/v2/clients/pod/manifests/v1",
            auth=("any", lading.token),
            headers={"accept": "application/vnd.oci.image.manifest.v1+json,"
                               "application/vnd.docker.distribution.manifest.v2+json"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        removed = podman("rmi", "--all", "--force")
        assert removed.returncode == 0, removed.stderr
        pulled = podman("pull", "--tls-verify=false", "--creds", creds, image)
        assert pulled.returncode == 0, pulled.stderr + log_tail(log)
        inspected = podman("image", "inspect", image)
        assert inspected.returncode == 0, inspected.stderr
        assert json.loads(inspected.stdout)[0]["Digest"] == answer.headers["docker-content-digest"]

        # The layer's file came back whole.
        saved = tmp_path / "saved"
        exported = podman("save", "--format", "oci-dir", "-o", str(saved), image)
        assert exported.returncode == 0, exported.stderr
        assert payload in [member_bytes(layer) for layer in (saved / "blobs" / "sha256").iterdir()]

        # Without credentials, the private repository is not pulled.
        podman("rmi", "--all", "--force")
        anonymous = podman("pull", "--tls-verify=false", image)
        assert anonymous.returncode != 0


def member_bytes(blob: Path) -> bytes | None:
    """The bytes of ``disk/data.bin`` when ``blob`` is a layer holding it (a tar, maybe
    compressed); None for any other blob."""
    try:
        with tarfile.open(blob) as tar:
            member = tar.extractfile("disk/data.bin")
            return None if member is None else member.read()
    except (tarfile.TarError, KeyError):
        return None
