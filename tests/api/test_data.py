"""Image data over the Glance v2 face: upload, download, ranges, validators, dedup."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.settings import Settings
from tests.api.helpers import assert_error, create, upload

DATA = os.urandom(3 * 1024 * 1024 + 17)


def store_files(settings: Settings) -> list[Path]:
    root = settings.store_path("default")
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def active(client: TestClient) -> str:
    image = create(client, name="data")
    upload(client, image["id"], DATA)
    return str(image["id"])


def test_upload_computes_size_and_digests(client: TestClient, active: str) -> None:
    image = client.get(f"/v2/images/{active}").json()
    assert image["status"] == "active" and image["size"] == len(DATA)
    assert image["checksum"] == hashlib.md5(DATA).hexdigest()
    assert image["os_hash_algo"] == "sha256"
    assert image["os_hash_value"] == hashlib.sha256(DATA).hexdigest()


def test_chunked_upload_with_announced_size(client: TestClient) -> None:
    image = create(client)

    def body() -> Iterator[bytes]:
        for offset in range(0, len(DATA), 100_000):
            yield DATA[offset : offset + 100_000]

    response = client.put(
        f"/v2/images/{image['id']}/file",
        content=body(),
        headers={"x-openstack-image-size": str(len(DATA))},
    )
    assert response.status_code == 204, response.text
    assert client.get(f"/v2/images/{image['id']}").json()["size"] == len(DATA)


def test_download_whole(client: TestClient, active: str) -> None:
    response = client.get(f"/v2/images/{active}/file")
    assert response.status_code == 200 and response.content == DATA
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["content-md5"] == hashlib.md5(DATA).hexdigest()
    assert response.headers["etag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["last-modified"].endswith("GMT")


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-0", 0, 1), ("bytes=10-99", 10, 100), ("bytes=-100", len(DATA) - 100, len(DATA)),
     ("bytes=3000000-", 3000000, len(DATA)), ("bytes=5-9999999999", 5, len(DATA)),
     ("bytes=0-9,5-20", 0, 21)],
)  # fmt: skip
def test_single_ranges(client: TestClient, active: str, header: str, start: int, end: int) -> None:
    response = client.get(f"/v2/images/{active}/file", headers={"range": header})
    assert response.status_code == 206
    assert response.content == DATA[start:end]
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert "content-md5" not in response.headers


def test_several_ranges_come_as_multipart(client: TestClient, active: str) -> None:
    response = client.get(f"/v2/images/{active}/file", headers={"range": "bytes=0-9,100-109,-5"})
    assert response.status_code == 206
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/byteranges; boundary=")
    boundary = content_type.split("boundary=")[1].encode()
    parts = response.content.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n" and len(parts) == 5
    expected = [(0, 10), (100, 110), (len(DATA) - 5, len(DATA))]
    for part, (start, end) in zip(parts[1:4], expected, strict=True):
        head, body = part.split(b"\r\n\r\n", 1)
        assert f"Content-Range: bytes {start}-{end - 1}/{len(DATA)}".encode() in head
        assert body == DATA[start:end] + b"\r\n"
    assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.parametrize("header", ["bytes=99999999-", "bytes=-0"])
def test_unsatisfiable_ranges(client: TestClient, active: str, header: str) -> None:
    response = client.get(f"/v2/images/{active}/file", headers={"range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=9-1", "items=0-1", "bytes=a-b", "bytes", "bytes=1-2-3"])
def test_malformed_ranges_are_ignored(client: TestClient, active: str, header: str) -> None:
    response = client.get(f"/v2/images/{active}/file", headers={"range": header})
    assert response.status_code == 200 and response.content == DATA


def test_conditional_requests(client: TestClient, active: str) -> None:
    first = client.get(f"/v2/images/{active}/file")
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert (
        client.get(f"/v2/images/{active}/file", headers={"if-none-match": etag}).status_code == 304
    )
    assert client.get(f"/v2/images/{active}/file", headers={"if-none-match": '"x"'}).content == DATA
    for validator in (etag, modified):
        ranged = client.get(
            f"/v2/images/{active}/file", headers={"range": "bytes=0-3", "if-range": validator}
        )
        assert ranged.status_code == 206 and ranged.content == DATA[:4]
    stale = client.get(
        f"/v2/images/{active}/file", headers={"range": "bytes=0-3", "if-range": '"stale"'}
    )
    assert stale.status_code == 200 and stale.content == DATA


def test_an_image_without_data_answers_204(client: TestClient) -> None:
    image = create(client)
    assert client.get(f"/v2/images/{image['id']}/file").status_code == 204


def test_an_empty_upload_makes_an_empty_active_image(client: TestClient) -> None:
    image = create(client)
    upload(client, image["id"], b"")
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == 0
    response = client.get(f"/v2/images/{image['id']}/file")
    assert response.status_code == 200 and response.content == b""


def test_upload_to_an_active_image_conflicts(client: TestClient, active: str) -> None:
    assert_error(client.put(f"/v2/images/{active}/file", content=b"other"), 409)
    assert client.get(f"/v2/images/{active}/file").content == DATA


def test_identical_bytes_are_stored_once(client: TestClient, settings: Settings) -> None:
    first, second = create(client), create(client)
    upload(client, first["id"], DATA)
    upload(client, second["id"], DATA)
    assert len(store_files(settings)) == 1
    client.delete(f"/v2/images/{first['id']}")
    assert client.get(f"/v2/images/{second['id']}/file").content == DATA
    assert len(store_files(settings)) == 1
    client.delete(f"/v2/images/{second['id']}")
    assert store_files(settings) == []


def test_deleting_an_image_removes_its_bytes(client: TestClient, settings: Settings) -> None:
    image = create(client)
    upload(client, image["id"], b"some bytes")
    assert len(store_files(settings)) == 1
    client.delete(f"/v2/images/{image['id']}")
    assert store_files(settings) == []


def test_deactivated_images_are_still_downloadable_by_admins(
    client: TestClient, active: str
) -> None:
    client.post(f"/v2/images/{active}/actions/deactivate")
    assert client.get(f"/v2/images/{active}/file").content == DATA


def test_head_gives_the_headers_only(client: TestClient, active: str) -> None:
    whole = client.head(f"/v2/images/{active}/file")
    assert whole.status_code == 200 and whole.content == b""
    assert whole.headers["content-length"] == str(len(DATA))
    ranged = client.head(f"/v2/images/{active}/file", headers={"range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.headers["content-length"] == "10"


def test_weak_and_wildcard_validators(client: TestClient, active: str) -> None:
    etag = client.head(f"/v2/images/{active}/file").headers["etag"]
    for header in ("*", f"W/{etag}", f'"other", {etag}'):
        response = client.get(f"/v2/images/{active}/file", headers={"if-none-match": header})
        assert response.status_code == 304


def test_a_stale_if_range_ignores_even_an_unsatisfiable_range(
    client: TestClient, active: str
) -> None:
    response = client.get(
        f"/v2/images/{active}/file", headers={"range": "bytes=99999999-", "if-range": '"stale"'}
    )
    assert response.status_code == 200 and response.content == DATA


def test_missing_bytes_are_a_server_error_before_any_body(
    client: TestClient, active: str, settings: Settings
) -> None:
    for path in store_files(settings):
        path.unlink()
    response = client.get(f"/v2/images/{active}/file")
    assert_error(response, 503)


def test_the_store_header_is_ignored_with_one_store(client: TestClient) -> None:
    """As Glance with multi-store off: `glance image-upload --store x` still works."""
    image = create(client)
    response = client.put(
        f"/v2/images/{image['id']}/file", content=b"data", headers={"x-image-meta-store": "x"}
    )
    assert response.status_code == 204


def test_truncated_bytes_are_a_server_error_before_any_body(
    client: TestClient, active: str, settings: Settings
) -> None:
    (path,) = store_files(settings)
    with path.open("r+b") as file:
        file.truncate(100)
    assert_error(client.get(f"/v2/images/{active}/file"), 503)


def test_the_media_type_is_case_insensitive(client: TestClient) -> None:
    image = create(client)
    response = client.put(
        f"/v2/images/{image['id']}/file",
        content=b"data",
        headers={"content-type": "Application/Octet-Stream"},
    )
    assert response.status_code == 204
