"""Interoperable import through the glance CLI: image-create-via-import, image-stage and
image-import, with glance-direct and web-download (openstacksdk's import is in
test_openstacksdk)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import WEB_DATA
from tests.clients.support import (
    assert_active_with,
    create_image,
    random_bytes,
    run_glance,
    settled,
    unique,
)
from tests.http_origin import Origin

pytestmark = pytest.mark.clients
IMAGE = ["--disk-format", "raw", "--container-format", "bare"]


def image_id_in(output: str) -> str:
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0] == "id":
            return cells[1]
    raise AssertionError(f"no id in:\n{output}")


def glance(server_url: str, token: str, home: Path, *args: str) -> str:
    result = run_glance(server_url, token, home, *args, stdin_closed=True)
    assert result.returncode == 0, f"glance failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_create_via_import_web_download(
    server_url: str, api_token: str, api: httpx.Client, web_origin: Origin, tmp_path: Path
) -> None:
    output = glance(server_url, api_token, tmp_path, "image-create-via-import", "--name",
                    unique("web"), *IMAGE, "--import-method", "web-download",
                    "--uri", web_origin.url())  # fmt: skip
    assert_active_with(settled(api, image_id_in(output)), WEB_DATA)


def test_create_via_import_glance_direct(
    server_url: str, api_token: str, api: httpx.Client, tmp_path: Path
) -> None:
    data = random_bytes(2 * 1024 * 1024 + 3)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    output = glance(server_url, api_token, tmp_path, "image-create-via-import", "--name",
                    unique("direct"), *IMAGE, "--import-method", "glance-direct",
                    "--file", str(source))  # fmt: skip
    assert_active_with(settled(api, image_id_in(output)), data)


def test_stage_then_import_and_import_from_the_web(
    server_url: str, api_token: str, api: httpx.Client, web_origin: Origin, tmp_path: Path
) -> None:
    data = random_bytes(1024 * 1024)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    staged = create_image(api, unique("staged"))
    glance(server_url, api_token, tmp_path, "image-stage", "--file", str(source), staged["id"])
    assert api.get(f"/v2/images/{staged['id']}").json()["status"] == "uploading"
    glance(server_url, api_token, tmp_path, "image-import", "--import-method", "glance-direct",
           staged["id"])  # fmt: skip
    assert_active_with(settled(api, staged["id"]), data)
    fetched = create_image(api, unique("fetched"))
    glance(server_url, api_token, tmp_path, "image-import", "--import-method", "web-download",
           "--uri", web_origin.url(), fetched["id"])  # fmt: skip
    assert_active_with(settled(api, fetched["id"]), WEB_DATA)
    # The CLI's image-tasks wants v2.12 listed, which waits for copy-image; the API has them.
    (task,) = api.get(f"/v2/images/{fetched['id']}/tasks").json()["tasks"]
    assert task["status"] == "success" and task["input"]["uri"] == web_origin.url()
