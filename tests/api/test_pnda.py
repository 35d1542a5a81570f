"""The PNDA package repository face: file names make packages, versions order as versions,
a PUT by the owner replaces a file (atomically) unless files are immutable, anonymous
access only when allowed."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error
from tests.portal import call

FILE = "spark-batch-example-app-1.0.23.tar.gz"


def lading(tmp_path: Path, database_url: str, **pnda: Any) -> TestClient:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, pnda=pnda)
    return TestClient(create_app(settings), base_url="http://lading.test")


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    with lading(tmp_path, database_url) as client:
        yield client


def put(client: TestClient, filename: str, data: bytes, **headers: str) -> Any:
    return client.put(f"/packages/{filename}", content=data, headers=headers)


def test_upload_list_download_delete(client: TestClient) -> None:
    data = b"spark app " * 1000
    answer = put(client, FILE, data)
    assert answer.status_code == 200, answer.text
    assert answer.json() | {"id": None} == {
        "name": "spark-batch-example-app", "version": "1.0.23", "file": FILE, "id": None,
        "size": len(data), "md5": hashlib.md5(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }  # fmt: skip
    listed = [{"version": "1.0.23", "file": FILE}]
    assert client.get("/packages").json() == [
        {"name": "spark-batch-example-app", "latest_versions": listed}
    ]
    got = client.get(f"/packages/{FILE}")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-disposition"] == (
        f"attachment; filename=\"{FILE}\"; filename*=UTF-8''{FILE}"
    )
    part = client.get(f"/packages/{FILE}", headers={"range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == data[10:20]
    assert client.head(f"/packages/{FILE}").headers["content-length"] == str(len(data))
    assert client.delete(f"/packages/{FILE}").status_code == 200
    assert_error(client.get(f"/packages/{FILE}"), 404)
    assert_error(client.delete(f"/packages/{FILE}"), 404)
    assert client.get("/packages").json() == []


def test_recency_orders_versions_as_versions(client: TestClient) -> None:
    versions = ["1.0.9", "1.0.10", "1.0.10rc1", "1.0.2", "1.1.0-alpha", "0.9"]
    for version in versions:
        assert put(client, f"app-{version}.tar.gz", version.encode()).status_code == 200
    assert put(client, "other-2.0.zip", b"x").status_code == 200

    def listed(query: str) -> dict[str, list[str]]:
        answer = client.get(f"/packages{query}")
        assert answer.status_code == 200, answer.text
        return {
            package["name"]: [entry["version"] for entry in package["latest_versions"]]
            for package in answer.json()
        }

    assert listed("") == {"app": ["1.1.0-alpha"], "other": ["2.0"]}
    assert listed("?recency=4") == {
        "app": ["1.1.0-alpha", "1.0.10", "1.0.10rc1", "1.0.9"],
        "other": ["2.0"],
    }
    assert listed("?recency=100")["app"][-3:] == ["1.0.9", "1.0.2", "0.9"]
    for bad in ("0", "-1", "x", "1001", "1&recency=2"):
        assert_error(client.get(f"/packages?recency={bad}"), 400)


@pytest.mark.parametrize(
    "filename",
    ["nodigits.tar.gz", "-1.0.tar.gz", "name-.tar.gz", "a-1%2Fb.tar.gz",
     "a-1%01.tar.gz", "a-1%C2%85.tar.gz", "a-1.0" + "x" * 300, "a-1..%5Cb"],
)  # fmt: skip
def test_bad_file_names_are_refused(client: TestClient, filename: str) -> None:
    answer = put(client, filename, b"data")
    assert answer.status_code in (400, 404), answer.text
    assert answer.json()
    assert client.get("/packages").json() == []


def test_immutable_files_are_a_conflict_and_keep_the_first(
    tmp_path: Path, database_url: str
) -> None:
    with lading(tmp_path, database_url, immutable=True) as client:
        assert put(client, FILE, b"first").status_code == 200
        assert_error(put(client, FILE, b"second"), 409)
        assert client.get(f"/packages/{FILE}").content == b"first"
        client.delete(f"/packages/{FILE}")
        assert_error(put(client, FILE, b"third"), 409)  # a file name is taken for good


def test_a_put_replaces_atomically(client: TestClient) -> None:
    assert put(client, FILE, b"first").status_code == 200
    new_id = put(client, FILE, b"second").json()["id"]
    assert client.get(f"/packages/{FILE}").content == b"second"
    # the first is deleted, the second active
    assert [image["id"] for image in client.get("/v2/images").json()["images"]] == [new_id]
    client.delete(f"/packages/{FILE}")
    assert put(client, FILE, b"third").status_code == 200  # names may be used again
    assert client.get(f"/packages/{FILE}").content == b"third"


def test_readers_see_old_or_new_bytes_never_a_mix(tmp_path: Path, database_url: str) -> None:
    size = 2 * 1024 * 1024
    versions = [bytes([n]) * size for n in range(4)]
    with lading(tmp_path, database_url) as client:
        assert put(client, FILE, versions[0]).status_code == 200
        seen: list[bytes] = []

        async def replace() -> None:
            for data in versions[1:]:
                await anyio.to_thread.run_sync(functools.partial(put, client, FILE, data))

        async def read() -> None:
            for _ in range(12):
                got = await anyio.to_thread.run_sync(lambda: client.get(f"/packages/{FILE}"))
                assert got.status_code == 200
                seen.append(got.content)

        async def both() -> None:
            async with anyio.create_task_group() as group:
                group.start_soon(replace)
                group.start_soon(read)

        anyio.run(both)
        assert all(content in versions for content in seen)
        assert client.get(f"/packages/{FILE}").content == versions[-1]


def test_anonymous_access_follows_the_setting(tmp_path: Path, database_url: str) -> None:
    for mode, can_read, can_write in (("none", False, False), ("read", True, False),
                                      ("write", True, True)):  # fmt: skip
        mine, theirs = f"{mode}-1.0.tar.gz", f"{mode}-other-1.0.tgz"
        with lading(tmp_path / mode, database_url, anonymous=mode) as client:
            identities = client.app.state.services.identities  # type: ignore[attr-defined]
            token = call(client, identities.create, "default", "member").token
            data = mode.encode()  # one catalogue, a store per mode: no bytes shared
            assert put(client, mine, data, **{"x-auth-token": token}).status_code == 200
            assert client.get("/packages").status_code == (200 if can_read else 401)
            assert client.get(f"/packages/{mine}").status_code == (200 if can_read else 401)
            other = put(client, theirs, data * 2)
            assert other.status_code == (200 if can_write else 401), other.text
            assert other.json()
            assert client.delete(f"/packages/{mine}").status_code == (200 if can_write else 401)


def test_another_projects_private_packages_are_invisible(client: TestClient) -> None:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    mine, theirs = (call(client, identities.create, project, "member").token for project in "ab")
    assert put(client, FILE, b"a's", **{"x-auth-token": mine}).status_code == 200
    assert client.get("/packages", headers={"x-auth-token": theirs}).json() == []
    assert_error(client.get(f"/packages/{FILE}", headers={"x-auth-token": theirs}), 404)
    assert_error(client.delete(f"/packages/{FILE}", headers={"x-auth-token": theirs}), 404)
    assert_error(put(client, FILE, b"b's", **{"x-auth-token": theirs}), 403)  # a's name


def test_a_pnda_package_is_an_artifact_on_every_face(client: TestClient) -> None:
    assert put(client, FILE, b"bytes").status_code == 200
    (image,) = client.get("/v2/images").json()["images"]
    assert image["name"] == "spark-batch-example-app" and image["version"] == "1.0.23"
    assert client.get(f"/v2/images/{image['id']}/file").content == b"bytes"
    client.patch(
        f"/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/visibility", "value": "public"}],
        headers={"content-type": "application/openstack-images-v2.1-json-patch"},
    )
    public = f"/click/download/public/spark-batch-example-app/1.0.23/{FILE}"
    assert client.get(public).content == b"bytes"


def test_a_v2_image_with_a_filename_is_a_package(client: TestClient) -> None:
    created = client.post(
        "/v2/images",
        json={"name": "etl", "version": "2.0.1", "filename": "etl-2.0.1.tar.gz",
              "disk_format": "raw", "container_format": "bare"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    image = created.json()
    assert image["filename"] == "etl-2.0.1.tar.gz"
    client.put(f"/v2/images/{image['id']}/file", content=b"from v2",
               headers={"content-type": "application/octet-stream"})  # fmt: skip
    assert client.get("/packages/etl-2.0.1.tar.gz").content == b"from v2"
    private = "/click/download/private/etl/2.0.1/etl-2.0.1.tar.gz"
    assert client.get(private).content == b"from v2"
    patch_type = {"content-type": "application/openstack-images-v2.1-json-patch"}
    for path, value in (("/filename", "other-1.0.tgz"), ("/version", "3")):
        changed = client.patch(
            f"/v2/images/{image['id']}", json=[{"op": "replace", "path": path, "value": value}],
            headers=patch_type,
        )  # fmt: skip
        assert_error(changed, 403)  # the address stays
    for fields in ({"name": "x", "filename": "x-1.tgz"}, {"name": "x", "version": "1",
                   "filename": "a/b"}, {"name": "etl", "version": "2.0.1",
                   "filename": "etl-2.0.1.tar.gz"}):  # fmt: skip
        refused = client.post("/v2/images", json=fields)
        assert refused.status_code in (400, 409), refused.text
    assert len(client.get("/packages").json()) == 1


def test_a_put_never_replaces_another_projects_or_a_protected_file(client: TestClient) -> None:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    mine, theirs = ({"x-auth-token": call(client, identities.create, project, "member").token}
                    for project in "ab")  # fmt: skip
    assert put(client, FILE, b"a's", **mine).status_code == 200
    assert_error(put(client, FILE, b"b's", **theirs), 403)
    assert client.get(f"/packages/{FILE}", headers=mine).content == b"a's"
    (image,) = client.get("/v2/images", headers=mine).json()["images"]
    protect = [{"op": "replace", "path": "/protected", "value": True}]
    client.patch(
        f"/v2/images/{image['id']}", json=protect,
        headers={"content-type": "application/openstack-images-v2.1-json-patch", **mine},
    )  # fmt: skip
    assert_error(put(client, FILE, b"a's again", **mine), 403)
    assert client.get(f"/packages/{FILE}", headers=mine).content == b"a's"
