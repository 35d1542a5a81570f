"""The VISoR face over HTTP: its field and status names, JSON or XML, store names, the
location instead of a body, 404 on empty listings, 409 on duplicates, bad input refused
with nothing changed, and one catalogue shared with the Glance faces."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx2
import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import S3StoreSettings, Settings
from lading.stores.registry import StoreRegistry
from tests.api.helpers import create as create_v2
from tests.api.helpers import locating
from tests.api.helpers import upload as upload_v2
from tests.http_origin import Origin, serving
from tests.object_servers import s3_store
from tests.portal import call
from tests.services_required import SERVICES

DATA = os.urandom(100_000)
OCTETS = {"content-type": "application/octet-stream"}
UBUNTU = {"x-image-meta-name": "Ubuntu 10.10 Desktop", "x-image-meta-architecture": "i386",
          "x-image-meta-format": "iso", "x-image-meta-type": "machine"}  # fmt: skip
XML = {"accept": "application/xml"}


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(DATA) as server:
        yield server


@pytest.fixture
def client(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[TestClient]:
    """One filesystem store and the http store, the origin allowed for locations. The
    images declare iso and vmdk over any bytes: what the data must be is tested in
    tests/api/test_image_formats.py, with the format check on."""
    relaxed = {"require_image_format_match": False}
    with locating(tmp_path, database_url, origin, image_format=relaxed) as test_client:
        yield test_client


def post(client: TestClient, data: bytes | None = None, /, **headers: str) -> httpx2.Response:
    sent = {**UBUNTU, **headers} | (OCTETS if data is not None else {})
    return client.post("/visor/images", headers=sent, content=data)


def assert_visor_error(response: httpx2.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and body["message"]
    return str(body["message"])


def count(client: TestClient) -> int:
    return len(client.get("/v2/images").json()["images"])


def test_post_with_a_body_then_head_get_and_the_other_faces(client: TestClient) -> None:
    created = post(client, DATA, **{"x-image-meta-access": "public", "x-image-meta-store": "file",
                                    "x-image-meta-flavour": "desktop"})  # fmt: skip
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert image["status"] == "available" and image["size"] == len(DATA)
    assert image["checksum"] == hashlib.md5(DATA).hexdigest()
    assert image["uri"] == f"http://lading.test/images/{image['_id']}"
    assert (image["architecture"], image["format"], image["type"]) == ("i386", "iso", "machine")
    assert (image["access"], image["store"], image["flavour"]) == ("public", "file", "desktop")
    assert "location" not in image and "kernel" not in image  # no value: left out
    path = f"/visor/images/{image['_id']}"
    head = client.head(path)
    assert head.status_code == 200
    assert head.headers["x-image-meta-name"] == "Ubuntu 10.10 Desktop"
    assert head.headers["x-image-meta-status"] == "available"
    assert head.headers["x-image-meta-flavour"] == "desktop"
    whole = client.get(path)
    assert whole.content == DATA and whole.headers["x-image-meta-_id"] == image["_id"]
    part = client.get(path, headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == DATA[100:200]
    as_v2 = client.get(f"/v2/images/{image['_id']}").json()
    assert as_v2["architecture"] == "i386" and as_v2["visor_type"] == "machine"
    assert as_v2["disk_format"] == "iso" and as_v2["visibility"] == "public"
    assert client.get(f"/v2/images/{image['_id']}/file").content == DATA
    as_v1 = client.head(f"/v1/images/{image['_id']}").headers
    assert as_v1["x-image-meta-property-architecture"] == "i386"
    assert as_v1["x-image-meta-is_public"] == "True"


def test_images_made_on_v2_and_v1_are_seen_alike_on_visor(client: TestClient) -> None:
    image = create_v2(client, name="from-v2", disk_format="qcow2", container_format="bare",
                      architecture="x86_64", kernel_id=str(uuid.uuid4()))  # fmt: skip
    upload_v2(client, image["id"], DATA)
    (listed,) = client.get("/visor/images/detail").json()["images"]
    assert listed["_id"] == image["id"] and listed["status"] == "available"
    assert listed["kernel"] == image["kernel_id"] and listed["format"] == "qcow2"
    assert listed["access"] == "private" and listed["store"] == "file"
    assert client.get(f"/visor/images/{image['id']}").content == DATA
    v1 = client.get(f"/v1/images/{image['id']}")
    assert v1.content == DATA and v1.headers["x-image-meta-name"] == "from-v2"
    sent = {**OCTETS, "x-image-meta-name": "from-v1", "x-image-meta-disk_format": "raw",
            "x-image-meta-container_format": "bare",
            "x-image-meta-property-kernel_id": image["kernel_id"]}  # fmt: skip
    from_v1 = client.post("/v1/images", content=DATA, headers=sent).json()["image"]
    head = client.head(f"/visor/images/{from_v1['id']}").headers
    assert (
        head["x-image-meta-kernel"] == image["kernel_id"] and head["x-image-meta-format"] == "raw"
    )
    assert head["x-image-meta-checksum"] == from_v1["checksum"]
    assert client.get(f"/visor/images/{from_v1['id']}").content == DATA


def test_answers_and_errors_in_xml_when_asked(client: TestClient) -> None:
    created = post(client, DATA, **XML)
    assert created.headers["content-type"].startswith("application/xml")
    image = ElementTree.fromstring(created.content)
    assert image.tag == "image" and image.findtext("status") == "available"
    assert image.findtext("size") == str(len(DATA))
    listing = ElementTree.fromstring(client.get("/visor/images", headers=XML).content)
    assert [item.findtext("_id") for item in listing.iter("image")] == [image.findtext("_id")]
    missing = client.get(f"/visor/images/{uuid.uuid4()}", headers=XML)
    assert missing.status_code == 404
    error = ElementTree.fromstring(missing.content)
    assert error.tag == "error" and error.findtext("code") == "404" and error.findtext("message")
    # JSON unless XML is preferred
    assert client.get("/visor/images", headers={"accept": "application/json;q=0.9, "
                      "application/xml;q=0.5"}).json()["images"]  # fmt: skip
    assert client.get("/visor/images", headers={"accept": "*/*"}).json()["images"]


def test_listings_filter_sort_and_say_404_when_empty(client: TestClient) -> None:
    assert_visor_error(client.get("/visor/images"), 404)
    small = post(client, b"s" * 10, **{"x-image-meta-name": "small"}).json()["image"]
    big = post(client, b"b" * 1000, **{"x-image-meta-name": "big", "x-image-meta-format": "vmdk",
                                       "x-image-meta-architecture": "x86_64",
                                       "x-image-meta-colour": "blue"}).json()["image"]  # fmt: skip
    locked = post(client, **{"x-image-meta-name": "locked"}).json()["image"]
    assert locked["status"] == "locked" and "store" not in locked
    # (no size: NULL, which the databases sort apart; see lading.db.listing)
    brief = client.get("/visor/images?sort=size&dir=desc&status=available").json()["images"]
    assert [image["name"] for image in brief] == ["big", "small"]
    assert set(brief[0]) == {"_id", "uri", "name", "architecture", "type", "format", "store",
                             "size", "created_at"}  # fmt: skip
    for query, names in [("architecture=x86_64", ["big"]), ("format=iso", ["locked", "small"]),
                         ("status=available", ["big", "small"]), ("status=locked", ["locked"]),
                         ("colour=blue", ["big"]), ("store=file", ["big", "small"]),
                         ("access=private", ["big", "locked", "small"]), ("size=10", ["small"]),
                         (f"_id={small['_id']}", ["small"])]:  # fmt: skip
        listed = client.get(f"/visor/images/detail?{query}&sort=name").json()["images"]
        assert [image["name"] for image in listed] == names, query
    assert_visor_error(client.get("/visor/images?access=public"), 404)
    for query in ("sort=store", "dir=up", "status=sleeping", "size=big", "access=maybe",
                  "store=ftp", "uri=x", "limit=-1"):  # fmt: skip
        assert_visor_error(client.get(f"/visor/images?{query}"), 400)
    assert big["_id"] != small["_id"]


def test_a_location_is_registered_and_read_where_it_is(client: TestClient, origin: Origin) -> None:
    created = post(client, **{"x-image-meta-location": origin.url("/plain")})
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert (image["status"], image["store"], image["size"]) == ("available", "http", len(DATA))
    assert client.get(f"/visor/images/{image['_id']}").content == DATA
    as_http = post(client, **{"x-image-meta-location": origin.url(), "x-image-meta-store": "http"})
    assert as_http.status_code == 201
    assert_visor_error(post(client, **{"x-image-meta-location": origin.url("/absent")}), 404)


def test_bad_requests_change_nothing(client: TestClient, origin: Origin) -> None:
    image = post(client, DATA).json()["image"]
    path = f"/visor/images/{image['_id']}"
    for data, headers in [
        (DATA, {"x-image-meta-location": origin.url()}),  # a body and a location
        (None, {"x-image-meta-location": origin.url(), "x-image-meta-store": "file"}),
        (DATA, {"x-image-meta-store": "http"}),  # read-only
        (DATA, {"x-image-meta-store": "ftp"}),
        (None, {"x-image-meta-access": "maybe"}),
        (None, {"x-image-meta-architecture": "z80"}),
        (None, {"x-image-meta-format": "floppy"}),
        (None, {"x-image-meta-type": "toaster"}),
        (None, {"x-image-meta-size": "big"}),
        (None, {"x-image-meta-status": "available"}),  # the server's to set
        (None, {"x-image-meta-uri": "http://elsewhere/"}),
        (None, {"x-image-meta-_id": "not-a-uuid"}),
        (None, {"x-image-meta-location": "http://169.254.169.254/latest/meta-data"}),
        (None, {"x-image-meta-location": "file:///etc/passwd"}),
    ]:
        assert_visor_error(post(client, data, **headers), 400)
    missing = assert_visor_error(post(client, DATA, **{"x-image-meta-store": "s3"}), 400)
    assert "available: file, http" in missing
    assert_visor_error(post(client, DATA, **{"x-image-meta-store": "hdfs"}), 400)
    assert_visor_error(post(client, **{"x-image-meta-_id": image["_id"]}), 409)  # duplicate
    assert_visor_error(client.put(path, content=DATA, headers=OCTETS), 409)  # has data
    assert_visor_error(client.put(path, headers={"x-image-meta-location": origin.url(),
                                                 "x-image-meta-name": "moved"}), 409)  # fmt: skip
    assert_visor_error(client.put(path), 400)  # nothing to update
    assert_visor_error(client.put(path, headers={"x-image-meta-_id": str(uuid.uuid4())}), 400)
    assert count(client) == 1
    assert client.head(path).headers["x-image-meta-name"] == UBUNTU["x-image-meta-name"]
    assert client.get(path).content == DATA


def test_put_updates_metadata_and_fills_a_locked_image(client: TestClient) -> None:
    locked = post(client).json()["image"]
    path = f"/visor/images/{locked['_id']}"
    renamed = client.put(path, headers={"x-image-meta-name": "Ubuntu 10.10 Server",
                                        "x-image-meta-architecture": "x86_64"})  # fmt: skip
    assert renamed.status_code == 200
    updated = renamed.json()["image"]
    assert updated["name"] == "Ubuntu 10.10 Server" and updated["architecture"] == "x86_64"
    assert updated["type"] == "machine"  # kept
    filled = client.put(path, content=DATA, headers={**OCTETS, "x-image-meta-store": "file"})
    assert filled.json()["image"]["status"] == "available"
    assert client.get(path).content == DATA


def test_a_failed_upload_leaves_the_image_in_error(client: TestClient) -> None:
    wrong = post(client, DATA, **{"x-image-meta-checksum": "0" * 32})
    assert_visor_error(wrong, 400)
    (image,) = client.get("/visor/images/detail").json()["images"]
    assert image["status"] == "error"


def test_delete_answers_the_image_and_status_beats(client: TestClient) -> None:
    image = post(client, DATA).json()["image"]
    deleted = client.delete(f"/visor/images/{image['_id']}")
    assert deleted.status_code == 200 and deleted.json()["image"]["_id"] == image["_id"]
    assert client.head(f"/visor/images/{image['_id']}").status_code == 404
    assert_visor_error(client.get("/visor/images"), 404)
    assert_visor_error(client.get("/visor/nowhere"), 404)
    beat = client.get("/visor/status")
    assert beat.status_code == 200 and beat.text == "OK"


def test_unauthorised_requests_answer_in_the_face_style(client: TestClient) -> None:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    call(client, identities.create, "A", "member")
    # 403, as VISoR answered: its clients read a 401 as data.
    assert_visor_error(client.get("/visor/images"), 403)
    xml = client.get("/visor/images", headers=XML)
    assert xml.status_code == 403 and ElementTree.fromstring(xml.content).tag == "error"
    wrong = client.get("/images", headers={"x-auth-token": "wrong"})
    assert_visor_error(wrong, 403)
    assert "www-authenticate" not in wrong.headers


@SERVICES  # a store on Swift's S3 API or Swift
def test_visor_store_names_lead_to_lading_stores(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> None:
    """walrus, cumulus, lunacloud and s3 are S3: they lead to the S3 store here."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, default_store="local",
        stores={"local": {"type": "filesystem"}, "bucket": s3_store(request, tmp_path.name)},
        image_format={"require_image_format_match": False},  # any bytes as iso, as above
    )  # fmt: skip
    stores = StoreRegistry.from_settings(settings)
    with TestClient(create_app(settings, stores), base_url="http://lading.test") as client:
        for name, shown in [("walrus", "s3"), ("cumulus", "s3"), ("file", "file")]:
            created = post(client, DATA, **{"x-image-meta-store": name})
            assert created.status_code == 201, created.text
            image: dict[str, Any] = created.json()["image"]
            assert image["store"] == shown
            assert client.get(f"/visor/images/{image['_id']}").content == DATA
        listed = client.get("/visor/images?store=lunacloud").json()["images"]
        assert len(listed) == 2
        # A location in VISoR's S3 form (credentials ignored) or lading's, in the bucket.
        call(client, stores.get("bucket").put, "visor/placed.iso", _chunks(DATA))
        s3 = settings.stores["bucket"]
        assert isinstance(s3, S3StoreSettings)
        for location in (f"walrus://ak:sk@walrus.example:8773/{s3.bucket}/{s3.prefix}/visor/placed.iso",
                         f"s3://{s3.bucket}/{s3.prefix}/visor/placed.iso"):  # fmt: skip
            placed = client.post("/images", headers={**UBUNTU, "x-image-meta-location": location})
            assert placed.status_code == 201, placed.text
            assert placed.json()["image"]["store"] == "s3"
            assert client.get(f"/images/{placed.json()['image']['_id']}").content == DATA
        wrong = client.post(
            "/images",
            headers={
                **UBUNTU,
                "x-image-meta-location": "cumulus://h/other-bucket/visor/placed.iso",
            },
        )
        assert_visor_error(wrong, 400)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_odd_property_names_and_values_never_break_an_answer(client: TestClient) -> None:
    """Names that cannot be header names are left out of headers; XML stays well-formed."""
    odd = {"é": "v", "a b": "v", "\u017f": "v", "1abc": "v", "xml-x": "v", "line": "a\nb"}
    image = create_v2(client, name="odd", **odd)
    upload_v2(client, image["id"], DATA)
    for path in (f"/visor/images/{image['id']}", f"/v1/images/{image['id']}"):
        head = client.head(path)
        assert head.status_code == 200 and "x-image-meta-name" in head.headers
        assert client.get(path).content == DATA
    detail = client.get("/visor/images/detail").json()["images"][0]
    assert all(detail[name] == value for name, value in odd.items())
    xml = ElementTree.fromstring(client.get("/visor/images/detail", headers=XML).content)
    named = {item.get("name"): item.text for item in xml.iter("attribute")}
    assert named["é"] == "v" and named["\u017f"] == "v" and named["xml-x"] == "v"


def test_refusals_before_any_data_leave_nothing(client: TestClient, origin: Origin) -> None:
    too_big = {"x-image-meta-size": str(2 * 2**40)}  # over the default cap of 1 TiB
    assert_visor_error(post(client, DATA, **too_big), 413)
    assert count(client) == 0
    locked = post(client).json()["image"]
    path = f"/visor/images/{locked['_id']}"
    for headers, status in [({"x-image-meta-location": origin.url("/absent")}, 404),
                            ({"x-image-meta-location": "http://" + "a" * 600}, 400),
                            ({"x-image-meta-location": origin.url(), "x-image-meta-size": "1"},
                             400)]:  # fmt: skip
        refused = client.put(path, headers={**headers, "x-image-meta-name": "changed"})
        assert_visor_error(refused, status)
    assert client.head(path).headers["x-image-meta-name"] == UBUNTU["x-image-meta-name"]
    assert client.head(path).headers["x-image-meta-status"] == "locked"
    bounce = origin.url("/redirect?to=http://xn--/")  # a host name that is not one
    assert_visor_error(post(client, **{"x-image-meta-location": bounce}), 400)
    assert count(client) == 1


def test_one_url_backs_many_images_while_its_size_holds(client: TestClient, origin: Origin) -> None:
    location = {"x-image-meta-location": origin.url("/plain")}
    with ThreadPoolExecutor(4) as pool:  # the first registrations of a URL, at once
        answers = list(pool.map(lambda _: post(client, **location), range(4)))
    assert [answer.status_code for answer in answers] == [201] * 4
    first = answers[0].json()["image"]
    origin.data = DATA + b"more"
    assert_visor_error(post(client, **location), 409)  # the others hold the old size
    for answer in answers:
        client.delete(f"/visor/images/{answer.json()['image']['_id']}")
    again = post(client, **location).json()["image"]
    assert again["size"] == len(DATA) + 4 and first["size"] == len(DATA)
    assert client.get(f"/visor/images/{again['_id']}").content == DATA + b"more"
