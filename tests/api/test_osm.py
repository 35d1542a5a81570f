"""The OSM onboarding face: uploads and onboarding from URLs as transactions, validation of
package archives (checksums, descriptor, referenced files, paths, size), browsing and
export of stored packages, and those packages on the other faces."""

from __future__ import annotations

import base64
import gzip
import io
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error
from tests.http_origin import Origin, serving
from tests.osm_packages import NSD, archive, gzip_bomb, package
from tests.portal import call

MiB = 1024 * 1024


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(b"") as server:
        yield server


@pytest.fixture
def client(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, task_poll_interval=0.05,
        image_size_cap=16 * MiB,
        fetch={"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]},
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


def upload(client: TestClient, data: bytes, mode: str = "upload", **headers: str) -> Any:
    name = "ping_vnfd.tar.gz"
    answer = client.post(f"/api/{mode}", files={"descriptor": (name, data)}, headers=headers)
    assert answer.status_code == 200, answer.text
    return client.get(f"/api/{mode}/{answer.json()['transaction_id']}/state").json()


def texts(state: dict[str, Any], kind: str) -> list[str]:
    return [entry["text"] for entry in state[kind]]


def stored(client: TestClient) -> list[dict[str, Any]]:
    """Every artifact v2 lists, hidden ones too."""
    listed = client.get("/v2/images").json()["images"]
    return listed + client.get("/v2/images?os_hidden=true").json()["images"]


def test_upload_stores_a_package_that_can_be_browsed(client: TestClient) -> None:
    state = upload(client, package())
    assert state["status"] == "success", state
    assert [event["value"] for event in state["events"]] == ["onboard-started", "onboard-success"]
    assert "3 checksums verified" in texts(state, "events")[-1]
    package_id = state["package_id"]
    files = client.get(f"/api/package/{package_id}/files/").json()["files"]
    paths = {entry["path"]: entry for entry in files if entry["kind"] == "file"}
    assert {entry["path"] for entry in files if entry["kind"] == "directory"} == {
        "ping_vnfd", "ping_vnfd/icons", "ping_vnfd/cloud_init",
    }  # fmt: skip
    assert set(paths) == {
        "ping_vnfd/ping_vnfd.yaml",
        "ping_vnfd/icons/ping.png",
        "ping_vnfd/cloud_init/ping_init.cfg",
        "ping_vnfd/checksums.txt",
    }
    cloud_init = client.get(f"/api/package/{package_id}/files/ping_vnfd/cloud_init/ping_init.cfg")
    assert cloud_init.content == b"#cloud-config\npassword: fedora\n"
    assert cloud_init.headers["etag"] == f'"{paths["ping_vnfd/cloud_init/ping_init.cfg"]["md5"]}"'
    part = client.get(
        f"/api/package/{package_id}/files/ping_vnfd/icons/ping.png", headers={"range": "bytes=1-3"}
    )
    assert part.status_code == 206 and part.content == b"PNG"
    exported = client.get(f"/api/export/{package_id}")
    assert exported.content == gzip.decompress(package())  # stored inflated
    assert "ping_vnfd-1.0.tar" in exported.headers["content-disposition"]
    # The same package on the other faces.
    image = client.get(f"/v2/images/{package_id}").json()
    assert (image["name"], image["version"], image["osm_descriptor_type"]) == (
        "ping_vnfd", "1.0", "vnfd",
    )  # fmt: skip
    assert client.get(f"/v2/images/{package_id}/file").content == exported.content
    listed = client.get("/packages").json()
    assert listed == [
        {"name": "ping_vnfd", "latest_versions": [{"version": "1.0", "file": "ping_vnfd-1.0.tar"}]}
    ]
    assert client.get("/packages/ping_vnfd-1.0.tar").content == exported.content


def test_uncompressed_and_json_descriptors(client: TestClient) -> None:
    nsd = package("ping_pong_nsd", descriptor=("ping_pong_nsd.json", NSD), compressed=False,
                  with_cloud_init=False)  # fmt: skip
    state = upload(client, nsd)
    assert state["status"] == "success", state
    image = client.get(f"/v2/images/{state['package_id']}").json()
    assert (image["name"], image["version"], image["osm_descriptor_type"]) == (
        "ping_pong_nsd", "2.0", "nsd",
    )  # fmt: skip


def tar_with_twice(path: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for _ in range(2):
            info = tarfile.TarInfo(path)
            info.size = len(package_yaml())
            tar.addfile(info, io.BytesIO(package_yaml()))
    return buffer.getvalue()


def spoiled(files: dict[str, bytes]) -> bytes:
    return archive({"pkg/pkg.yaml": package_yaml(), **files})


def package_yaml() -> bytes:
    return b"vnfd:vnfd-catalog:\n  vnfd:\n  - id: pkg\n    version: '1'\n"


@pytest.mark.parametrize(
    ("data", "event", "says"),
    [
        (package(spoil_checksum=True), "onboard-checksum-mismatch",
         "checksum mismatch for cloud_init/ping_init.cfg"),
        (package(with_cloud_init=False, checksums=False), "onboard-missing-file",
         "cloud-init file ping_init.cfg"),
        (spoiled({"pkg/../../etc/passwd": b"x"}), "onboard-unsafe-path", "escapes"),
        (spoiled({"/etc/passwd": b"x"}), "onboard-unsafe-path", "absolute"),
        (b"this is not a tar archive at all" * 100, "onboard-unreadable-package", "tar"),
        (gzip.compress(b"x" * 10000, mtime=0)[:-20], "onboard-unreadable-package", "gzip"),
        (archive({"readme.txt": b"no descriptor"}), "onboard-descriptor-error", "no descriptor"),
        (spoiled({"pkg/other.yaml": package_yaml()}), "onboard-descriptor-error", "several"),
        (spoiled({"pkg/checksums.txt": b"nonsense\n"}), "onboard-checksum-error", "md5  path"),
        (spoiled({"pkg/checksums.txt": b"0" * 32 + b"  gone.txt\n"}), "onboard-checksum-error",
         "gone.txt"),
        (archive({"p/p.yaml": b"vnfd: {id: p, version: 'a/b'}"}), "onboard-descriptor-error",
         "version"),
        (archive({"p/p.yaml": b"vnfd: {id: p, version: [1]}"}), "onboard-descriptor-error",
         "bad version"),
        (archive({"p/p.yaml": b"vnfd: " + b"[" * 20000 + b"]" * 20000}),
         "onboard-descriptor-error", "p.yaml"),
        (gzip.compress(tar_with_twice("pkg/pkg.yaml")), "onboard-unreadable-package", "twice"),
    ],
)  # fmt: skip
def test_bad_packages_fail_and_nothing_is_kept(
    client: TestClient, data: bytes, event: str, says: str
) -> None:
    state = upload(client, data)
    assert state["status"] == "failure", state
    (error,) = state["errors"]
    assert error["name"] == event and error["value"] == error["text"] and says in error["text"], (
        error
    )
    assert stored(client) == []


def test_odd_but_valid_archives(client: TestClient) -> None:
    """gzip members one after the other, zeros padding the end, a YAML alias bomb in a
    descriptor's unused part (walked once per shared node, not once per path)."""
    raw = gzip.decompress(package())
    middle = len(raw) // 2
    assert upload(client, gzip.compress(raw[:middle]) + gzip.compress(raw[middle:]))[
        "status"] == "success"  # fmt: skip
    bomb = "vnfd:\n  id: bomb\n  version: '1'\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 30):
        bomb += f"  a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 10)}]\n"
    started = time.monotonic()
    state = upload(
        client, gzip.compress(archive({"bomb/bomb.yaml": bomb.encode()}, False)) + bytes(512)
    )
    assert state["status"] == "success", state
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "links", [[("pkg/shadow", "../../etc/shadow")], [("pkg/up", ".."), ("pkg/s", "up/../..")],
              [("pkg/root", "/")]],
)  # fmt: skip
def test_a_link_that_may_lead_out_of_the_package_fails(
    client: TestClient, links: list[tuple[str, str]]
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        descriptor = tarfile.TarInfo("pkg/pkg.yaml")
        descriptor.size = len(package_yaml())
        tar.addfile(descriptor, io.BytesIO(package_yaml()))
        for name, target in links:
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
    state = upload(client, buffer.getvalue())
    assert state["status"] == "failure" and "outside the package" in texts(state, "errors")[0]


def test_names_that_are_not_utf8_fail_cleanly(client: TestClient) -> None:
    raw = archive({"pkg/pkg.yaml": package_yaml(), "pkg/x": b"x"}, compressed=False)
    not_utf8 = raw.replace(b"pkg/x\0", b"pkg/\xff\0", 1)  # the member's name, in its header
    header = not_utf8.index(b"pkg/\xff\0") // 512 * 512
    block = bytearray(not_utf8[header : header + 512])
    block[148:156] = b" " * 8  # the header's checksum, computed again
    block[148:155] = f"{sum(block):06o}\0".encode()
    not_utf8 = not_utf8[:header] + bytes(block) + not_utf8[header + 512 :]
    state = upload(client, not_utf8)
    assert state["status"] == "failure" and "UTF-8" in texts(state, "errors")[0], state
    surrogate = b'{"vnfd": {"id": "p", "vdu": [{"cloud-init-file": "\\udcff"}]}}'
    state = upload(client, archive({"p/p.json": surrogate}))
    assert state["status"] == "failure" and "\\udcff" in texts(state, "errors")[0], state


@pytest.mark.heavy  # a bomb inflated to the cap
def test_a_gzip_bomb_is_refused_within_the_size_cap(client: TestClient) -> None:
    bomb = gzip_bomb(1024 * MiB)
    assert len(bomb) < 2 * MiB
    started = time.monotonic()
    state = upload(client, bomb)
    assert time.monotonic() - started < 30
    assert state["status"] == "failure"
    assert "larger than the limit" in texts(state, "errors")[0]
    assert stored(client) == []


def test_update_adds_a_new_version(client: TestClient) -> None:
    assert upload(client, package(version="1.0"))["status"] == "success"
    again = upload(client, package(version="1.0"))
    assert again["status"] == "failure" and "exists" in texts(again, "errors")[0]
    assert upload(client, package(version="1.1"), mode="update")["status"] == "success"
    same = upload(client, package(version="1.1"), mode="update")
    assert same["status"] == "failure" and "exists" in texts(same, "errors")[0]
    unknown = upload(client, package("pong_vnfd"), mode="update")
    assert "onboard it first" in texts(unknown, "errors")[0]
    versions = client.get("/packages?recency=5").json()[0]["latest_versions"]
    assert [entry["version"] for entry in versions] == ["1.1", "1.0"]


def wait(client: TestClient, mode: str, transaction: str) -> list[dict[str, Any]]:
    """Every state seen until the transaction ends."""
    seen: list[dict[str, Any]] = []
    for _ in range(400):
        state = client.get(f"/api/{mode}/{transaction}/state").json()
        if not seen or state != seen[-1]:
            seen.append(state)
        if state["status"] != "pending":
            return seen
        time.sleep(0.025)
    raise AssertionError(f"transaction {transaction} did not end: {seen[-1]}")


def test_onboard_from_a_url_with_basic_auth(client: TestClient, origin: Origin) -> None:
    origin.data = package(extra={"images/big.bin": bytes(512 * 1024)})
    origin.required = "Basic " + base64.b64encode(b"osm:s3cret").decode()
    body = {"external_url": origin.url("/slow"), "username": "osm", "password": "s3cret"}
    answer = client.post("/api/package-create", json=body)
    assert answer.status_code == 200, answer.text
    seen = wait(client, "upload", answer.json()["transaction_id"])
    assert seen[0]["status"] == "pending" and seen[-1]["status"] == "success", seen
    values = [event["value"] for event in seen[-1]["events"]]
    assert values == ["onboard-started", "download-started", "download-success",
                      "image-registered", "onboard-success"]  # fmt: skip
    # It was seen on its way: started, downloading, downloaded, done.
    assert len({len(state["events"]) for state in seen}) >= 3
    files = client.get(f"/api/package/{seen[-1]['package_id']}/files/").json()["files"]
    assert any(entry["path"] == "ping_vnfd/images/big.bin" for entry in files)
    assert origin.authorizations[-1] == origin.required


def test_onboard_from_a_url_that_refuses(client: TestClient, origin: Origin) -> None:
    origin.data, origin.required = package(), "Basic c29tZTpvdGhlcg=="
    body = {"input": {"external_url": origin.url(), "username": "osm", "password": "wrong"}}
    answer = client.post("/api/package-create", json=body)
    final = wait(client, "upload", answer.json()["transaction_id"])[-1]
    assert final["status"] == "failure"
    assert final["errors"][0]["name"] == "download-failed"
    assert "401" in final["errors"][0]["text"]
    assert stored(client) == []


def test_update_from_a_url(client: TestClient, origin: Origin) -> None:
    assert upload(client, package(version="1"))["status"] == "success"
    origin.data = package(version="2", compressed=False)
    answer = client.post("/api/package-update", json={"external_url": origin.url()})
    final = wait(client, "update", answer.json()["transaction_id"])[-1]
    assert final["status"] == "success", final
    assert final["events"][-1]["value"] == "update-success"


@pytest.mark.parametrize(
    "body",
    [{"external_url": "http://10.0.0.1/p.tar.gz"}, {"external_url": "file:///etc/passwd"},
     {}, {"external_url": 5}, [], {"external_url": "http://127.0.0.1:1/p", "username": 3}],
)  # fmt: skip
def test_bad_onboard_requests(client: TestClient, body: Any) -> None:
    assert_error(client.post("/api/package-create", json=body), 400)


def test_bad_upload_requests(client: TestClient) -> None:
    assert_error(client.post("/api/upload", content=b"x"), 400)
    assert_error(
        client.post("/api/upload", content=b"x", headers={"content-type": "text/plain"}), 415
    )
    wrong_part = client.post("/api/upload", files={"package": ("p.tar", package())})
    assert_error(wrong_part, 400)
    no_file = client.post("/api/upload", data={"descriptor": "text"}, files={})
    assert no_file.status_code in (400, 415)
    assert_error(client.get("/api/upload/nope/state"), 404)
    transaction = client.post("/api/upload", files={"descriptor": ("p.tar", package())})
    other_kind = f"/api/update/{transaction.json()['transaction_id']}/state"
    assert_error(client.get(other_kind), 404)
    assert stored(client) and len(stored(client)) == 1


def test_browsing_needs_an_onboarded_package_and_a_file(client: TestClient) -> None:
    package_id = upload(client, package())["package_id"]
    for path, status in (("ping_vnfd", 400), ("ping_vnfd/none", 404), ("../etc/passwd", 404)):
        assert_error(client.get(f"/api/package/{package_id}/files/{path}"), status)
    image = client.post("/v2/images", json={"name": "plain"}).json()
    assert_error(client.get(f"/api/package/{image['id']}/files/"), 404)
    assert_error(client.get(f"/api/export/{image['id']}"), 404)
    assert_error(client.get("/api/export/not-an-id"), 404)


def test_other_projects_see_nothing(client: TestClient) -> None:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    mine, theirs = ({"x-auth-token": call(client, identities.create, project, "member").token}
                    for project in "ab")  # fmt: skip
    answer = client.post("/api/upload", files={"descriptor": ("p.tgz", package())}, headers=mine)
    transaction = answer.json()["transaction_id"]
    state = client.get(f"/api/upload/{transaction}/state", headers=mine).json()
    assert state["status"] == "success"
    assert_error(client.get(f"/api/upload/{transaction}/state", headers=theirs), 404)
    assert_error(client.get(f"/api/package/{state['package_id']}/files/", headers=theirs), 404)
    assert_error(client.get(f"/api/export/{state['package_id']}", headers=theirs), 404)
    assert_error(client.post("/api/upload", files={"descriptor": ("p", b"")}), 401)
