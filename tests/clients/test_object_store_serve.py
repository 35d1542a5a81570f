"""`lading serve` on S3 and Swift stores: workers start and move bytes; S3 redirect mode.

A regression test: object-store clients with runtimes of their own must not be used in
the process granian forks its workers from, or the workers hang.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.clients.conftest import api_client, running_lading
from tests.clients.support import RAW, create_image, run_glance, unique
from tests.object_servers import SWIFT_KEY, SWIFT_URL, SWIFT_USER, Bucket

pytestmark = pytest.mark.clients


def store_settings(kind: str, request: pytest.FixtureRequest) -> dict[str, object]:
    if kind == "s3":
        bucket: Bucket = request.getfixturevalue("s3_bucket")
        return {
            "type": "s3", "endpoint_url": bucket.endpoint_url, "bucket": bucket.name,
            "prefix": "serve/", "access_key": bucket.access_key,
            "secret_key": bucket.secret_key, "path_style": True,
        }  # fmt: skip
    container: str = request.getfixturevalue("swift_container")
    return {
        "type": "swift", "auth_url": f"{SWIFT_URL}/auth/v1.0", "user": SWIFT_USER,
        "key": SWIFT_KEY, "container": container, "prefix": "serve/",
    }  # fmt: skip


@pytest.mark.parametrize("kind", ["s3", "swift"])
def test_serve_on_an_object_store(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    stores = json.dumps({"default": store_settings(kind, request)})
    data = os.urandom(3 * 1024 * 1024)
    with (
        running_lading(tmp_path, pytestconfig, {"LADING_STORES": stores}) as server,
        api_client(server) as client,
    ):
        image = client.post("/v2/images", json={"name": kind, **RAW}).json()
        response = client.put(f"/v2/images/{image['id']}/file", content=data)
        assert response.status_code == 204, response.text
        assert client.get(f"/v2/images/{image['id']}/file").content == data
        assert client.delete(f"/v2/images/{image['id']}").status_code == 204


def test_redirect_mode_with_real_clients(
    request: pytest.FixtureRequest, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """The glance CLI and curl -L follow the hand-off to the bucket, Range included."""
    store = {**store_settings("s3", request), "redirect": True}
    stores = json.dumps({"default": store})
    data = os.urandom(2 * 1024 * 1024)
    with (
        running_lading(tmp_path, pytestconfig, {"LADING_STORES": stores}) as server,
        api_client(server) as client,
    ):
        image = create_image(client, unique("redirect"), data)
        file_url = f"{server.url}/v2/images/{image['id']}/file"
        assert client.get(file_url).status_code == 307

        downloaded = tmp_path / "downloaded"
        home = tmp_path / "home"
        home.mkdir()
        download = ["image-download", "--file", str(downloaded), image["id"]]
        glance = run_glance(server.url, server.token, home, *download)
        assert glance.returncode == 0, glance.stderr
        assert downloaded.read_bytes() == data

        curl = subprocess.run(
            ["curl", "-sSfL", "-r", "100-199", "-H", f"X-Auth-Token: {server.token}", file_url],
            capture_output=True, timeout=30, check=True,
        )  # fmt: skip
        assert curl.stdout == data[100:200]
