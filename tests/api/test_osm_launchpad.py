"""The OSM face at the launchpad's own URLs: file browsing by kind and descriptor id,
export transactions and their ``.tar.gz``, errors as the launchpad shows them, the
images inside a package registered in the catalogue, and a package's delete saying what
became of them."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error
from tests.disk_images import DiskImages, qcow2_header
from tests.osm_packages import package
from tests.portal import new_token
from tests.raw_asgi import send

MiB = 1024 * 1024
QCOW2 = qcow2_header(64 * MiB).ljust(256 * 1024, b"\x00")  # a qcow2 to the inspector
RAW = bytes(range(256)) * 1024  # 256 KiB of a raw disk


@pytest.fixture
def client(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


def upload(client: TestClient, data: bytes, mode: str = "upload", **headers: str) -> Any:
    answer = client.post(f"/api/{mode}", files={"descriptor": ("p.tar.gz", data)}, headers=headers)
    assert answer.status_code == 200, answer.text
    return client.get(
        f"/api/{mode}/{answer.json()['transaction_id']}/state", headers=headers
    ).json()


def with_images(images: dict[str, bytes], version: str = "1.0") -> bytes:
    return package(version=version, extra={f"images/{name}": data for name, data in images.items()})


def tokens(client: TestClient, *projects: str, role: str = "member") -> list[dict[str, str]]:
    return [{"x-auth-token": new_token(client, project, role)} for project in projects]


def names(entry: dict[str, Any]) -> list[str]:
    return [child["name"] for child in entry["contents"]]


def test_the_launchpad_browses_a_package_by_kind_and_descriptor_id(client: TestClient) -> None:
    first = upload(client, package(version="1.0"))["package_id"]
    root = client.get("/api/package/vnfd/ping_vnfd")
    assert root.status_code == 200, root.text
    tree = root.json()
    # From the package's directory (ping_vnfd/ in the archive), as the launchpad's store had it.
    assert (tree["type"], tree["path"]) == ("directory", "")
    assert sorted(names(tree)) == ["checksums.txt", "cloud_init", "icons", "ping_vnfd.yaml"]
    assert client.get("/api/package/vnfd/ping_vnfd/").json() == tree
    cloud_init = client.get("/api/package/vnfd/ping_vnfd/cloud_init").json()
    (config,) = cloud_init["contents"]
    assert config == {
        "name": "ping_init.cfg", "path": "cloud_init/ping_init.cfg", "type": "file",
        "size": 31, "md5": hashlib.md5(b"#cloud-config\npassword: fedora\n").hexdigest(),
    }  # fmt: skip
    data = client.get("/api/package/vnfd/ping_vnfd/cloud_init/ping_init.cfg")
    assert data.content == b"#cloud-config\npassword: fedora\n"
    assert "ping_init.cfg" in data.headers["content-disposition"]
    part = client.get("/api/package/vnfd/ping_vnfd/icons/ping.png", headers={"range": "bytes=1-3"})
    assert part.status_code == 206 and part.content == b"PNG"
    assert client.head("/api/package/vnfd/ping_vnfd/ping_vnfd.yaml").status_code == 200
    # The newest version the caller sees; the artifact id names one too.
    upload(client, package(version="1.1"), mode="update")
    newest = client.get("/api/package/vnfd/ping_vnfd/ping_vnfd.yaml").text
    assert "version: '1.1'" in newest
    assert "version: '1.0'" in client.get(f"/api/package/vnfd/{first}/ping_vnfd.yaml").text
    # Another kind, another name, a file that is not there, a link: refused.
    assert_error(client.get("/api/package/nsd/ping_vnfd"), 404)
    assert_error(client.get("/api/package/vnfd/pong_vnfd/"), 404)
    assert_error(client.get("/api/package/vnfd/ping_vnfd/nothing.txt"), 404)
    assert_error(client.get(f"/api/package/nsd/{first}/"), 404)


@pytest.mark.parametrize(
    "target",
    [b"/api/package/vnfd/ping_vnfd/../../etc/passwd", b"/api/package/vnfd/ping_vnfd/%2e%2e/x",
     b"/api/package/vnfd/ping_vnfd/cloud_init/../ping_vnfd.yaml",
     b"/api/package/vnfd/ping_vnfd//etc/passwd", b"/api/package/vnfd/ping_vnfd/%2Fetc%2Fpasswd",
     b"/api/package/vnfd/../../v2/images"],
)  # fmt: skip
def test_browsing_does_not_leave_the_package(client: TestClient, target: bytes) -> None:
    upload(client, package())
    answer = send(client, "GET", target)
    assert answer.status == 404 and b"itemNotFound" in answer.body, answer
    assert (
        send(client, "GET", b"/api/package/vnfd/ping_vnfd/cloud_init/ping_init.cfg").status == 200
    )


def test_export_is_a_transaction_and_a_tar_gz(client: TestClient) -> None:
    state = upload(client, package())
    stored = client.get(f"/api/export/{state['package_id']}").content  # lading's: the tar
    started = client.get("/api/export/vnfd?ids=ping_vnfd")
    assert started.status_code == 200, started.text
    transaction, filename = started.json()["transaction_id"], started.json()["filename"]
    assert filename == f"{transaction}.tar.gz"
    shown = client.get(f"/api/export/{transaction}/state").json()
    assert shown["status"] == "success" and shown["filename"] == filename
    assert [event["value"] for event in shown["events"]] == ["export-started", "export-success"]
    exported = client.get(f"/api/export/{filename}")
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/gzip"
    assert "ping_vnfd-1.0.tar.gz" in exported.headers["content-disposition"]
    assert gzip.decompress(exported.content) == stored
    with tarfile.open(fileobj=io.BytesIO(exported.content), mode="r:gz") as tar:
        assert "ping_vnfd/ping_vnfd.yaml" in tar.getnames()
    head = client.head(f"/api/export/{filename}")
    assert head.status_code == 200 and head.content == b""
    # OSM's RPC asks the same way.
    asked = {"input": {"package_type": "VNFD", "package_id": "ping_vnfd"}}
    rpc = client.post("/api/package-export", json=asked)
    assert rpc.status_code == 200, rpc.text
    assert client.get(f"/api/export/{rpc.json()['filename']}").content == exported.content
    # Once the package is gone, so is what its export made.
    assert client.delete(f"/api/package/{state['package_id']}").status_code == 200
    assert_error(client.get(f"/api/export/{filename}"), 404)


@pytest.mark.parametrize(
    ("request_path", "status"),
    [("/api/export/vnfd", 400), ("/api/export/vnfd?ids=a,b", 400),
     ("/api/export/vnfd?ids=ping_vnfd&grammar=tosca", 400), ("/api/export/nsd?ids=ping_vnfd", 404),
     ("/api/export/vnfd?ids=nothing", 404), ("/api/export/nothing.tar.gz", 404),
     ("/api/export/nothing/state", 404)],
)  # fmt: skip
def test_bad_exports(client: TestClient, request_path: str, status: int) -> None:
    upload(client, package())
    assert_error(client.get(request_path), status)


def test_an_upload_is_no_export_and_an_export_no_upload(client: TestClient) -> None:
    answer = client.post("/api/upload", files={"descriptor": ("p.tgz", package())})
    upload_transaction = answer.json()["transaction_id"]
    assert_error(client.get(f"/api/export/{upload_transaction}/state"), 404)
    assert_error(client.get(f"/api/export/{upload_transaction}.tar.gz"), 404)
    export = client.get("/api/export/vnfd?ids=ping_vnfd").json()["transaction_id"]
    assert_error(client.get(f"/api/upload/{export}/state"), 404)
    bodies: list[Any] = [{"package_type": "vnfd"}, {"package_id": 3, "package_type": "vnfd"}, []]
    for body in bodies:
        assert_error(client.post("/api/package-export", json=body), 400)


def test_errors_carry_their_text_in_value(client: TestClient) -> None:
    """The launchpad shows an error's ``value``: its text; ``name`` says which it is."""
    state = upload(client, package(spoil_checksum=True))
    (error,) = state["errors"]
    assert error["value"] == "checksum mismatch for cloud_init/ping_init.cfg"
    assert error["name"] == "onboard-checksum-mismatch" and error["text"] == error["value"]
    assert state["events"][0]["value"] == "onboard-started"  # an event's is its name


def test_other_projects_reach_nothing_at_the_launchpad_urls(client: TestClient) -> None:
    mine, theirs = tokens(client, "a", "b")
    state = upload(client, with_images({"ping.qcow2": QCOW2}), **mine)
    assert state["status"] == "success", state
    package_id = state["package_id"]
    (image,) = state["images"]
    export = client.get("/api/export/vnfd?ids=ping_vnfd", headers=mine).json()
    for path in ("/api/package/vnfd/ping_vnfd/", "/api/package/vnfd/ping_vnfd/ping_vnfd.yaml",
                 f"/api/package/vnfd/{package_id}/", "/api/export/vnfd?ids=ping_vnfd",
                 f"/api/export/{export['filename']}",
                 f"/api/export/{export['transaction_id']}/state",
                 f"/api/package/{package_id}/images", f"/v2/images/{image['image_id']}",
                 f"/v2/images/{image['image_id']}/file"):  # fmt: skip
        assert_error(client.get(path, headers=theirs), 404)
    rpc = {"package_type": "vnfd", "package_id": "ping_vnfd"}
    assert_error(client.post("/api/package-export", json=rpc, headers=theirs), 404)
    assert_error(client.delete(f"/api/package/{package_id}", headers=theirs), 404)
    assert client.get(f"/v2/images/{image['image_id']}", headers=mine).status_code == 200
    # Their own package of that name cannot be onboarded (the name is a's), so the
    # launchpad's names never lead them to a's.
    assert upload(client, package(), **theirs)["status"] == "failure"


def test_images_in_a_package_are_registered_as_images(client: TestClient) -> None:
    state = upload(client, with_images({"ping.qcow2": QCOW2, "cirros.img": RAW}))
    assert state["status"] == "success", state
    events = [event["value"] for event in state["events"]]
    assert events == ["onboard-started", "image-registered", "image-registered",
                      "onboard-success"]  # fmt: skip
    by_path = {image["path"]: image for image in state["images"]}
    assert set(by_path) == {"ping_vnfd/images/ping.qcow2", "ping_vnfd/images/cirros.img"}
    for path, data, disk_format in (("ping_vnfd/images/ping.qcow2", QCOW2, "qcow2"),
                                    ("ping_vnfd/images/cirros.img", RAW, "raw")):  # fmt: skip
        image = client.get(f"/v2/images/{by_path[path]['image_id']}").json()
        assert image["status"] == "active" and image["os_hidden"] is False
        assert (image["name"], image["disk_format"], image["container_format"]) == (
            path.rpartition("/")[2], disk_format, "bare",
        )  # fmt: skip
        assert image["checksum"] == hashlib.md5(data).hexdigest()
        assert image["os_hash_value"] == hashlib.sha256(data).hexdigest()
        assert image["size"] == len(data) and image["owner"] == "default"
        assert client.get(f"/v2/images/{image['id']}/file").content == data
    assert image["virtual_size"] == len(RAW)
    listed = client.get(f"/api/package/{state['package_id']}/images").json()["images"]
    assert {entry["path"]: entry["id"] for entry in listed} == {
        path: image["image_id"] for path, image in by_path.items()
    }
    assert client.get(f"/v2/images/{by_path['ping_vnfd/images/ping.qcow2']['image_id']}").json()[
        "virtual_size"] == 64 * MiB  # fmt: skip


def test_a_new_version_links_the_images_the_project_has(client: TestClient) -> None:
    first = upload(client, with_images({"ping.qcow2": QCOW2}))
    second = upload(client, with_images({"ping.qcow2": QCOW2}, "1.1"), mode="update")
    assert second["status"] == "success", second
    assert "image-exists" in [event["value"] for event in second["events"]]
    assert second["images"][0]["image_id"] == first["images"][0]["image_id"]
    assert second["images"][0]["registered"] is False
    changed = upload(client, with_images({"ping.qcow2": QCOW2[:-1] + b"\x01"}, "1.2"),
                     mode="update")  # fmt: skip
    assert changed["images"][0]["image_id"] != first["images"][0]["image_id"]
    images = [image for image in client.get("/v2/images").json()["images"]
              if image["name"] == "ping.qcow2"]  # fmt: skip
    assert len(images) == 2


def test_deleting_a_package_keeps_its_images_unless_asked(client: TestClient) -> None:
    first = upload(client, with_images({"ping.qcow2": QCOW2, "cirros.img": RAW}))
    second = upload(client, with_images({"ping.qcow2": QCOW2}, "1.1"), mode="update")
    ping, cirros = (image["image_id"] for image in sorted(
        first["images"], key=lambda image: image["path"], reverse=True))  # fmt: skip
    # Asked to delete them: the one another package still holds stays.
    answer = client.delete(f"/api/package/{first['package_id']}?images=delete")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"package_id": first["package_id"],
                             "images": {"kept": [ping], "deleted": [cirros]}}  # fmt: skip
    assert_error(client.get(f"/v2/images/{cirros}"), 404)
    assert_error(client.get(f"/api/package/{first['package_id']}/images"), 404)
    # By default they stay: an image outlives the package that brought it, unlinked.
    answer = client.delete(f"/api/package/{second['package_id']}")
    assert answer.json()["images"] == {"kept": [ping], "deleted": []}
    assert client.get(f"/v2/images/{ping}").json()["status"] == "active"
    assert_error(client.delete(f"/api/package/{second['package_id']}"), 404)
    assert_error(client.delete(f"/api/package/{ping}"), 404)  # an image is no package


def test_a_protected_image_stays_when_its_package_goes(client: TestClient) -> None:
    state = upload(client, with_images({"ping.qcow2": QCOW2, "cirros.img": RAW}))
    ids = {image["path"].rpartition("/")[2]: image["image_id"] for image in state["images"]}
    patch = [{"op": "replace", "path": "/protected", "value": True}]
    patching = {"content-type": "application/openstack-images-v2.1-json-patch"}
    protected = client.patch(f"/v2/images/{ids['ping.qcow2']}", json=patch, headers=patching)
    assert protected.status_code == 200, protected.text
    assert_error(client.delete(f"/api/package/{state['package_id']}?images=all"), 400)
    answer = client.delete(f"/api/package/{state['package_id']}?images=delete").json()
    assert answer["images"] == {"kept": [ids["ping.qcow2"]], "deleted": [ids["cirros.img"]]}
    assert client.get(f"/v2/images/{ids['ping.qcow2']}").json()["protected"] is True


def test_an_image_that_is_refused_fails_the_package_and_keeps_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    """A qcow2 with a backing file: its bytes all stored, then refused by the safety
    checks; neither it nor the package nor the image before it is left."""
    backed = DiskImages(tmp_path / "disks").qcow2_with_backing_file()
    state = upload(client, with_images({"a.img": RAW, "b.qcow2": backed}))
    assert state["status"] == "failure", state
    (error,) = state["errors"]
    assert error["name"] == "onboard-image-error" and "b.qcow2" in error["value"]
    assert "backing" in error["value"] or "safety" in error["value"]
    listed = client.get("/v2/images").json()["images"]
    hidden = client.get("/v2/images?os_hidden=true").json()["images"]
    assert listed == hidden == []


def test_a_public_package_does_not_show_its_private_images(client: TestClient) -> None:
    """Another project may browse and export a public package, not reach its images."""
    (mine,) = tokens(client, "a", role="admin")
    (theirs,) = tokens(client, "b")
    state = upload(client, with_images({"ping.qcow2": QCOW2}), **mine)
    package_id, image = state["package_id"], state["images"][0]["image_id"]
    public = [{"op": "replace", "path": "/visibility", "value": "public"}]
    patching = {"content-type": "application/openstack-images-v2.1-json-patch", **mine}
    assert client.patch(f"/v2/images/{package_id}", json=public, headers=patching).is_success
    tree = client.get("/api/package/vnfd/ping_vnfd/", headers=theirs)
    assert tree.status_code == 200 and "images" in names(tree.json())
    assert client.get("/api/export/vnfd?ids=ping_vnfd", headers=theirs).status_code == 200
    listed = client.get(f"/api/package/{package_id}/images", headers=theirs)
    assert listed.status_code == 200 and listed.json() == {"images": []}
    assert_error(client.get(f"/v2/images/{image}", headers=theirs), 404)
    assert_error(client.delete(f"/api/package/{package_id}?images=delete", headers=theirs), 403)
    assert client.get(f"/v2/images/{image}", headers=mine).json()["status"] == "active"


def test_a_hidden_image_is_not_taken_for_a_packages_own(client: TestClient) -> None:
    """Hidden as a package's images are while another onboarding checks it (which may
    still drop it), an image of the same name and bytes is not linked: one is registered."""
    hidden = {"name": "ping.qcow2", "disk_format": "qcow2", "container_format": "bare",
              "os_hidden": True}  # fmt: skip
    made = client.post("/v2/images", json=hidden)
    octets = {"content-type": "application/octet-stream"}
    sent = client.put(f"/v2/images/{made.json()['id']}/file", content=QCOW2, headers=octets)
    assert sent.status_code == 204, sent.text
    state = upload(client, with_images({"ping.qcow2": QCOW2}))
    (image,) = state["images"]
    assert image["registered"] is True and image["image_id"] != made.json()["id"]
