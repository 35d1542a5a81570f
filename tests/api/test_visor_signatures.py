"""VISoR as its clients call it: at the root, signed with an access key and a secret.

The signer below is written from the description in the issue and docs/api-visor.md,
not from lading's code, so that a misreading on either side shows as a failure."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx2
from starlette.testclient import TestClient

from lading.services.visor_keys import NewVisorKey
from tests.api.helpers import locating
from tests.api.test_visor import DATA, OCTETS, UBUNTU, assert_visor_error, client, origin
from tests.http_origin import Origin
from tests.portal import call

__all__ = ["client", "origin"]  # the fixtures, used by name


def visor_signature(secret: str, method: str, path: str, headers: Mapping[str, str]) -> str:
    """base64(HMAC-SHA1(secret, canonical)), the canonical text as the issue gives it."""
    lowered = {name.lower(): value for name, value in headers.items()}
    signed = {"content-md5": lowered.get("content-md5", ""),
              "content-type": lowered.get("content-type", "")}  # fmt: skip
    signed |= {n: v for n, v in lowered.items() if n == "date" or n.startswith("x-image-meta-")}
    text = method + "\n"
    for name in sorted(signed):
        value = signed[name]
        text += (f"{name}:{value}" if name.startswith("x-image-meta-") else value) + "\n"
    text += path.split("?", 1)[0]
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def http_date(offset: timedelta = timedelta()) -> str:
    return format_datetime(datetime.now(UTC) + offset, usegmt=True)


def signed(key: NewVisorKey, method: str, path: str, **headers: str) -> dict[str, str]:
    headers.setdefault("date", http_date())
    signature = visor_signature(key.secret, method, path, headers)
    return {**headers, "authorization": f"VISOR {key.record.access_key}:{signature}"}


def new_key(
    client: TestClient, project: str = "visor-project", role: str = "member"
) -> NewVisorKey:
    keys = client.app.state.services.visor_keys  # type: ignore[attr-defined]
    made: NewVisorKey = call(client, keys.create, project, role)
    return made


def send(client: TestClient, key: NewVisorKey, method: str, path: str, body: bytes | None = None,
         /, **headers: str) -> httpx2.Response:  # fmt: skip
    return client.request(method, path, headers=signed(key, method, path, **headers),
                          content=body)  # fmt: skip


def test_signed_requests_at_the_root_act_for_the_key_s_project(client: TestClient) -> None:
    key = new_key(client)
    created = send(client, key, "POST", "/images", DATA, **UBUNTU, **OCTETS)
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert image["owner"] == "visor-project" and image["uri"].endswith(f"/images/{image['_id']}")
    path = f"/images/{image['_id']}"
    assert send(client, key, "HEAD", path).headers["x-image-meta-status"] == "available"
    assert send(client, key, "GET", path).content == DATA
    # The query is not signed; sorting and created_at in the brief listing.
    listed = send(client, key, "GET", "/images?sort=name&dir=desc").json()["images"]
    assert [found["_id"] for found in listed] == [image["_id"]] and "created_at" in listed[0]
    assert send(client, key, "GET", "/images/detail").json()["images"][0]["access"] == "private"
    renamed = send(client, key, "PUT", path, **{"x-image-meta-name": "renamed"})
    assert renamed.json()["image"]["name"] == "renamed"
    assert send(client, key, "GET", "/visor/images").status_code == 200  # the alias
    assert send(client, key, "DELETE", path).status_code == 200
    assert client.get("/status").text == "OK"  # the heartbeat needs no signature


def test_every_flaw_in_a_signature_is_403_in_visor_s_shape(client: TestClient) -> None:
    key = new_key(client)
    access_key = key.record.access_key
    good = signed(key, "GET", "/images/detail")

    def refused(headers: Mapping[str, str], path: str = "/images/detail") -> str:
        return assert_visor_error(client.get(path, headers=dict(headers)), 403)

    refused({})  # unsigned, once a key exists
    refused({**good, "authorization": f"VISOR {access_key}:not*base64!"})
    refused({**good, "authorization": f"VISOR {access_key}"})
    signature = good["authorization"].split(":", 1)[1]
    refused({**good, "authorization": f"VISOR :{signature}"})
    assert "unknown" in refused({**good, "authorization": f"VISOR NOSUCHKEY:{signature}"})
    other = new_key(client)
    stolen = visor_signature(other.secret, "GET", "/images/detail", {"date": good["date"]})
    assert "does not match" in refused({**good, "authorization": f"VISOR {access_key}:{stolen}"})
    refused(good, "/images")  # signed for another path
    # Replayed with a metadata header changed: PUT's signature covers x-image-meta-*.
    image = send(client, key, "POST", "/images", **UBUNTU).json()["image"]
    path = f"/images/{image['_id']}"
    put = signed(key, "PUT", path, **{"x-image-meta-name": "mine"})
    tampered = client.put(path, headers={**put, "x-image-meta-name": "theirs"})
    assert_visor_error(tampered, 403)
    added = client.put(path, headers={**put, "x-image-meta-access": "public"})
    assert_visor_error(added, 403)
    assert client.put(path, headers=put).json()["image"]["name"] == "mine"
    # The Date: required, an HTTP date, and within 15 minutes of the server's clock.
    no_date = {"authorization": good["authorization"]}
    assert "Date" in refused(no_date)
    refused(signed(key, "GET", "/images/detail", date="yesterday"))
    refused(signed(key, "GET", "/images/detail", date=http_date(timedelta(minutes=-16))))
    refused(signed(key, "GET", "/images/detail", date=http_date(timedelta(minutes=16))))
    late = signed(key, "GET", "/images/detail", date=http_date(timedelta(minutes=-14)))
    assert client.get("/images/detail", headers=late).status_code == 200
    # Revoked: refused at once.
    keys = client.app.state.services.visor_keys  # type: ignore[attr-defined]
    call(client, keys.revoke, access_key)
    assert "revoked" in refused(signed(key, "GET", "/images/detail"))
    head = client.head(path, headers=signed(key, "HEAD", path))
    assert head.status_code == 403 and "revoked" in head.headers["x-error-message"]


def test_an_open_server_takes_unsigned_requests_and_a_key_closes_it(client: TestClient) -> None:
    posted = client.post("/images", headers=UBUNTU)
    assert posted.status_code == 201, posted.text
    assert client.get("/images").status_code == 200
    assert client.get("/").status_code in (200, 300)  # version discovery keeps the root
    assert client.get("/v2/images").status_code == 200
    new_key(client)
    assert_visor_error(client.get("/images"), 403)


def test_head_errors_come_in_x_error_message(client: TestClient) -> None:
    missing = client.head("/images/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.headers["x-error-message"]
    assert client.head("/visor/images/nope").headers["x-error-message"]


def test_put_gives_new_data_to_an_image_left_in_error(client: TestClient) -> None:
    wrong = client.post("/images", headers={**UBUNTU, **OCTETS, "x-image-meta-checksum": "0" * 32},
                        content=DATA)  # fmt: skip
    assert_visor_error(wrong, 400)
    (image,) = client.get("/images/detail").json()["images"]
    assert image["status"] == "error"
    refilled = client.put(f"/images/{image['_id']}", headers=OCTETS, content=DATA)
    assert refilled.status_code == 200, refilled.text
    assert refilled.json()["image"]["status"] == "available"
    assert client.get(f"/images/{image['_id']}").content == DATA
    again = client.put(f"/images/{image['_id']}", headers=OCTETS, content=DATA)
    assert_visor_error(again, 409)  # an available image keeps its data


def test_listings_sort_by_any_attribute_and_page_through_it(client: TestClient) -> None:
    """A property (and architecture, kept as one) orders the listing; images without
    it come where the engine puts NULLs; paging by marker loses and repeats nothing."""
    colours = ["red", "blue", None, "green", "amber", None, "blue"]
    made = {}
    for number, colour in enumerate(colours):
        extra = {} if colour is None else {"x-image-meta-colour": colour}
        image = client.post("/images", headers={**UBUNTU, "x-image-meta-name": f"i{number}",
                                                **extra}).json()["image"]  # fmt: skip
        made[image["_id"]] = colour
    for direction in ("asc", "desc"):
        listed = client.get(f"/images/detail?sort=colour&dir={direction}").json()["images"]
        with_colour = [image.get("colour") for image in listed if "colour" in image]
        assert with_colour == sorted(with_colour, reverse=direction == "desc")
        assert len(listed) == len(colours)
        seen: list[str] = []
        marker = ""
        for _ in range(len(colours)):  # bounded: one image a page
            page = client.get(f"/images?sort=colour&dir={direction}&limit=1{marker}")
            if page.status_code == 404:
                break
            (found,) = page.json()["images"]
            seen.append(found["_id"])
            marker = f"&marker={found['_id']}"
        assert seen == [image["_id"] for image in listed]
    by_arch = client.get("/images/detail?sort=architecture").json()["images"]
    assert len(by_arch) == len(colours)
    for refused in ("store", "location", "_secret"):
        assert_visor_error(client.get(f"/images?sort={refused}"), 400)


def test_locations_in_visor_s_stores_are_registered_where_they_are(
    client: TestClient, tmp_path: Path
) -> None:
    """file:// leads to the filesystem store: a file inside its directory is registered
    (not copied), read back, and removed with the image, as VISoR removed it."""
    settings = client.app.state.settings  # type: ignore[attr-defined]
    root = settings.store_path("local")
    (root / "visor").mkdir(parents=True, exist_ok=True)
    placed = root / "visor" / "ubuntu.iso"
    placed.write_bytes(DATA)
    created = client.post("/images", headers={**UBUNTU, "x-image-meta-location": placed.as_uri()})
    assert created.status_code == 201, created.text
    image = created.json()["image"]
    assert (image["status"], image["store"], image["size"]) == ("available", "file", len(DATA))
    assert client.get(f"/images/{image['_id']}").content == DATA
    assert placed.exists()
    assert client.delete(f"/images/{image['_id']}").status_code == 200
    assert not placed.exists()


def test_only_an_administrator_claims_an_object_already_in_a_store(
    client: TestClient,
) -> None:
    """An object in one of lading's stores may be the operator's or another project's,
    and the image's delete removes it: a member may not name it (claim_store_object)."""
    settings = client.app.state.settings  # type: ignore[attr-defined]
    placed = settings.store_path("local") / "operator" / "golden.iso"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(DATA)
    location = {"x-image-meta-location": placed.as_uri()}
    member = new_key(client, "tenant")
    assert_visor_error(send(client, member, "POST", "/images", **UBUNTU, **location), 403)
    assert placed.read_bytes() == DATA
    assert send(client, member, "GET", "/images").status_code == 404  # nothing was made
    admin = new_key(client, "ops", "admin")
    claimed = send(client, admin, "POST", "/images", **UBUNTU, **location)
    assert claimed.status_code == 201, claimed.text


def test_locations_in_visor_s_stores_refuse_what_is_not_theirs(
    client: TestClient, tmp_path: Path
) -> None:
    settings = client.app.state.settings  # type: ignore[attr-defined]
    root = settings.store_path("local")
    uploaded = client.post("/images", headers={**UBUNTU, **OCTETS}, content=DATA).json()["image"]
    own = next(path for path in root.rglob("*") if path.is_file())  # lading's own object
    outside = tmp_path / "outside.iso"
    outside.write_bytes(DATA)
    for location, status in [
        (own.as_uri(), 400),  # another image's data: never claimed
        (outside.as_uri(), 400),  # outside the store's directory
        (f"{root.as_uri()}/../outside.iso", 400),
        (f"{root.as_uri()}/nothing-here.iso", 404),
        ("file://relative.iso", 400),
        ("s3://ak:sk@s3.example/bucket/x.iso", 400),  # no S3 store here
        ("hdfs://namenode:50070/images/x.iso", 400),  # hdfs leads nowhere unless mapped
    ]:
        answer = client.post("/images", headers={**UBUNTU, "x-image-meta-location": location})
        message = assert_visor_error(answer, status)
        assert "sk@" not in message  # credentials are never repeated
    assert client.get(f"/images/{uploaded['_id']}").content == DATA
    assert len(client.get("/images").json()["images"]) == 1  # nothing else was made


def test_a_key_sealed_with_another_secret_key_is_refused_not_a_500(
    tmp_path: Path, database_url: str, origin: Origin
) -> None:
    with locating(tmp_path, database_url, origin, secret_key="a" * 32) as first:
        key = new_key(first)
        assert send(first, key, "GET", "/status").status_code == 200
    with locating(tmp_path, database_url, origin, secret_key="b" * 32) as second:
        refused = send(second, key, "GET", "/images")
        assert "cannot check the access key" in assert_visor_error(refused, 403)


def test_root_paths_are_counted_as_the_visor_face(client: TestClient) -> None:
    client.get("/images")
    client.get("/status")
    client.get(f"/visor/images/{'0' * 8}")
    metrics = client.get("/metrics").text
    for route in ("/images", "/status", "/visor/images/{image_id}"):
        assert f'face="visor",method="GET",route="{route}"' in metrics, route
