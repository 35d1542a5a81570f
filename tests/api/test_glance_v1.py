"""The Glance v1 face over HTTP: headers in and out, v1's semantics (killed, purge, 409 on
data into an active image), bad input refused with nothing changed, and one catalogue
shared with v2."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import assert_error, locating
from tests.disk_images import qcow2_header
from tests.http_origin import Origin, serving
from tests.portal import call

DATA = qcow2_header() + bytes(range(256)) * 40  # what the images declare (META)
OCTETS = {"content-type": "application/octet-stream"}
META = {"x-image-meta-name": "cirros", "x-image-meta-disk_format": "qcow2",
        "x-image-meta-container_format": "bare"}  # fmt: skip


def create(client: TestClient, data: bytes | None = None, /, **headers: str | bytes) -> Any:
    sent = {**META, **headers} | (OCTETS if data is not None else {})
    raw = {  # a value given as bytes goes as it is (a client's own encoding)
        name.encode(): value if isinstance(value, bytes) else value.encode()
        for name, value in sent.items()
    }
    return client.post("/v1/images", headers=raw, content=data)


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
    cases: list[tuple[bytes | None, dict[str, str | bytes]]] = [
        (DATA, {"x-glance-api-copy-from": "http://example.org/a.img"}),  # two sources
        (None, {"x-image-meta-location": "http://example.org/a.img"}),  # no http store
        (None, {"x-image-meta-is_public": "maybe"}),
        (None, {"x-image-meta-min_disk": "-1"}),
        (None, {"x-image-meta-min_disk": "9" * 5000}),  # past int()'s 4,300 digits: not a 500
        (None, {"x-image-meta-min_ram": "\u00b2".encode()}),  # a digit to isdigit(), not to int()
        (None, {"x-image-meta-min_ram": "\uff11".encode()}),  # a fullwidth 1
        (None, {"x-image-meta-disk_format": "floppy"}),
        (None, {"x-image-meta-colour": "blue"}),
        (None, {"x-image-meta-id": "not-a-uuid"}),
        (None, {"x-glance-api-copy-from": "http://127.0.0.1/metadata"}),  # an internal address
        (None, {"x-glance-api-copy-from": "file:///etc/passwd"}),
    ]
    for data, headers in cases:
        assert_error(create(client, data, **headers), 400)
    assert image_count(client) == 0
    for query in ("sort_key=colour", "sort_dir=up", "size_min=big", "is_public=maybe",
                  "colour=blue", "changes-since=yesterday",
                  "changes-since=9999-12-31T23:59:59-23:00"):  # fmt: skip
        assert_error(client.get(f"/v1/images/detail?{query}"), 400)


def test_a_failed_upload_leaves_the_image_killed(client: TestClient) -> None:
    wrong = create(client, DATA, **{"x-image-meta-checksum": "0" * 32})
    assert_error(wrong, 400)
    (image,) = client.get("/v1/images/detail").json()["images"]
    assert image["status"] == "killed" and image["size"] is None
    assert_error(client.put(f"/v1/images/{image['id']}", content=DATA, headers=OCTETS), 409)


def test_updates_purge_or_merge_properties_and_data_goes_only_into_queued(
    client: TestClient,
) -> None:
    reserved = create(client, **{"x-image-meta-property-a": "1",
                                 "x-image-meta-property-b": "2"}).json()["image"]  # fmt: skip
    assert reserved["status"] == "queued"
    path = f"/v1/images/{reserved['id']}"
    keep = {"x-glance-registry-purge-props": "false"}  # what the glance CLI sends
    merged = client.put(path, headers={"x-image-meta-property-c": "3", **keep})
    assert merged.json()["image"]["properties"] == {"a": "1", "b": "2", "c": "3"}
    # Without the header, v1 purges what the update does not name.
    purged = client.put(path, headers={"x-image-meta-property-d": "4"})
    assert purged.json()["image"]["properties"] == {"d": "4"}
    assert client.head(path).headers["x-image-meta-property-d"] == "4"
    # ...but never when data comes with the update.
    filled = client.put(path, content=DATA, headers={**OCTETS, "x-image-meta-size": str(len(DATA)),
                                                     "x-image-meta-property-e": "5"})  # fmt: skip
    assert filled.status_code == 200 and filled.json()["image"]["status"] == "active"
    assert filled.json()["image"]["properties"] == {"d": "4", "e": "5"}
    assert_error(client.put(path, content=DATA, headers=OCTETS), 409)
    assert client.get(path).content == DATA


def test_listing_filters_sorts_and_deletes(client: TestClient) -> None:
    gold = {"x-image-meta-name": "small", "x-image-meta-property-tier": "gold",
            "x-image-meta-disk_format": "raw"}  # fmt: skip
    small = create(client, b"x" * 10, **gold).json()["image"]
    protected = {"x-image-meta-name": "big", "x-image-meta-protected": "True"}
    big = create(client, qcow2_header() + b"y" * 1000, **protected).json()["image"]
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


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(DATA) as server:
        yield server


@pytest.fixture
def located(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[TestClient]:
    """lading with an http store for external locations, allowed to reach the origin."""
    with locating(tmp_path, database_url, origin, image_size_cap=len(DATA) + 1) as test_client:
        yield test_client


def test_an_external_location_is_registered_not_copied(located: TestClient, origin: Origin) -> None:
    created = create(located, **{"x-image-meta-location": origin.url("/plain")})
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert image["status"] == "active" and image["size"] == len(DATA)
    assert image["checksum"] is None and "location" not in image
    head = located.head(f"/v1/images/{image['id']}")
    assert "x-image-meta-location" not in head.headers
    assert located.get(f"/v1/images/{image['id']}").content == DATA  # read from the origin
    part = located.get(f"/v1/images/{image['id']}", headers={"range": "bytes=5-9"})
    assert part.status_code == 206 and part.content == DATA[5:10]
    # The same URL may back several images; forgetting one leaves the other readable.
    again = create(located, **{"x-image-meta-location": origin.url("/plain"),
                               "x-image-meta-checksum": hashlib.md5(DATA).hexdigest()})  # fmt: skip
    assert again.json()["image"]["checksum"] == hashlib.md5(DATA).hexdigest()
    assert located.delete(f"/v1/images/{image['id']}").status_code == 200
    assert located.get(f"/v1/images/{again.json()['image']['id']}").content == DATA
    assert located.get(f"/v2/images/{again.json()['image']['id']}/file").content == DATA


def test_a_location_goes_only_into_a_queued_image(located: TestClient, origin: Origin) -> None:
    reserved = create(located).json()["image"]
    path = f"/v1/images/{reserved['id']}"
    missing = {"x-image-meta-location": origin.url("/absent"), "x-image-meta-name": "moved"}
    assert_error(located.put(path, headers=missing), 404)
    too_big = {"x-image-meta-size": str(2 * 2**40), "x-image-meta-name": "moved", **OCTETS}
    assert_error(located.put(path, headers=too_big, content=DATA), 413)
    assert located.head(path).headers["x-image-meta-name"] == "cirros"  # unchanged
    assert located.head(path).headers["x-image-meta-status"] == "queued"
    placed = located.put(path, headers={"x-image-meta-location": origin.url("/plain")})
    assert placed.status_code == 200 and placed.json()["image"]["status"] == "active"
    refused = located.put(path, headers={"x-image-meta-location": origin.url("/data"),
                                         "x-image-meta-name": "renamed"})  # fmt: skip
    assert_error(refused, 409)
    assert located.head(path).headers["x-image-meta-name"] == "cirros"  # unchanged


def test_bad_locations_leave_no_image(located: TestClient, origin: Origin) -> None:
    port = origin.server_address[1]
    for location, status in [
        (origin.url("/absent"), 404),
        (f"http://169.254.169.254:{port}/latest/meta-data", 400),  # an internal address
        ("file:///etc/passwd", 400),
        (origin.url().replace("://", "://user:secret@"), 400),  # would be kept in clear
        (f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/data", 400),  # a port not allowed
    ]:
        assert_error(create(located, **{"x-image-meta-location": location}), status)
    assert_error(create(located, DATA, **{"x-image-meta-location": origin.url()}), 400)
    sized = {"x-image-meta-location": origin.url(), "x-image-meta-size": "12"}
    assert_error(create(located, **sized), 400)
    assert_error(create(located, **{"x-image-meta-location": origin.url(),
                                    "x-image-meta-checksum": "not-md5"}), 400)  # fmt: skip
    assert image_count(located) == 0


def test_size_cap_and_property_quota_are_413(located: TestClient, tmp_path: Path) -> None:
    too_big = DATA + b"!!"
    assert_error(create(located, too_big), 413)
    (killed,) = located.get("/v1/images/detail").json()["images"]
    assert killed["status"] == "killed"
    located.delete(f"/v1/images/{killed['id']}")
    many = {f"x-image-meta-property-p{index}": "x" for index in range(200)}
    assert_error(create(located, **many), 413)
    assert image_count(located) == 0


def test_core_fields_of_an_active_image_are_for_admins(client: TestClient) -> None:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    admin, member = ({"x-auth-token": call(client, identities.create, "A", role).token}
                     for role in ("admin", "member"))  # fmt: skip
    image = create(client, DATA, **member).json()["image"]
    path = f"/v1/images/{image['id']}"
    for field, value in [("disk_format", "raw"), ("container_format", "ovf")]:
        refused = client.put(path, headers={**member, f"x-image-meta-{field}": value})
        assert_error(refused, 403)
    assert client.head(path, headers=member).headers["x-image-meta-disk_format"] == "qcow2"
    renamed = client.put(path, headers={**member, "x-image-meta-name": "renamed"})
    assert renamed.status_code == 200
    fixed = client.put(path, headers={**admin, "x-image-meta-disk_format": "raw"})
    assert fixed.json()["image"]["disk_format"] == "raw"
