"""A filesystem store whose disk fills up: the upload that does not fit is refused with 507
and an error body, leaves no partial object or temporary file, and what was stored before
stays whole.

The store lives on a small tmpfs of the test's own (``mount`` needs root; without it the
test skips, saying why, or fails where services are required).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error, create, upload
from tests.services_required import unavailable

MiB = 1024 * 1024
ROOM = 8 * MiB  # the tmpfs


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs, mounted for this test only."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={ROOM},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        unavailable(f"cannot mount a small tmpfs: {mounted.stderr.strip()}", "run as root")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


@pytest.fixture
def client(tmp_path: Path, database_url: str, small_disk: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url,
        stores={"default": {"type": "filesystem", "path": small_disk / "store"}},
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "chunked"])
def test_a_full_store_refuses_cleanly(
    client: TestClient, small_disk: Path, announced: bool
) -> None:
    earlier = {}
    for size in (MiB, 3 * MiB):
        data = os.urandom(size)
        image = create(client)
        upload(client, image["id"], data)
        earlier[image["id"]] = data
    before = stored_files(small_disk / "store")
    assert len(before) == 2

    too_big = os.urandom(6 * MiB)  # 4 MiB are left
    image = create(client)
    body = too_big if announced else iter([too_big[i : i + MiB] for i in range(0, 6 * MiB, MiB)])
    response = client.put(
        f"/v2/images/{image['id']}/file", content=body,
        headers={"content-type": "application/octet-stream"},
    )  # fmt: skip
    assert_error(response, 507)
    assert "insufficientStorage" in response.json()

    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert stored_files(small_disk / "store") == before  # no partial object, no temporary file
    for image_id, data in earlier.items():
        downloaded = client.get(f"/v2/images/{image_id}/file")
        assert downloaded.status_code == 200
        assert hashlib.sha256(downloaded.content).digest() == hashlib.sha256(data).digest()
    # and the room is there again for what fits
    upload(client, image["id"], too_big[: 3 * MiB])
