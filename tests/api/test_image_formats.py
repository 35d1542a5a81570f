"""Image data is inspected as it streams, as Glance does ([image_format]): the format
found must be the declared disk_format, the virtual size comes from its header, and
unsafe images (a qcow2 with a backing file or a data file, a vmdk whose extents are
elsewhere, a broken partition table) are refused with 400, the image back to queued and
nothing kept; on the v2 face, Glance v1, web-download and glance-direct imports. Imports
converted with qemu-img (Glance's image_conversion)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error, create
from tests.disk_images import DiskImages, iso, mbr_disk, qcow2_header
from tests.http_origin import Origin, serving

MiB = 1024 * 1024
OCTETS = {"content-type": "application/octet-stream"}


@pytest.fixture
def images(tmp_path: Path) -> DiskImages:
    return DiskImages(tmp_path / "images")


def store_files(data_dir: Path) -> list[Path]:
    return [path for path in (data_dir / "stores").rglob("*") if path.is_file()]


def put(client: TestClient, image_id: str, data: bytes) -> Any:
    return client.put(f"/v2/images/{image_id}/file", content=data, headers=OCTETS)


def message(response: Any) -> str:
    """The message of an error body, whatever the face names its one key."""
    (detail,) = response.json().values()
    return str(detail["message"])


def shown(client: TestClient, image_id: str) -> dict[str, Any]:
    image: dict[str, Any] = client.get(f"/v2/images/{image_id}").json()
    return image


GOOD: list[tuple[str, Callable[[DiskImages], bytes], str, int]] = [
    ("raw", lambda made: bytes(MiB), "raw", MiB),
    ("ami", lambda made: bytes(MiB), "ami", MiB),
    ("partitioned raw", lambda made: mbr_disk(MiB), "raw", MiB),
    ("qcow2", lambda made: made.qcow2("64M"), "qcow2", 64 * MiB),
    ("sparse vmdk", lambda made: made.vmdk(), "vmdk", 32 * MiB),
    ("stream-optimized vmdk", lambda made: made.vmdk("streamOptimized"), "vmdk", 32 * MiB),
    ("vhd", lambda made: made.vhd(), "vhd", 16 * MiB + 4096),  # vpc rounds to its geometry
    ("vhdx", lambda made: made.vhdx(), "vhdx", 16 * MiB),
    ("iso", lambda made: iso(24), "iso", 24 * 2048),
    ("bootable iso", lambda made: iso(24, mbr=True), "iso", 24 * 2048),
    ("gpt", lambda made: mbr_disk(MiB), "gpt", MiB),
]


@pytest.mark.parametrize(("what", "make", "disk_format", "virtual_size"), GOOD,
                         ids=[case[0] for case in GOOD])  # fmt: skip
def test_images_of_their_declared_format_become_active_with_their_virtual_size(
    client: TestClient,
    images: DiskImages,
    what: str,
    make: Callable[[DiskImages], bytes],
    disk_format: str,
    virtual_size: int,
) -> None:
    data = make(images)
    image = create(client, disk_format=disk_format)
    assert image["virtual_size"] is None
    assert put(client, image["id"], data).status_code == 204
    done = shown(client, image["id"])
    assert (done["status"], done["size"], done["virtual_size"]) == (
        "active", len(data), virtual_size,
    )  # fmt: skip
    assert client.get(f"/v2/images/{image['id']}/file").content == data


REFUSED: list[tuple[str, Callable[[DiskImages], bytes], str, str]] = [
    ("backing file", lambda made: made.qcow2_with_backing_file(), "qcow2",
     "backing_file: Image has a backing file"),
    ("data file", lambda made: made.qcow2_with_data_file(), "qcow2",
     "data_file: Image has data_file set"),
    ("extent elsewhere", lambda made: made.vmdk_with_extent_elsewhere(), "vmdk",
     "Invalid extent filenames found"),
    ("vmdk descriptor only", lambda made: made.vmdk("monolithicFlat")[:4096], "vmdk",
     "Unsupported subformat"),
    ("qcow2 as raw", lambda made: made.qcow2(), "raw", "the data is qcow2, not raw"),
    ("vhdx as vmdk", lambda made: made.vhdx(), "vmdk", "the data is not vmdk"),
    ("raw as qcow2", lambda made: bytes(MiB), "qcow2", "the data is not qcow2"),
    ("iso as raw", lambda made: iso(24), "raw", "the data is iso, not raw"),
    ("two formats", lambda made: iso(24, mbr=True), "raw", "several formats at once (gpt, iso)"),
    ("broken partition table", lambda made: mbr_disk(MiB, boot_flag=0x12), "raw",
     "mbr: MBR PTE 0 has invalid boot flag"),
]  # fmt: skip


@pytest.mark.parametrize(("what", "make", "disk_format", "complaint"), REFUSED,
                         ids=[case[0] for case in REFUSED])  # fmt: skip
def test_unsafe_or_mismatched_images_are_refused_and_leave_nothing(
    client: TestClient,
    settings: Settings,
    images: DiskImages,
    what: str,
    make: Callable[[DiskImages], bytes],
    disk_format: str,
    complaint: str,
) -> None:
    image = create(client, disk_format=disk_format)
    refused = put(client, image["id"], make(images))
    assert_error(refused, 400)
    assert complaint in message(refused)
    back = shown(client, image["id"])
    assert (back["status"], back["size"], back["virtual_size"]) == ("queued", None, None)
    assert store_files(settings.data_dir) == []
    # The same image takes data that is what it declares.
    good = {"qcow2": images.qcow2(), "vmdk": images.vmdk()}.get(disk_format, bytes(MiB))
    assert put(client, image["id"], good).status_code == 204
    assert shown(client, image["id"])["status"] == "active"


def test_with_the_format_check_off_a_mismatch_passes_but_unsafe_images_do_not(
    tmp_path: Path, database_url: str, images: DiskImages
) -> None:
    relaxed = {"require_image_format_match": False, "gpt_safety_checks_nonfatal": True}
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                        image_format=relaxed)  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        mismatched = create(client, disk_format="raw")
        assert put(client, mismatched["id"], images.qcow2("64M")).status_code == 204
        assert shown(client, mismatched["id"])["virtual_size"] == 64 * MiB  # the qcow2's
        broken_table = create(client, disk_format="raw")
        assert put(client, broken_table["id"], mbr_disk(MiB, boot_flag=0x12)).status_code == 204
        unsafe = create(client, disk_format="raw")
        refused = put(client, unsafe["id"], images.qcow2_with_backing_file())
        assert_error(refused, 400)
        assert "backing_file" in message(refused)
        assert shown(client, unsafe["id"])["status"] == "queued"


def test_data_in_a_container_and_packages_are_not_inspected(
    client: TestClient, images: DiskImages
) -> None:
    """An ova or a compressed image wraps its disk: Glance inspects bare images only; an
    artifact without a disk_format (a package) is not a disk."""
    image = create(client, disk_format="qcow2", container_format="ova")
    assert put(client, image["id"], images.qcow2_with_backing_file()).status_code == 204
    assert shown(client, image["id"])["virtual_size"] is None
    # Glance v2 takes no data without formats; a package face does.
    formless = create(client, disk_format=None, container_format=None)
    assert put(client, formless["id"], images.qcow2_with_backing_file()).status_code == 400
    package = client.put("/packages/disk-1.0.0.tar.gz", content=images.qcow2_with_backing_file())
    assert package.status_code == 200, package.text
    (artifact,) = client.get("/v2/images?name=disk").json()["images"]
    assert artifact["disk_format"] is None and artifact["virtual_size"] is None


def test_glance_v1_kills_an_unsafe_image(client: TestClient, images: DiskImages) -> None:
    headers = {"x-image-meta-name": "v1", "x-image-meta-disk_format": "qcow2",
               "x-image-meta-container_format": "bare", **OCTETS}  # fmt: skip
    refused = client.post("/v1/images", headers=headers, content=images.qcow2_with_data_file())
    assert refused.status_code == 400 and "data_file" in refused.text
    good = client.post("/v1/images", headers=headers, content=images.qcow2("64M"))
    assert good.status_code == 201, good.text
    assert shown(client, good.json()["image"]["id"])["virtual_size"] == 64 * MiB


@pytest.fixture
def origin(images: DiskImages) -> Iterator[Origin]:
    with serving(images.qcow2_with_backing_file()) as server:
        yield server


@pytest.fixture
def importing(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[TestClient]:
    fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, fetch=fetch,
                        task_poll_interval=0.05)  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield client


def settle(client: TestClient, image_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The image once its import task has finished, and that task."""
    for _ in range(600):
        tasks = client.get(f"/v2/images/{image_id}/tasks").json()["tasks"]
        if tasks and tasks[0]["status"] in ("success", "failure"):
            return shown(client, image_id), tasks[0]
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_web_download_of_an_unsafe_image_fails_and_leaves_nothing(
    importing: TestClient, origin: Origin, tmp_path: Path, images: DiskImages
) -> None:
    image = create(importing, disk_format="qcow2")
    method = {"method": {"name": "web-download", "uri": origin.url()}}
    assert importing.post(f"/v2/images/{image['id']}/import", json=method).status_code == 202
    back, task = settle(importing, image["id"])
    assert task["status"] == "failure" and "backing_file" in task["message"]
    assert (back["status"], back["virtual_size"]) == ("queued", None)
    assert store_files(tmp_path / "data") == []
    # The same image, fetched from a safe qcow2, becomes active with its virtual size.
    origin.data = images.qcow2("64M")
    assert importing.post(f"/v2/images/{image['id']}/import", json=method).status_code == 202
    done, task = settle(importing, image["id"])
    assert task["status"] == "success", task["message"]
    assert (done["status"], done["virtual_size"]) == ("active", 64 * MiB)


def test_glance_direct_refuses_an_unsafe_stage(
    importing: TestClient, tmp_path: Path, images: DiskImages
) -> None:
    image = create(importing, disk_format="vmdk")
    path = f"/v2/images/{image['id']}"
    staged = importing.put(f"{path}/stage", content=images.vmdk_with_extent_elsewhere(),
                           headers=OCTETS)  # fmt: skip
    assert_error(staged, 400)
    assert "extent" in message(staged)
    assert shown(importing, image["id"])["status"] == "queued"
    assert store_files(tmp_path / "data") == []
    assert importing.put(f"{path}/stage", content=images.vmdk(), headers=OCTETS).status_code == 204
    accepted = importing.post(f"{path}/import", json={"method": {"name": "glance-direct"}})
    assert accepted.status_code == 202, accepted.text
    done, task = settle(importing, image["id"])
    assert task["status"] == "success", task["message"]
    assert (done["status"], done["virtual_size"]) == ("active", 32 * MiB)


@pytest.fixture
def converting(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[TestClient]:
    """lading converting imports to raw (Glance's image_conversion), the origin allowed."""
    fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, fetch=fetch,
        task_poll_interval=0.05, image_conversion={"output_format": "raw"},
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield client


def test_imports_are_converted_to_the_output_format(
    converting: TestClient, origin: Origin, tmp_path: Path, images: DiskImages
) -> None:
    staged = create(converting, disk_format="qcow2")
    path = f"/v2/images/{staged['id']}"
    qcow2 = images.qcow2("8M")
    assert converting.put(f"{path}/stage", content=qcow2, headers=OCTETS).status_code == 204
    assert (
        converting.post(f"{path}/import", json={"method": {"name": "glance-direct"}}).status_code
        == 202
    )
    done, task = settle(converting, staged["id"])
    assert task["status"] == "success", task["message"]
    assert (done["status"], done["disk_format"], done["size"], done["virtual_size"]) == (
        "active", "raw", 8 * MiB, 8 * MiB,
    )  # fmt: skip
    data = converting.get(f"{path}/file").content
    assert data == bytes(8 * MiB)  # an empty qcow2 holds zeros
    assert done["os_hash_value"] == hashlib.sha256(data).hexdigest()
    assert done["checksum"] == hashlib.md5(data).hexdigest()
    assert len(store_files(tmp_path / "data")) == 1  # the qcow2 went
    assert list((tmp_path / "data" / "conversions").iterdir()) == []
    # web-download: a vmdk fetched, then converted; a raw image is left as it is.
    for disk_format, data, size in (("vmdk", images.vmdk(), 32 * MiB), ("raw", bytes(MiB), MiB)):
        origin.data = data
        fetched = create(converting, disk_format=disk_format)
        method = {"method": {"name": "web-download", "uri": origin.url()}}
        started = converting.post(f"/v2/images/{fetched['id']}/import", json=method)
        assert started.status_code == 202, started.text
        done, task = settle(converting, fetched["id"])
        assert task["status"] == "success", task["message"]
        assert (done["disk_format"], done["size"], done["virtual_size"]) == ("raw", size, size)


def test_a_conversion_that_fails_fails_the_import_and_leaves_nothing(
    converting: TestClient, tmp_path: Path
) -> None:
    """A qcow2 header without the rest passes inspection; qemu-img cannot convert it."""
    image = create(converting, disk_format="qcow2")
    path = f"/v2/images/{image['id']}"
    staged = converting.put(f"{path}/stage", content=qcow2_header(), headers=OCTETS)
    assert staged.status_code == 204, staged.text
    assert (
        converting.post(f"{path}/import", json={"method": {"name": "glance-direct"}}).status_code
        == 202
    )
    back, task = settle(converting, image["id"])
    assert task["status"] == "failure" and "qemu-img could not convert" in task["message"]
    assert (back["status"], back["disk_format"]) == ("queued", "qcow2")
    assert store_files(tmp_path / "data") == []
    assert list((tmp_path / "data" / "conversions").iterdir()) == []


def test_a_conversion_past_the_size_cap_is_refused_before_it_is_made(
    tmp_path: Path, database_url: str, images: DiskImages
) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                        task_poll_interval=0.05, image_size_cap=16 * MiB,
                        image_conversion={"output_format": "raw"})  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        image = create(client, disk_format="qcow2")
        path = f"/v2/images/{image['id']}"
        staged = client.put(f"{path}/stage", content=images.qcow2("1T"), headers=OCTETS)
        assert staged.status_code == 204, staged.text
        started = client.post(f"{path}/import", json={"method": {"name": "glance-direct"}})
        assert started.status_code == 202, started.text
        back, task = settle(client, image["id"])
        assert task["status"] == "failure" and "more than the limit" in task["message"]
        assert back["status"] == "queued"
        assert not (tmp_path / "data" / "conversions").exists()  # not even begun
