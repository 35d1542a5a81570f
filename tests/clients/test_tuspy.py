"""tuspy (PyPI's tus client) against a real ``lading serve``: an image uploaded in chunks
with per-chunk checksums, stopped half-way and resumed by a new uploader that finds the
upload again (by its URL, and by the file's fingerprint in tuspy's URL storage)."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from tusclient import client
from tusclient.storage.filestorage import FileStorage

from tests.clients.conftest import running_lading

CHUNK = 256 * 1024
IMAGE = {"disk_format": "raw", "container_format": "bare"}


class Unclosable(io.BytesIO):
    """The file, as tuspy may take it: it leaves a file_path's files open (a
    ResourceWarning), and closes a stream it fingerprints before reading it again."""

    def close(self) -> None:
        pass


def image_named(url: str, token: str, name: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}/v2/images", params={"name": name},
                       headers={"x-auth-token": token}, timeout=30)  # fmt: skip
    (found,) = answer.json()["images"]
    return dict(found)


def test_tuspy_uploads_stops_and_resumes(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    data = os.urandom(10 * CHUNK + 17)
    stream = Unclosable(data)
    with running_lading(tmp_path, pytestconfig) as lading:
        tus = client.TusClient(f"{lading.url}/uploads/", headers={"X-Auth-Token": lading.token})
        first = tus.uploader(
            file_stream=stream,
            chunk_size=CHUNK,
            upload_checksum=True,
            metadata={"name": "by-url", **IMAGE},
        )
        for _ in range(3):
            first.upload_chunk()
        assert first.offset == 3 * CHUNK
        assert image_named(lading.url, lading.token, "by-url")["status"] == "queued"
        resumed = tus.uploader(
            file_stream=stream, url=first.url, chunk_size=CHUNK, upload_checksum=True
        )
        assert resumed.offset == 3 * CHUNK  # asked the server (HEAD)
        resumed.upload()
        found = image_named(lading.url, lading.token, "by-url")
        assert found["status"] == "active" and found["size"] == len(data)
        assert found["checksum"] == hashlib.md5(data).hexdigest()
        assert found["os_hash_value"] == hashlib.sha256(data).hexdigest()

        # tuspy's own resumption: the upload's URL kept by the file's fingerprint.
        storage = FileStorage(str(tmp_path / "tus-urls.json"))
        try:
            started = tus.uploader(
                file_stream=stream, chunk_size=CHUNK, metadata={"name": "by-fingerprint", **IMAGE},
                store_url=True, url_storage=storage,
            )  # fmt: skip
            started.upload(stop_at=4 * CHUNK)
            again = tus.uploader(
                file_stream=stream, chunk_size=CHUNK, store_url=True, url_storage=storage
            )
            assert again.url == started.url and again.offset == 4 * CHUNK
            again.upload()
        finally:
            storage.close()  # tinydb's file
        found = image_named(lading.url, lading.token, "by-fingerprint")
        assert found["status"] == "active"
        assert found["os_hash_value"] == hashlib.sha256(data).hexdigest()
        download = httpx.get(f"{lading.url}/v2/images/{found['id']}/file",
                             headers={"x-auth-token": lading.token}, timeout=30)  # fmt: skip
        assert download.content == data
