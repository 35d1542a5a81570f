"""Interoperable import through the glance CLI: image-create-via-import, image-stage and
image-import, with glance-direct and web-download (openstacksdk's import is in
test_openstacksdk)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import WEB_DATA, Lading, api_client
from tests.clients.support import (
    assert_active_with,
    create_image,
    random_bytes,
    run_glance,
    settled,
    table_rows,
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
    tasks = glance(server_url, api_token, tmp_path, "image-tasks", fetched["id"])
    assert len(table_rows(tasks)) == 2 and "| Imported" in tasks and "success" in tasks


def test_imports_into_several_stores_and_leaving_one(
    multistore: Lading, web_origin: Origin, tmp_path: Path
) -> None:
    """image-create-via-import --stores, copy-image, then stores-delete (Glance 2.9-2.10)."""
    with api_client(multistore) as api:
        create = ["image-create-via-import", "--name", unique("everywhere"), *IMAGE,
                  "--import-method", "web-download", "--uri", web_origin.url(),
                  "--stores", "fast,bulk"]  # fmt: skip
        output = glance(multistore.url, multistore.token, tmp_path, *create)
        everywhere = settled(api, image_id_in(output))
        assert_active_with(everywhere, WEB_DATA)
        assert set(everywhere["stores"].split(",")) == {"fast", "bulk"}
        data = random_bytes(500_000)
        image = create_image(api, unique("copied"), data)
        glance(multistore.url, multistore.token, tmp_path, "image-import", "--import-method",
               "copy-image", "--stores", "bulk", image["id"])  # fmt: skip
        copied = imported(api, image["id"])
        assert set(copied["stores"].split(",")) == {"fast", "bulk"}
        tasks = glance(multistore.url, multistore.token, tmp_path, "image-tasks", image["id"])
        assert "Copied to bulk" in tasks
        glance(multistore.url, multistore.token, tmp_path, "stores-delete", "--store", "fast",
               image["id"])  # fmt: skip
        assert api.get(f"/v2/images/{image['id']}").json()["stores"] == "bulk"
        assert api.get(f"/v2/images/{image['id']}/file").content == data


def imported(api: httpx.Client, image_id: str) -> dict[str, Any]:
    """The image once no import task holds it (copy-image leaves it active throughout)."""
    for _ in range(300):
        image: dict[str, Any] = api.get(f"/v2/images/{image_id}").json()
        if "os_glance_import_task" not in image:
            return image
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} is still held by an import")
