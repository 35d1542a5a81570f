"""Glance v1 as its API controller behaved, where lading's other faces differ: purged
properties, shared images listed, empty images, copy-from's statuses, the data's content
type, Amazon's formats, an active image's size and checksum, v1's filters and policy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error, locating
from tests.api.test_glance_v1 import DATA, META, OCTETS, create, image_count
from tests.http_origin import Origin, serving
from tests.portal import call

EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def tokens(client: TestClient, *who: tuple[str, str]) -> list[dict[str, str]]:
    """Headers for a token of each (project, role)."""
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    return [{"x-auth-token": call(client, identities.create, project, role).token}
            for project, role in who]  # fmt: skip


def test_an_update_purges_unless_told_not_to(client: TestClient) -> None:
    reserved = create(client, **{"x-image-meta-property-a": "1"}).json()["image"]
    path = f"/v1/images/{reserved['id']}"
    kept = client.put(path, headers={"x-image-meta-property-b": "2",
                                     "x-glance-registry-purge-props": "False"})  # fmt: skip
    assert kept.json()["image"]["properties"] == {"a": "1", "b": "2"}
    purged = client.put(path, headers={"x-image-meta-property-c": "3"})
    assert purged.json()["image"]["properties"] == {"c": "3"}
    # Nothing named: every property goes, as the controller had it.
    assert client.put(path, headers={"x-image-meta-name": "x"}).json()["image"]["properties"] == {}


def test_images_shared_with_the_caller_are_listed_whatever_its_answer(
    settings: Settings,
) -> None:
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        owner, guest = tokens(client, ("owner", "member"), ("guest", "member"))
        image = create(client, DATA, **owner).json()["image"]
        shared = [{"op": "replace", "path": "/visibility", "value": "shared"}]
        patch = {**owner, "content-type": "application/openstack-images-v2.1-json-patch"}
        assert client.patch(f"/v2/images/{image['id']}", json=shared, headers=patch).is_success
        members = f"/v2/images/{image['id']}/members"
        assert client.post(members, json={"member": "guest"}, headers=owner).status_code == 200
        for answer in (None, "rejected", "accepted"):  # pending, then each answer
            if answer is not None:
                answered = client.put(f"{members}/guest", json={"status": answer}, headers=guest)
                assert answered.status_code == 200
            for listing in ("/v1/images", "/v1/images/detail"):
                listed = client.get(listing, headers=guest).json()["images"]
                assert [found["id"] for found in listed] == [image["id"]], (answer, listing)
        # v2 keeps to accepted members, as Glance v2 does.
        client.put(f"{members}/guest", json={"status": "pending"}, headers=guest)
        assert client.get("/v2/images", headers=guest).json()["images"] == []
        # Another project sees nothing.
        (stranger,) = tokens(client, ("stranger", "member"))
        assert client.get("/v1/images", headers=stranger).json()["images"] == []


def test_a_size_of_zero_and_no_data_is_active_at_once(client: TestClient) -> None:
    # raw: lading inspects data, and no bytes are no qcow2
    created = create(client, **{"x-image-meta-size": "0", "x-image-meta-disk_format": "raw"})
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert image["status"] == "active" and image["size"] == 0
    assert image["checksum"] == EMPTY_MD5  # lading keeps the digests of what it holds
    path = f"/v1/images/{image['id']}"
    downloaded = client.get(path)
    assert downloaded.status_code in (200, 204) and downloaded.content == b""
    assert_error(client.put(path, content=DATA, headers=OCTETS), 409)  # it has its data
    # Without the size, nothing is known of the data: the image waits for it.
    assert create(client).json()["image"]["status"] == "queued"


def test_data_must_be_octets(client: TestClient) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        sent = {**META} | ({"content-type": content_type} if content_type else {})
        refused = client.post("/v1/images", headers=sent, content=DATA)
        assert_error(refused, 400)
        assert "application/octet-stream" in refused.text
    assert image_count(client) == 0  # refused before an image was made
    reserved = create(client).json()["image"]
    path = f"/v1/images/{reserved['id']}"
    assert_error(client.put(path, headers={"content-type": "text/plain"}, content=DATA), 400)
    assert client.head(path).headers["x-image-meta-status"] == "queued"
    # Metadata alone needs no content type; a parameter after the type is fine.
    assert client.put(path, headers={"x-image-meta-name": "n"}).status_code == 200
    sent = {"content-type": "application/octet-stream; charset=binary"}
    assert client.put(path, headers=sent, content=DATA).json()["image"]["status"] == "active"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"disk_format": "aki"}, ("aki", "aki")),
        ({"disk_format": "ari"}, ("ari", "ari")),
        ({"container_format": "ami"}, ("ami", "ami")),  # the container fills the disk too
        ({"disk_format": "ami", "container_format": "ami"}, ("ami", "ami")),
        ({"disk_format": "qcow2", "container_format": "bare"}, ("qcow2", "bare")),
        ({"disk_format": "aki", "container_format": "bare"}, None),
        ({"disk_format": "qcow2", "container_format": "ami"}, None),
        ({"disk_format": "aki", "container_format": "ari"}, None),
    ],
)
def test_amazon_formats_match(
    client: TestClient, given: dict[str, str], expected: tuple[str, str] | None
) -> None:
    headers = {"x-image-meta-name": "kernel"} | {f"x-image-meta-{k}": v for k, v in given.items()}
    created = client.post("/v1/images", headers=headers)
    if expected is None:
        assert_error(created, 400)
        assert image_count(client) == 0
        return
    image = created.json()["image"]
    assert (image["disk_format"], image["container_format"]) == expected


def test_amazon_formats_match_on_update(client: TestClient) -> None:
    reserved = client.post("/v1/images", headers={"x-image-meta-name": "r"}).json()["image"]
    path = f"/v1/images/{reserved['id']}"
    mixed = {"x-image-meta-disk_format": "ari", "x-image-meta-container_format": "ovf"}
    assert_error(client.put(path, headers=mixed), 400)
    updated = client.put(path, headers={"x-image-meta-disk_format": "ari"}).json()["image"]
    assert (updated["disk_format"], updated["container_format"]) == ("ari", "ari")


def test_a_non_admin_may_not_restate_an_active_images_size_or_checksum(
    client: TestClient,
) -> None:
    admin, member = tokens(client, ("A", "admin"), ("A", "member"))
    image = create(client, DATA, **member).json()["image"]
    path = f"/v1/images/{image['id']}"
    for name, value in [("size", "12"), ("checksum", "0" * 32)]:
        refused = client.put(path, headers={**member, f"x-image-meta-{name}": value})
        assert_error(refused, 403)
        assert name in refused.text
        # An administrator may send it; lading keeps what the data says.
        allowed = client.put(path, headers={**admin, f"x-image-meta-{name}": value})
        assert allowed.status_code == 200
    shown = client.head(path, headers=member).headers
    assert shown["x-image-meta-size"] == str(len(DATA)) and shown["x-image-meta-checksum"] != "0"
    # The same values, as the glance CLI sends them back, are no change.
    same = {"x-image-meta-size": str(image["size"]), "x-image-meta-checksum": image["checksum"]}
    assert client.put(path, headers={**member, **same}).status_code == 200
    # A queued image has no data yet: its size is the client's to announce.
    reserved = create(client, **member).json()["image"]
    announced = {**member, "x-image-meta-size": "12"}
    assert client.put(f"/v1/images/{reserved['id']}", headers=announced).status_code == 200


def test_v1_filters_min_ram_min_disk_and_protected(client: TestClient) -> None:
    small = create(client, **{"x-image-meta-name": "small", "x-image-meta-min_ram": "512",
                              "x-image-meta-min_disk": "1"}).json()["image"]  # fmt: skip
    big = create(client, **{"x-image-meta-name": "big", "x-image-meta-min_ram": "2048",
                            "x-image-meta-min_disk": "20",
                            "x-image-meta-protected": "True"}).json()["image"]  # fmt: skip
    for query, expected in [
        ("min_ram=512", [small]), ("min_ram=2048", [big]), ("min_ram=1", []),
        ("min_disk=20", [big]), ("protected=True", [big]), ("protected=False", [small]),
        ("min_disk=1&protected=False", [small]),
    ]:  # fmt: skip
        listed = client.get(f"/v1/images/detail?{query}").json()["images"]
        assert [image["id"] for image in listed] == [image["id"] for image in expected], query
    for query in ("min_ram=lots", "min_disk=-1", "protected=maybe"):
        assert_error(client.get(f"/v1/images?{query}"), 400)


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(DATA) as server:
        yield server


@pytest.fixture
def located(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[TestClient]:
    with locating(tmp_path, database_url, origin) as test_client:
        yield test_client


def settled(client: TestClient, image_id: str) -> dict[str, str]:
    """The image's v1 headers once its copy is over (bounded)."""
    seen: set[str] = set()
    for _ in range(600):
        headers = dict(client.head(f"/v1/images/{image_id}").headers)
        seen.add(headers["x-image-meta-status"])
        if headers["x-image-meta-status"] not in ("queued", "saving"):
            assert seen <= {"queued", "saving", headers["x-image-meta-status"]}, seen
            return headers
        time.sleep(0.05)
    raise AssertionError(f"image {image_id} still {seen}")


def test_copy_from_shows_v1_statuses_and_a_failed_copy_is_killed(
    located: TestClient, origin: Origin
) -> None:
    copied = create(located, **{"x-glance-api-copy-from": origin.url("/data")})
    assert copied.status_code == 201, copied.text
    assert copied.json()["image"]["status"] in ("queued", "saving")
    listed = located.get("/v1/images/detail").json()["images"]
    assert {image["status"] for image in listed} <= {"queued", "saving", "active"}
    assert settled(located, copied.json()["image"]["id"])["x-image-meta-status"] == "active"
    # A redirect to an address the fetch rules refuse: the fetch fails, in the task.
    refused = origin.url("/redirect?to=http://169.254.169.254/latest")
    failed = create(located, **{"x-glance-api-copy-from": refused})
    assert failed.json()["image"]["status"] in ("queued", "saving")
    image_id = failed.json()["image"]["id"]
    assert settled(located, image_id)["x-image-meta-status"] == "killed"
    assert located.get(f"/v2/images/{image_id}").json()["status"] == "killed"
    # A v2 web-download that fails still goes back to queued, as Glance v2 has it.


def test_data_needs_both_formats(located: TestClient, origin: Origin) -> None:
    bare = {"x-image-meta-name": "formless"}
    for missing in ("disk_format", "container_format"):
        headers = {**META, **OCTETS}
        del headers[f"x-image-meta-{missing}"]
        refused = located.post("/v1/images", headers=headers, content=DATA)
        assert_error(refused, 400)
        assert missing in refused.text
    reserved = located.post("/v1/images", headers=bare).json()["image"]
    path = f"/v1/images/{reserved['id']}"
    assert_error(located.put(path, headers=OCTETS, content=DATA), 400)
    assert_error(located.put(path, headers={"x-image-meta-location": origin.url("/data")}), 400)
    assert_error(located.post("/v1/images", headers={
        **bare, "x-image-meta-location": origin.url("/data")}), 400)  # fmt: skip
    formats = {key: value for key, value in META.items() if "format" in key}
    filled = located.put(path, headers={**OCTETS, **formats}, content=DATA)
    assert filled.json()["image"]["status"] == "active"
    # copy-from took no formats on the controller, and takes none here.
    copied = located.post("/v1/images", headers={**bare, "x-glance-api-copy-from": origin.url()})
    assert copied.status_code == 201


def test_copy_from_and_locations_follow_their_policies(
    tmp_path: Path, database_url: str, origin: Origin
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('copy_from: "role:admin"\nset_image_location: "role:admin"\n')
    with locating(tmp_path, database_url, origin, policy_file=policy) as client:
        admin, member = tokens(client, ("A", "admin"), ("A", "member"))
        for source in ({"x-glance-api-copy-from": origin.url()},
                       {"x-image-meta-location": origin.url("/data")}):  # fmt: skip
            assert_error(create(client, **member, **source), 403)
            assert create(client, **admin, **source).status_code == 201
        reserved = create(client, **member).json()["image"]
        placed = {**member, "x-image-meta-location": origin.url("/data")}
        assert_error(client.put(f"/v1/images/{reserved['id']}", headers=placed), 403)
        assert len(client.get("/v1/images", headers=admin).json()["images"]) == 3
