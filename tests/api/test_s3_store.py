"""The Glance face over an S3 store: the same data path, bytes kept in a bucket."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import S3StoreSettings, Settings
from tests.api.helpers import create, upload
from tests.object_servers import Bucket

DATA = os.urandom(7 * 1024 * 1024)  # more than one 5 MiB part


@pytest.fixture
def client(tmp_path: Path, database_url: str, s3_bucket: Bucket) -> Iterator[TestClient]:
    store = S3StoreSettings(
        type="s3", endpoint_url=s3_bucket.endpoint_url, bucket=s3_bucket.name,
        prefix=tmp_path.name, access_key=s3_bucket.access_key,
        secret_key=s3_bucket.secret_key, path_style=True, part_size=5 * 1024 * 1024,
    )  # fmt: skip
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
