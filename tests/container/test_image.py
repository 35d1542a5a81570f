"""The Containerfile, built with Debian's buildah and run with its podman (rootful, see
tests/container/engine.py for what this machine needs): its image runs lading as an
unprivileged user, keeps everything in its volume, and a second container on the same
volume serves what the first one took.

``make container-test`` runs these (and test_systemd.py), apart from ``make test``: a
first build on a machine takes minutes (a Debian base from its mirror, every dependency
from PyPI), later ones seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import free_port
from tests.container.engine import Engine

pytestmark = pytest.mark.server

UID = 10001  # the Containerfile's LADING_UID
VOLUME = "/var/lib/lading"
STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 20  # seconds podman waits after SIGTERM before SIGKILL
PAYLOAD_SIZE = 3 * 1024 * 1024 + 17


def test_image_declares_its_user_volume_port_and_command(tools: Engine, image: str) -> None:
    config = tools.inspect(image)["Config"]
    assert isinstance(config, dict)
    assert config["User"] == f"{UID}:{UID}"
    assert list(config["Volumes"]) == [VOLUME]
    assert list(config["ExposedPorts"]) == ["9292/tcp"]
    assert config["Entrypoint"] == ["lading"]
    assert config["Cmd"] == ["serve"]
    assert "LADING_HOST=0.0.0.0" in config["Env"]
    assert f"LADING_DATA_DIR={VOLUME}" in config["Env"]
    # The build's pip settings stay in its first stage.
    assert not any(variable.startswith("PIP_") for variable in config["Env"])
    ran = tools.run("run", "--rm", image, "--version")
    assert ran.stdout.strip() == f"lading, version {version('lading')}"


def test_serve_refuses_a_volume_without_a_token(tools: Engine, image: str,
                                                tmp_path: Path) -> None:  # fmt: skip
    """A fresh volume has no token: lading would serve 0.0.0.0 open, so it stops at once,
    saying what to do."""
    data = tmp_path / "data"
    data.mkdir()
    ran = tools.run("run", "--rm", "--volume", f"{data}:{VOLUME}:U", image, check=False)
    assert ran.returncode == 1
    assert "no API token exists" in ran.stderr
    assert "lading token create" in ran.stderr


def test_container_serves_from_its_volume_as_an_unprivileged_user(
    tools: Engine, image: str, tmp_path: Path
) -> None:
    """The documented steps: the catalogue and a token made in the volume, ``lading
    serve`` on a published loopback port, a read-only root; an image uploaded and
    downloaded whole; then a second container on the same volume serves it too."""
    data = tmp_path / "data"
    data.mkdir()
    volume = f"{data}:{VOLUME}:U"  # podman gives the folder to the image's user
    tools.run("run", "--rm", "--volume", volume, image, "db", "upgrade")
    made = tools.run("run", "--rm", "--volume", volume, image,
                     "token", "create", "--project", "admin", "--role", "admin")  # fmt: skip
    token = made.stdout.splitlines()[-1]
    headers = {"X-Auth-Token": token}
    payload = os.urandom(PAYLOAD_SIZE)

    with (
        serving(tools, image, volume) as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as client,
    ):
        created = client.post("/v2/images", json={"name": "in-a-container",
                                                  "disk_format": "raw",
                                                  "container_format": "bare"})  # fmt: skip
        assert created.status_code == 201, created.text
        image_id = created.json()["id"]
        stored = client.put(f"/v2/images/{image_id}/file", content=payload,
                            headers={"content-type": "application/octet-stream"})  # fmt: skip
        assert stored.status_code == 204, stored.text
        downloaded = client.get(f"/v2/images/{image_id}/file")
        assert downloaded.status_code == 200
        assert downloaded.content == payload
        shown = client.get(f"/v2/images/{image_id}").json()
        digest = hashlib.new(shown["os_hash_algo"], payload).hexdigest()
        assert shown["os_hash_value"] == digest
        assert httpx.get(f"{url}/v2/images", timeout=10).status_code == 401

    # Everything lading wrote is in the volume, and its own.
    written = list(data.rglob("*"))
    assert data / "lading.db" in written
    assert any(path.stat().st_size == PAYLOAD_SIZE for path in written if path.is_file())
    strangers = [str(path) for path in [data, *written] if path.stat().st_uid != UID]
    assert not strangers, f"not owned by {UID}: {strangers}"

    with (
        serving(tools, image, volume) as url,
        httpx.Client(base_url=url, headers=headers, timeout=30) as client,
    ):
        listed = client.get("/v2/images").json()["images"]
        assert [found["id"] for found in listed] == [image_id]
        assert client.get(f"/v2/images/{image_id}/file").content == payload


@contextlib.contextmanager
def serving(tools: Engine, image: str, volume: str) -> Iterator[str]:
    """A detached ``lading serve`` container on the volume, its port published on
    loopback: its URL once it answers, checked to run as ``UID`` (not root), then stopped
    by SIGTERM, which it must honour well before podman's SIGKILL."""
    port = free_port()
    name = f"lading-test-{uuid.uuid4().hex[:12]}"
    tools.run("run", "--detach", "--name", name, "--read-only", "--volume", volume,
              "--publish", f"127.0.0.1:{port}:9292", image)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(tools, name, url)
        pid = tools.run("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()
        assert uids[1:] == [str(UID)] * 4, status  # real, effective, saved and fs uids
        yield url
        started = time.monotonic()
        tools.run("stop", "--time", str(STOP_TIMEOUT), name)
        assert time.monotonic() - started < STOP_TIMEOUT / 2
        exit_code = tools.run("inspect", "--format", "{{.State.ExitCode}}", name).stdout
        assert exit_code.strip() == "0", tools.run("logs", name).stderr
    finally:
        tools.run("rm", "--force", "--time", "0", name, check=False)


def wait_healthy(tools: Engine, name: str, url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        state = tools.run("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        if state != "running":
            logs = tools.run("logs", name, check=False)
            pytest.fail(f"the container is {state}:\n{logs.stdout}{logs.stderr}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthcheck", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    logs = tools.run("logs", name, check=False)
    pytest.fail(f"no answer at {url} within {STARTUP_TIMEOUT} s:\n{logs.stdout}{logs.stderr}")
