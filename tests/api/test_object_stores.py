"""The Glance face over S3, Swift and RBD stores: the same data path, bytes kept remotely."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import create, upload
from tests.ceph_server import rbd_store
from tests.object_servers import s3_store, swift_store
from tests.services_required import SERVICES

DATA = os.urandom(7 * 1024 * 1024)  # more than one 5 MiB part


@pytest.fixture(
    params=[pytest.param(store, marks=SERVICES) for store in (s3_store, swift_store, rbd_store)]
)
def client(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> Iterator[TestClient]:
    store = request.param(request, tmp_path.name)
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, stores={"default": store}
    )
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


def test_upload_download_and_delete(client: TestClient) -> None:
    image = create(client)
    upload(client, image["id"], DATA)
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["size"] == len(DATA)
    assert shown["os_hash_value"] == hashlib.sha256(DATA).hexdigest()
    assert client.get(f"/v2/images/{image['id']}/file").content == DATA
    ranged = client.get(f"/v2/images/{image['id']}/file", headers={"range": "bytes=-10"})
    assert ranged.status_code == 206 and ranged.content == DATA[-10:]
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    other = create(client)
    upload(client, other["id"], DATA)  # the same bytes again: stored anew, not lost
    assert client.get(f"/v2/images/{other['id']}/file").content == DATA


@pytest.fixture
def redirecting(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> Iterator[TestClient]:
    store = s3_store(request, tmp_path.name).model_copy(update={"redirect": True})
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, stores={"default": store}
    )
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test", follow_redirects=False) as test_client:
        yield test_client


@SERVICES  # a store on Swift's S3 API or Swift
def test_redirect_mode_hands_downloads_to_presigned_urls(redirecting: TestClient) -> None:
    image = create(redirecting)
    upload(redirecting, image["id"], DATA)
    url = f"/v2/images/{image['id']}/file"

    handed_off = redirecting.get(url)
    assert handed_off.status_code == 307
    assert handed_off.headers["cache-control"] == "no-store"
    signed = handed_off.headers["location"]
    assert "X-Amz-Signature=" in signed and "X-Amz-Expires=60" in signed
    assert httpx.get(signed).content == DATA  # straight from the bucket
    ranged = httpx.get(redirecting.get(url).headers["location"], headers={"range": "bytes=5-9"})
    assert ranged.status_code == 206 and ranged.content == DATA[5:10]
    tampered = signed.replace("X-Amz-Expires=60", "X-Amz-Expires=999")
    assert httpx.get(tampered).status_code == 403  # the signature covers the expiry

    # What S3 cannot answer, and what has no body, stays with lading.
    several = redirecting.get(url, headers={"range": "bytes=0-1,5-6"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges")
    assert redirecting.head(url).status_code == 200
    etag = redirecting.head(url).headers["etag"]
    assert redirecting.get(url, headers={"if-none-match": etag}).status_code == 304


def test_a_resumable_upload_keeps_its_parts_on_the_store(client: TestClient) -> None:
    """Each PATCH's bytes are an object of the store (S3, Swift, RBD), so another node
    resumes from them; the finish reads them back into the image, then removes them."""
    tus = {"tus-resumable": "1.0.0"}
    meta = "disk_format cmF3,container_format YmFyZQ=="
    created = client.post(
        "/uploads/", headers={**tus, "upload-length": str(len(DATA)), "upload-metadata": meta}
    )
    assert created.status_code == 201, created.text
    path = created.headers["location"].removeprefix("http://lading.test")
    offset = 0
    for size in (3 * 1024 * 1024, 1, 2 * 1024 * 1024):
        client.app.state.services.resumable.hashes.clear()  # type: ignore[attr-defined]
        answer = client.patch(
            path, content=DATA[offset : offset + size],
            headers={**tus, "upload-offset": str(offset),
                     "content-type": "application/offset+octet-stream"},
        )  # fmt: skip
        assert answer.status_code == 204, answer.text
        offset += size
    answer = client.patch(
        path, content=DATA[offset:],
        headers={**tus, "upload-offset": str(offset),
                 "content-type": "application/offset+octet-stream"},
    )  # fmt: skip
    assert answer.status_code == 204, answer.text
    image_id = answer.headers["lading-artifact-id"]
    shown = client.get(f"/v2/images/{image_id}").json()
    assert shown["status"] == "active"
    assert shown["os_hash_value"] == hashlib.sha256(DATA).hexdigest()
    assert client.get(f"/v2/images/{image_id}/file").content == DATA
