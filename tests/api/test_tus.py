"""Resumable uploads (``lading.api.tus``): every tus 1.0 request shape and error, in-process
on SQLite and PostgreSQL, on the filesystem store (one file appended to)."""

from __future__ import annotations

import base64
import hashlib
import os
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2
import pytest

from tests.osm_packages import package as osm_package
from tests.world import BASE_URL, World

TUS = {"tus-resumable": "1.0.0"}
OFFSET_TYPE = {"content-type": "application/offset+octet-stream"}
IMAGE = {"name": "disk", "disk_format": "raw", "container_format": "bare"}


def metadata(**fields: str | None) -> str:
    return ",".join(
        key if value is None else f"{key} {base64.b64encode(value.encode()).decode()}"
        for key, value in fields.items()
    )


def start(
    world: World, length: int | None, who: str = "owner", **fields: str | None
) -> httpx2.Response:
    headers = {**TUS, "upload-metadata": metadata(**(fields or IMAGE))}
    if length is None:
        headers["upload-defer-length"] = "1"
    else:
        headers["upload-length"] = str(length)
    return world.request("POST", "/uploads/", who, headers=headers)


def path_of(answer: httpx2.Response) -> str:
    assert answer.status_code == 201, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{BASE_URL}/uploads/")
    return location.removeprefix(BASE_URL)


def send(
    world: World, path: str, offset: int, data: bytes, who: str = "owner", **headers: str
) -> httpx2.Response:
    return world.request(
        "PATCH", path, who, headers={**TUS, **OFFSET_TYPE, "upload-offset": str(offset),
                                     **headers}, content=data,
    )  # fmt: skip


def head(world: World, path: str, who: str = "owner") -> httpx2.Response:
    return world.request("HEAD", path, who, headers=TUS)


def image(world: World, artifact_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = world.get("owner", f"/v2/images/{artifact_id}").json()
    return shown


def checksum(algorithm: str, data: bytes) -> str:
    return f"{algorithm} {base64.b64encode(hashlib.new(algorithm, data).digest()).decode()}"


def test_bearer_tokens_are_taken_as_x_auth_token_is(world: World) -> None:
    bearer = {"authorization": f"Bearer {world.tokens['owner']}", **TUS}
    answer = world.client.post(
        "/uploads/", headers={**bearer, "upload-length": "1", "upload-metadata": metadata(**IMAGE)}
    )
    path = path_of(answer)
    assert world.client.head(path, headers=bearer).headers["upload-offset"] == "0"
    assert head(world, path).status_code == 200  # the same project's, by either header


def test_options_say_what_the_server_speaks(world: World) -> None:
    assert world.request("OPTIONS", "/uploads/anything", "anonymous").status_code == 404
    for path in ("/uploads/", "/uploads/0b7b3b8e-3f43-4a55-9d0e-2c1c7e0f8a11"):
        answer = world.request("OPTIONS", path, "anonymous")
        assert answer.status_code == 204
        assert answer.headers["tus-version"] == "1.0.0"
        assert answer.headers["tus-resumable"] == "1.0.0"
        assert answer.headers["tus-extension"].split(",") == [
            "creation", "creation-with-upload", "creation-defer-length", "termination",
            "checksum", "expiration",
        ]  # fmt: skip
        assert int(answer.headers["tus-max-size"]) == world.settings.image_size_cap
        assert answer.headers["tus-checksum-algorithm"] == "md5,sha1,sha256"


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0", "2.0.0"])
def test_another_version_is_412_with_the_one_spoken(world: World, version: str | None) -> None:
    path = path_of(start(world, 10))
    headers = {} if version is None else {"tus-resumable": version}
    for method in ("POST", "HEAD", "PATCH", "DELETE"):
        target = "/uploads/" if method == "POST" else path
        answer = world.request(method, target, headers={**headers, **OFFSET_TYPE,
                                                        "upload-length": "1"})  # fmt: skip
        assert answer.status_code == 412, (method, answer.text)
        assert answer.headers["tus-version"] == "1.0.0"
        assert answer.headers["tus-resumable"] == "1.0.0"
    assert head(world, path).headers["upload-offset"] == "0"  # nothing was done


def test_an_upload_in_chunks_becomes_the_image(world: World) -> None:
    data = os.urandom(300_000)
    created = start(world, len(data))
    path = path_of(created)
    artifact_id = created.headers["lading-artifact-id"]
    assert created.headers["upload-offset"] == "0"
    expires = parsedate_to_datetime(created.headers["upload-expires"])
    assert expires.tzinfo is not None
    assert image(world, artifact_id)["status"] == "queued"
    offset = 0
    for size in (1, 99_999, 100_000):
        answer = send(world, path, offset, data[offset : offset + size])
        assert answer.status_code == 204, answer.text
        offset += size
        assert answer.headers["upload-offset"] == str(offset)
        assert "upload-expires" in answer.headers
        assert image(world, artifact_id)["status"] == "queued"  # never active half-way
    shown = head(world, path)
    assert shown.status_code == 200
    assert shown.headers["upload-offset"] == str(offset)
    assert shown.headers["upload-length"] == str(len(data))
    assert shown.headers["cache-control"] == "no-store"
    assert shown.headers["upload-metadata"] == metadata(**IMAGE)
    last = send(world, path, offset, data[offset:])
    assert last.status_code == 204, last.text
    assert last.headers["upload-offset"] == str(len(data))
    assert last.headers["lading-artifact-id"] == artifact_id
    found = image(world, artifact_id)
    assert found["status"] == "active" and found["size"] == len(data)
    assert found["checksum"] == hashlib.md5(data).hexdigest()
    assert found["os_hash_value"] == hashlib.sha256(data).hexdigest()
    assert found["name"] == "disk" and found["disk_format"] == "raw"
    assert world.get("owner", f"/v2/images/{artifact_id}/file").content == data
    # The finished upload still tells its offset, so a client that lost the answer sees
    # it is done; the parts are gone.
    done = head(world, path)
    assert done.headers["upload-offset"] == str(len(data)) and "upload-expires" not in done.headers
    assert send(world, path, len(data), b"").status_code == 204
    assert not list((world.data_dir / "stores" / "default" / "tus").rglob("*-*-*"))


def test_creation_with_upload_and_a_checksum(world: World) -> None:
    data = b"x" * 5000
    headers = {
        **TUS, **OFFSET_TYPE, "upload-length": str(len(data)),
        "upload-metadata": metadata(**IMAGE), "upload-checksum": checksum("sha256", data),
    }  # fmt: skip
    answer = world.request("POST", "/uploads/", headers=headers, content=data[:3000])
    assert answer.status_code == 201, answer.text
    # The checksum was of the whole file, not of what came: nothing is kept, the upload is.
    path = path_of(answer)
    assert answer.headers["upload-offset"] == "0"
    headers["upload-checksum"] = checksum("md5", data[:3000])
    answer = world.request("POST", "/uploads/", headers=headers, content=data[:3000])
    path = path_of(answer)
    assert answer.headers["upload-offset"] == "3000"
    assert send(world, path, 3000, data[3000:]).status_code == 204
    assert image(world, answer.headers["lading-artifact-id"])["status"] == "active"


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha256"])
def test_a_checksum_mismatch_is_460_and_keeps_nothing(world: World, algorithm: str) -> None:
    data = os.urandom(2000)
    path = path_of(start(world, len(data)))
    assert send(world, path, 0, data[:1000]).status_code == 204
    wrong = send(world, path, 1000, data[1000:], **{"upload-checksum": checksum(algorithm, b"no")})
    assert wrong.status_code == 460, wrong.text
    assert wrong.headers["tus-resumable"] == "1.0.0"
    assert head(world, path).headers["upload-offset"] == "1000"
    good = checksum(algorithm, data[1000:])
    right = send(world, path, 1000, data[1000:], **{"upload-checksum": good})
    assert right.status_code == 204, right.text
    assert (
        image(world, right.headers["lading-artifact-id"])["checksum"]
        == hashlib.md5(data).hexdigest()
    )


@pytest.mark.parametrize(
    "value", ["crc32 AAAA", "sha1 not-base64!", "sha1", "SHA1 " + "A" * 28]
)  # fmt: skip
def test_an_unusable_checksum_header_is_400(world: World, value: str) -> None:
    path = path_of(start(world, 10))
    answer = send(world, path, 0, b"0123456789", **{"upload-checksum": value})
    assert answer.status_code == 400
    assert head(world, path).headers["upload-offset"] == "0"


def test_the_offset_must_be_the_uploads(world: World) -> None:
    path = path_of(start(world, 10))
    assert send(world, path, 0, b"01234").status_code == 204
    for offset in (0, 4, 6, 10):
        answer = send(world, path, offset, b"56789")
        assert answer.status_code == 409, offset
    assert head(world, path).headers["upload-offset"] == "5"


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/octet-stream", "upload-offset": "0"},
        {"content-type": "text/plain", "upload-offset": "0"},
        {"upload-offset": "0"},
    ],
)
def test_a_patch_that_is_not_offset_octet_stream_is_415(
    world: World, headers: dict[str, str]
) -> None:
    path = path_of(start(world, 10))
    answer = world.request("PATCH", path, headers={**TUS, **headers}, content=b"0123456789")
    assert answer.status_code == 415


@pytest.mark.parametrize("offset", [None, "-1", "1.5", "a", "1e3", " 0", "9" * 30])
def test_a_patch_without_a_valid_offset_is_400(world: World, offset: str | None) -> None:
    path = path_of(start(world, 10))
    headers = {**TUS, **OFFSET_TYPE}
    if offset is not None:
        headers["upload-offset"] = offset
    assert world.request("PATCH", path, headers=headers, content=b"0").status_code == 400


def test_a_body_past_the_length_is_400_and_kept_nowhere(world: World) -> None:
    path = path_of(start(world, 10))
    assert send(world, path, 0, b"0123").status_code == 204
    assert send(world, path, 4, b"456789AB").status_code == 400
    assert head(world, path).headers["upload-offset"] == "4"
    assert send(world, path, 4, b"456789").status_code == 204


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 400),  # neither length nor deferred
        ({"upload-length": "10", "upload-defer-length": "1"}, 400),
        ({"upload-defer-length": "2"}, 400),
        ({"upload-length": "-1"}, 400),
        ({"upload-length": "ten"}, 400),
        ({"upload-length": str(2**41)}, 413),  # past Tus-Max-Size (image_size_cap)
    ],
)
def test_creation_refuses_bad_lengths(world: World, headers: dict[str, str], status: int) -> None:
    answer = world.request(
        "POST", "/uploads/", headers={**TUS, "upload-metadata": metadata(**IMAGE), **headers}
    )
    assert answer.status_code == status, answer.text
    assert world.get("owner", "/v2/images").json()["images"] == []  # no image left


@pytest.mark.parametrize(
    "text",
    [
        "name",  # a key alone is allowed, but then no formats: below
        "name !!!!",
        "name aW1n,name aW1n",
        "name a b",
        "name " + base64.b64encode(b"\xff\xfe").decode(),
    ],
)
def test_unusable_metadata_is_400_and_makes_nothing(world: World, text: str) -> None:
    answer = world.request(
        "POST", "/uploads/", headers={**TUS, "upload-length": "1", "upload-metadata": text}
    )
    assert answer.status_code == 400, answer.text
    assert world.get("owner", "/v2/images").json()["images"] == []


def test_metadata_is_bounded(world: World) -> None:
    long = metadata(**IMAGE, filetype="x" * 7000)  # a key lading ignores, but keeps
    assert start(world, 1, **IMAGE, filetype="x" * 5000).status_code == 201
    answer = world.request(
        "POST", "/uploads/", headers={**TUS, "upload-length": "1", "upload-metadata": long}
    )
    assert answer.status_code == 400 and "8192" in answer.text


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "x"},  # no formats: an image's data needs both
        {"name": "x", "disk_format": "floppy", "container_format": "bare"},
        {**IMAGE, "min_disk": "many"},
        {**IMAGE, "protected": "perhaps"},
        {"package": "rpm", "filename": "a-1.0.tar.gz"},
        {"package": "pnda"},
        {"package": "pnda", "filename": "../../etc-1.0.tar.gz"},
        {"package": "click", "name": "tool", "version": "1.0"},  # no filename
        {"package": "click", "name": "../x", "version": "1.0", "filename": "x.click"},
        {"package": "click", "name": "tool", "version": "", "filename": "x.click"},
        {"package": "osm", "mode": "replace"},
    ],
)
def test_what_an_upload_cannot_become_is_refused_at_creation(
    world: World, fields: dict[str, str]
) -> None:
    assert start(world, 10, **fields).status_code == 400
    assert world.get("owner", "/v2/images").json()["images"] == []


def test_the_new_images_fields_come_from_the_metadata(world: World) -> None:
    fields = {"filename": "cirros.img", "disk_format": "raw", "container_format": "bare",
              "visibility": "private", "min_disk": "2", "min_ram": "512", "tags": "a, b",
              "protected": "false", "filetype": "application/octet-stream"}  # fmt: skip
    created = start(world, 4, **fields)
    assert send(world, path_of(created), 0, b"data").status_code == 204
    found = image(world, created.headers["lading-artifact-id"])
    assert (found["name"], found["visibility"], found["min_disk"], found["min_ram"]) == (
        "cirros.img", "private", 2, 512,
    )  # fmt: skip
    assert sorted(found["tags"]) == ["a", "b"] and found["protected"] is False
    assert "filetype" not in found


def test_an_existing_queued_image_takes_the_data(world: World) -> None:
    made = world.request("POST", "/v2/images", json=IMAGE).json()
    data = os.urandom(1000)
    created = start(world, len(data), artifact=made["id"])
    assert created.headers["lading-artifact-id"] == made["id"]
    assert send(world, path_of(created), 0, data).status_code == 204
    assert image(world, made["id"])["status"] == "active"
    # Another project's image, or one that is not queued, is refused at creation.
    assert start(world, 10, "other", artifact=made["id"]).status_code == 404
    assert start(world, 10, artifact=made["id"]).status_code == 409
    assert start(world, 10, artifact="not-an-id").status_code == 404


def test_staged_data_waits_for_an_import(world: World) -> None:
    made = world.request("POST", "/v2/images", json=IMAGE).json()
    data = os.urandom(1000)
    created = start(world, len(data), artifact=made["id"], stage="true")
    assert send(world, path_of(created), 0, data).status_code == 204
    assert image(world, made["id"])["status"] == "uploading"
    answer = world.request(
        "POST", f"/v2/images/{made['id']}/import", json={"method": {"name": "glance-direct"}}
    )
    assert answer.status_code == 202, answer.text
    world.settled()
    found = image(world, made["id"])
    assert found["status"] == "active" and found["checksum"] == hashlib.md5(data).hexdigest()


def test_a_pnda_package(world: World) -> None:
    data = os.urandom(1000)
    created = start(world, len(data), package="pnda", filename="tool-1.2.tar.gz")
    last = send(world, path_of(created), 0, data)
    assert last.status_code == 204, last.text
    assert "lading-artifact-id" in last.headers
    assert world.get("owner", "/packages/tool-1.2.tar.gz").content == data


def test_a_click_package_goes_through_clicks_upload(world: World) -> None:
    data = os.urandom(1000)
    fields = {"package": "click", "name": "tool", "version": "1.2", "filename": "tool.click",
              "visibility": "private", "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
    created = start(world, len(data), **fields)
    last = send(world, path_of(created), 0, data)
    assert last.status_code == 204, last.text
    found = image(world, last.headers["lading-artifact-id"])
    assert (found["name"], found["version"], found["visibility"]) == ("tool", "1.2", "private")
    private = "/click/download/private/tool/1.2/tool.click"
    assert world.get("owner", private).content == data
    # The name is the owner's now: another project is refused before any byte, and so is
    # the same file name again (Click's names are taken once).
    assert start(world, len(data), "other", **fields).status_code == 403
    assert start(world, len(data), **fields).status_code == 409


def test_a_click_packages_declared_digest_is_checked_at_the_finish(world: World) -> None:
    data = os.urandom(1000)
    fields = {"package": "click", "name": "tool", "version": "1.0", "filename": "tool.click",
              "md5": hashlib.md5(b"other bytes").hexdigest()}  # fmt: skip
    path = path_of(start(world, len(data), **fields))
    assert send(world, path, 0, data).status_code == 460
    assert head(world, path).status_code == 404  # refused: the upload is gone
    assert world.get("owner", "/v2/images").json()["images"] == []


def test_an_osm_package_is_onboarded_as_its_face_does(world: World) -> None:
    data = osm_package("ping_vnfd", "1.0")
    created = start(world, len(data), package="osm", filename="ping_vnfd.tar.gz")
    last = send(world, path_of(created), 0, data)
    assert last.status_code == 204, last.text
    package_id = last.headers["lading-artifact-id"]
    listed = world.get("owner", f"/api/package/{package_id}/files/")
    assert listed.status_code == 200 and "ping_vnfd/ping_vnfd.yaml" in listed.text
    # A new version, through OSM's update flow.
    data = osm_package("ping_vnfd", "1.1")
    created = start(world, len(data), package="osm", mode="update")
    assert send(world, path_of(created), 0, data).status_code == 204


def test_an_osm_package_its_onboarding_refuses_takes_the_bytes_with_it(world: World) -> None:
    data = osm_package("ping_vnfd", "1.0", spoil_checksum=True)
    path = path_of(start(world, len(data), package="osm", filename="ping_vnfd.tar.gz"))
    answer = send(world, path, 0, data)
    assert answer.status_code == 400 and "transaction" in answer.text
    assert head(world, path).status_code == 404
    assert world.get("owner", "/v2/images?os_hidden=true").json()["images"] == []


def test_deferred_length(world: World) -> None:
    data = os.urandom(3000)
    path = path_of(start(world, None))
    shown = head(world, path)
    assert shown.headers["upload-defer-length"] == "1" and "upload-length" not in shown.headers
    answer = send(world, path, 0, data[:1000])
    assert answer.status_code == 204
    assert send(world, path, 1000, data[1000:2000], **{"upload-length": "10"}).status_code == 400
    answer = send(world, path, 1000, data[1000:2000], **{"upload-length": str(len(data))})
    assert answer.status_code == 204
    assert head(world, path).headers["upload-length"] == str(len(data))
    other_length = send(world, path, 2000, data[2000:], **{"upload-length": "5000"})
    assert other_length.status_code == 400
    last = send(world, path, 2000, data[2000:])
    assert last.status_code == 204
    assert image(world, last.headers["lading-artifact-id"])["size"] == len(data)


def test_an_empty_upload_is_finished_at_creation(world: World) -> None:
    created = start(world, 0)
    assert created.status_code == 201
    assert image(world, created.headers["lading-artifact-id"])["status"] == "active"


def test_termination_removes_the_upload_and_the_image_it_made(world: World) -> None:
    created = start(world, 10)
    path = path_of(created)
    assert send(world, path, 0, b"01234").status_code == 204
    answer = world.request("DELETE", path, headers=TUS)
    assert answer.status_code == 204 and answer.headers["tus-resumable"] == "1.0.0"
    assert head(world, path).status_code == 404
    assert send(world, path, 5, b"56789").status_code == 404
    made = created.headers["lading-artifact-id"]
    assert world.get("owner", f"/v2/images/{made}").status_code == 404
    assert not (world.data_dir / "stores" / "default" / "tus").exists() or not list(
        (world.data_dir / "stores" / "default" / "tus").rglob("*-*")
    )
    # An image named by the upload stays, queued.
    made = world.request("POST", "/v2/images", json=IMAGE).json()
    path = path_of(start(world, 10, artifact=made["id"]))
    assert world.request("DELETE", path, headers=TUS).status_code == 204
    assert image(world, made["id"])["status"] == "queued"


def test_another_projects_upload_is_not_found(world: World) -> None:
    path = path_of(start(world, 10))
    assert head(world, path, "other").status_code == 404
    assert send(world, path, 0, b"0123456789", "other").status_code == 404
    assert world.request("DELETE", path, "other", headers=TUS).status_code == 404
    assert head(world, path).headers["upload-offset"] == "0"
    assert head(world, "/uploads/no-such-upload").status_code == 404
    assert world.request("HEAD", path, "anonymous", headers=TUS).status_code == 401


def test_method_override(world: World) -> None:
    path = path_of(start(world, 4))
    answer = world.request(
        "POST", path, headers={**TUS, **OFFSET_TYPE, "upload-offset": "0",
                               "x-http-method-override": "PATCH"}, content=b"ab",
    )  # fmt: skip
    assert answer.status_code == 204 and answer.headers["upload-offset"] == "2"
    shown = world.request("POST", path, headers={**TUS, "x-http-method-override": "HEAD"})
    assert shown.headers["upload-offset"] == "2"
    put = world.request("POST", path, headers={**TUS, "x-http-method-override": "PUT"})
    assert put.status_code == 400
    gone = world.request("POST", path, headers={**TUS, "x-http-method-override": "DELETE"})
    assert gone.status_code == 204 and head(world, path).status_code == 404


def test_a_refused_finish_leaves_the_image_queued_for_another_upload(world: World) -> None:
    # Declared qcow2, sent as raw bytes: the format inspection refuses the data at the end.
    created = start(world, 4096, name="d", disk_format="qcow2", container_format="bare")
    path = path_of(created)
    artifact_id = created.headers["lading-artifact-id"]
    refused = send(world, path, 0, b"\0" * 4096)
    assert refused.status_code == 400, refused.text
    assert image(world, artifact_id)["status"] == "queued"
    assert head(world, path).status_code == 404  # the upload went with its bytes
    # The image takes another upload: after a PATCH of the disk format, raw data.
    world.request(
        "PATCH", f"/v2/images/{artifact_id}",
        headers={"content-type": "application/openstack-images-v2.1-json-patch"},
        json=[{"op": "replace", "path": "/disk_format", "value": "raw"}],
    )  # fmt: skip
    again = start(world, 4096, artifact=artifact_id)
    assert send(world, path_of(again), 0, b"\0" * 4096).status_code == 204
    assert image(world, artifact_id)["status"] == "active"


def test_hashes_are_rebuilt_by_a_process_that_does_not_hold_them(world: World) -> None:
    data = os.urandom(2_000_000)
    path = path_of(start(world, len(data)))
    hashes = world.services.resumable.hashes
    for offset in range(0, len(data), 500_000):
        hashes.clear()  # as another node, or this one after a restart, would be
        answer = send(world, path, offset, data[offset : offset + 500_000])
        assert answer.status_code == 204, answer.text
    found = image(world, answer.headers["lading-artifact-id"])
    assert found["checksum"] == hashlib.md5(data).hexdigest()
    assert found["os_hash_value"] == hashlib.sha256(data).hexdigest()


def test_the_image_is_the_uploads_file_not_a_copy(world: World) -> None:
    """On the filesystem store the parts are one file; the finish gives the image's
    object that file's inode (a second name, then the only one), and a refused finish
    leaves no file."""
    data = os.urandom(100_000)
    path = path_of(start(world, len(data)))
    assert send(world, path, 0, data[:60_000]).status_code == 204
    (part,) = world.stored_files()
    inode = part.stat().st_ino
    last = send(world, path, 60_000, data[60_000:])
    assert last.status_code == 204
    (stored,) = world.stored_files()
    assert stored != part and stored.stat().st_ino == inode and stored.stat().st_nlink == 1
    assert stored.read_bytes() == data
    refused = start(world, 4096, name="q", disk_format="qcow2", container_format="bare")
    assert send(world, path_of(refused), 0, b"\0" * 4096).status_code == 400
    assert world.stored_files() == [stored]
