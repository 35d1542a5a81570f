"""The Glance v1 face over HTTP: headers in and out, v1's semantics (killed, purge, 409 on
data into an active image), bad input refused with nothing changed, and one catalogue
shared with v2."""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.testclient import TestClient

from tests.api.helpers import assert_error

DATA = bytes(range(256)) * 40
OCTETS = {"content-type": "application/octet-stream"}
META = {"x-image-meta-name": "cirros", "x-image-meta-disk_format": "qcow2",
        "x-image-meta-container_format": "bare"}  # fmt: skip


def create(client: TestClient, data: bytes | None = None, **headers: str) -> Any:
    sent = {**META, **headers} | (OCTETS if data is not None else {})
    return client.post("/v1/images", headers=sent, content=data)


def image_count(client: TestClient) -> int:
    return len(client.get("/v1/images").json()["images"])


def test_create_with_data_then_head_and_download(client: TestClient) -> None:
    created = create(client, DATA, **{"x-image-meta-property-os_distro": "cirros",
                                      "x-image-meta-is_public": "True"})  # fmt: skip
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    md5 = hashlib.md5(DATA).hexdigest()
    assert created.headers["location"] == f"/v1/images/{image['id']}"
    assert created.headers["etag"] == md5
    assert image["status"] == "active" and image["size"] == len(DATA) and image["is_public"]
    assert image["properties"] == {"os_distro": "cirros"}
    head = client.head(f"/v1/images/{image['id']}")
    assert head.headers["x-image-meta-status"] == "active"
    assert head.headers["x-image-meta-checksum"] == md5
    assert head.headers["x-image-meta-is_public"] == "True"
    assert head.headers["x-image-meta-property-os_distro"] == "cirros"
    assert "x-image-meta-location" not in head.headers
    part = client.get(f"/v1/images/{image['id']}", headers={"range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == DATA[10:20]
    assert part.headers["x-image-meta-name"] == "cirros"
    # The same image on the v2 face.
    as_v2 = client.get(f"/v2/images/{image['id']}").json()
    assert as_v2["visibility"] == "public" and as_v2["os_distro"] == "cirros"


def test_bad_requests_change_nothing(client: TestClient) -> None:
    for data, headers in [
        (DATA, {"x-glance-api-copy-from": "http://example.org/a.img"}),  # two sources
        (None, {"x-image-meta-location": "http://example.org/a.img"}),
        (None, {"x-image-meta-is_public": "maybe"}),
        (None, {"x-image-meta-min_disk": "-1"}),
        (None, {"x-image-meta-disk_format": "floppy"}),
        (None, {"x-image-meta-colour": "blue"}),
        (None, {"x-image-meta-id": "not-a-uuid"}),
        (None, {"x-glance-api-copy-from": "http://127.0.0.1/metadata"}),  # an internal address
        (None, {"x-glance-api-copy-from": "file:///etc/passwd"}),
    ]:
        assert_error(create(client, data, **headers), 400)
    assert image_count(client) == 0
    for query in ("sort_key=colour", "sort_dir=up", "size_min=big", "is_public=maybe",
                  "colour=blue", "changes-since=yesterday"):  # fmt: skip
        assert_error(client.get(f"/v1/images/detail?{query}"), 400)


def test_a_failed_upload_leaves_the_image_killed(client: TestClient) -> None:
    wrong = create(client, DATA, **{"x-image-meta-checksum": "0" * 32})
    assert_error(wrong, 400)
    (image,) = client.get("/v1/images/detail").json()["images"]
    assert image["status"] == "killed" and image["size"] is None
    assert_error(client.put(f"/v1/images/{image['id']}", content=DATA, headers=OCTETS), 409)


def test_updates_merge_or_purge_properties_and_data_goes_only_into_queued(
    client: TestClient,
) -> None:
    reserved = create(client, **{"x-image-meta-property-a": "1",
                                 "x-image-meta-property-b": "2"}).json()["image"]  # fmt: skip
    assert reserved["status"] == "queued"
    path = f"/v1/images/{reserved['id']}"
    merged = client.put(path, headers={"x-image-meta-property-c": "3"}).json()["image"]
    assert merged["properties"] == {"a": "1", "b": "2", "c": "3"}
    purged = client.put(path, headers={"x-image-meta-property-d": "4",
                                       "x-glance-registry-purge-props": "true"})  # fmt: skip
    assert purged.json()["image"]["properties"] == {"d": "4"}
    filled = client.put(path, content=DATA, headers={**OCTETS, "x-image-meta-size": str(len(DATA))})
    assert filled.status_code == 200 and filled.json()["image"]["status"] == "active"
    assert_error(client.put(path, content=DATA, headers=OCTETS), 409)
    assert client.get(path).content == DATA


def test_listing_filters_sorts_and_deletes(client: TestClient) -> None:
    gold = {"x-image-meta-name": "small", "x-image-meta-property-tier": "gold"}
    small = create(client, b"x" * 10, **gold).json()["image"]
    protected = {"x-image-meta-name": "big", "x-image-meta-protected": "True"}
    big = create(client, b"y" * 1000, **protected).json()["image"]
    brief = client.get("/v1/images?sort_key=name&sort_dir=asc").json()["images"]
    assert [image["name"] for image in brief] == ["big", "small"]
    assert set(brief[0]) == {"id", "name", "disk_format", "container_format", "checksum", "size"}
    for query, names in [("size_min=100", ["big"]), ("property-tier=gold", ["small"]),
                         ("name=small", ["small"]), ("is_public=True", [])]:  # fmt: skip
        listed = client.get(f"/v1/images/detail?{query}").json()["images"]
        assert [image["name"] for image in listed] == names, query
    assert_error(client.delete(f"/v1/images/{big['id']}"), 403)  # protected
    assert client.delete(f"/v1/images/{small['id']}").status_code == 200
    assert client.head(f"/v1/images/{small['id']}").status_code == 404
