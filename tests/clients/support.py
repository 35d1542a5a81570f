"""Small steps the client tests repeat: images made and checked over plain HTTP."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from openstack.connection import Connection
from openstack.image.v2._proxy import Proxy as ImageProxy

MiB = 1024 * 1024
GLANCE = Path(sys.executable).with_name("glance")
GLANCE_TIMEOUT = 60.0


def unique(prefix: str) -> str:
    """A name no other test uses, so tests can share one server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def images(conn: Connection) -> ImageProxy:
    """The image API of ``conn``: openstacksdk types it as its v1 or v2 proxy, which the
    catalogue picks when it is first used; lading offers v2 first, so it is v2."""
    proxy = conn.image
    assert isinstance(proxy, ImageProxy), proxy
    return proxy


def random_bytes(size: int) -> bytes:
    return os.urandom(size)


# Glance v2 takes data only into an image with both formats.
RAW = {"disk_format": "raw", "container_format": "bare"}


def create_image(
    api: httpx.Client, name: str, data: bytes | None = None, /, **fields: Any
) -> dict[str, Any]:
    """An image made over HTTP (and uploaded to when ``data`` is given)."""
    body = {"name": name, **RAW, **fields}
    response = api.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    image: dict[str, Any] = response.json()
    if data is not None:
        upload = api.put(
            f"/v2/images/{image['id']}/file",
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
        assert upload.status_code == 204, upload.text
        image = get_image(api, image["id"])
    return image


def get_image(api: httpx.Client, image_id: str) -> dict[str, Any]:
    response = api.get(f"/v2/images/{image_id}")
    assert response.status_code == 200, response.text
    image: dict[str, Any] = response.json()
    return image


def assert_active_with(image: dict[str, Any], data: bytes) -> None:
    """The image holds exactly ``data``, with the digests both clients verify downloads with."""
    assert image["status"] == "active"
    assert image["size"] == len(data)
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["os_hash_value"] == hashlib.new(image["os_hash_algo"], data).hexdigest()


def run_glance(
    server_url: str,
    token: str,
    home: Path,
    *args: str,
    api_version: str | None = "2",
    stdin_closed: bool = False,
    stdin_terminal: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``glance`` with only our endpoint and token; OS_* settings of the caller are dropped.

    ``stdin_closed``: as from a terminal with nothing piped in. The CLI takes any stdin that
    is a file or a pipe (even /dev/null) for image data, which some commands refuse.
    ``stdin_terminal``: stdin is a terminal (a pseudo-terminal here), for the v1 commands
    that look at stdin and fail when it is closed.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["HOME"] = str(home)
    command = [str(GLANCE), "--os-image-url", server_url, "--os-auth-token", token]
    if api_version is not None:
        command += ["--os-image-api-version", api_version]
    if stdin_closed:  # bash closes it and runs glance in its place
        command = ["bash", "-c", 'exec 0<&- "$@"', "glance", *command]
    terminal, stdin = os.openpty() if stdin_terminal else (None, subprocess.DEVNULL)
    try:
        return subprocess.run(
            [*command, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=GLANCE_TIMEOUT,
            stdin=stdin,
            check=False,
        )
    finally:
        if terminal is not None:
            os.close(terminal)
            os.close(stdin)


def settled(api: httpx.Client, image_id: str) -> dict[str, Any]:
    """The image once it has left the statuses of data on its way (an import's task ran)."""
    for _ in range(300):
        image: dict[str, Any] = api.get(f"/v2/images/{image_id}").json()
        if image["status"] not in ("queued", "uploading", "importing", "saving"):
            return image
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} is still {image['status']}")


def table_rows(output: str) -> list[list[str]]:
    """The cells of the prettytable the CLI prints, header row first."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split("|")]
        for line in output.splitlines()
        if line.startswith("|")
    ]
