"""A container disk pushed to the registry, registered as an image
(``lading.services.disk_imports``), in-process on SQLite and PostgreSQL: plain and gzip
layers, the format found, and hostile layers refused with nothing left active."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_registry_app
from lading.domain import Artifact
from lading.errors import LadingError
from lading.services.access import Caller
from lading.services.oci import Access
from lading.settings import OciSettings, Settings
from tests.api.test_oci import CONFIG_TYPE, Registry, image_manifest, sha256
from tests.disk_images import DiskImages, qcow2_header
from tests.world import World

IDENTITIES = {"owner": ("A", "member"), "other": ("B", "member"), "admin": ("ops", "admin")}
TAR = "application/vnd.oci.image.layer.v1.tar"
TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MiB = 1024 * 1024


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    return IDENTITIES


@pytest.fixture
def world_settings(settings: Settings) -> Settings:
    # Bombs show at a few MiB rather than the default 64 MiB allowance; a registry port
    # offers the container-disk import method (nothing listens on it in-process).
    return settings.model_copy(
        update={
            "package_inflate_allowance": 2 * MiB,
            "image_size_cap": 64 * MiB,
            "oci": OciSettings(port=5999),
            "task_poll_interval": 0.05,
        }
    )


@pytest.fixture
def registry(world: World) -> Iterator[Registry]:
    with TestClient(create_registry_app(world.settings), base_url="http://registry.test") as c:
        yield Registry(c, world.tokens)


def tar_of(*members: tuple[str, bytes | str | None]) -> bytes:
    """A tar: (name, bytes) a file, (name, None) a directory, (name, "->target") a link."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 107
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, str):
                info.type = tarfile.SYMTYPE
                info.linkname = content.removeprefix("->")
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def push_disk(registry: Registry, name: str, layer: bytes, media: str = TAR) -> str:
    config = b'{"architecture":"amd64","os":"linux"}'
    manifest = image_manifest(
        (CONFIG_TYPE, registry.push_blob(name, config), len(config)),
        [(media, registry.push_blob(name, layer), len(layer))],
    )
    answer = registry.put_manifest(name, "v1", manifest)
    assert answer.status_code == 201, answer.text
    return sha256(manifest)


def register(world: World, name: str, reference: str = "v1", project: str = "A") -> Artifact:
    access = Access(Caller.with_role(project, "member"))
    return world.call(world.services.disk_imports.register, access, name, reference, None)


def refused(world: World, name: str, status: int) -> str:
    before = world.get("owner", "/v2/images").json()["images"]
    with pytest.raises(LadingError) as caught:
        register(world, name)
    assert caught.value.status == status, caught.value.message
    after = world.get("owner", "/v2/images").json()["images"]
    assert after == before  # nothing made, nothing left queued or active
    return caught.value.message


def test_a_pushed_container_disk_becomes_an_image(world: World, registry: Registry) -> None:
    disk = qcow2_header() + os.urandom(2 * MiB + 17)
    digest = push_disk(registry, "team/disk", tar_of(("disk", None), ("disk/vm.qcow2", disk)))
    image = register(world, "team/disk")
    shown = world.get("owner", f"/v2/images/{image.id}").json()
    assert shown["status"] == "active" and shown["disk_format"] == "qcow2"
    assert shown["container_format"] == "bare" and shown["size"] == len(disk)
    assert shown["name"] == "team/disk:v1" and shown["owner"] == "A"
    assert shown["container_disk_source"] == f"team/disk@{digest}"
    assert world.get("owner", f"/v2/images/{image.id}/file").content == disk
    # And back out as a container disk, byte for byte.
    pulled = registry.request("GET", f"/v2/images/{image.id}/manifests/latest").json()
    layer = registry.request("GET", f"/v2/images/{image.id}/blobs/{pulled['layers'][0]['digest']}")
    with tarfile.open(fileobj=io.BytesIO(layer.content)) as tar:
        extracted = tar.extractfile("disk/disk.qcow2")
        assert extracted is not None and extracted.read() == disk


def test_a_gzip_layer_with_other_files_by_digest(world: World, registry: Registry) -> None:
    disk = os.urandom(MiB + 3)
    layer = gzip.compress(
        tar_of(
            ("./etc", None), ("./etc/os-release", b"x"), ("./disk/", None), ("./disk/a.img", disk)
        )
    )
    digest = push_disk(registry, "team/gz", layer, TAR_GZIP)
    image = register(world, "team/gz", digest)
    shown = world.get("owner", f"/v2/images/{image.id}").json()
    assert shown["disk_format"] == "raw" and shown["size"] == len(disk)
    assert shown["name"] == f"team/gz@{digest}"
    assert world.get("owner", f"/v2/images/{image.id}/file").content == disk


def test_another_project_registers_only_what_it_may_pull(world: World, registry: Registry) -> None:
    push_disk(registry, "team/private", tar_of(("disk/a.img", os.urandom(4096))))
    with pytest.raises(LadingError) as caught:
        register(world, "team/private", project="B")
    assert caught.value.status == 404


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ((("disk/a.img", b"a" * 1024), ("disk/b.img", b"b" * 1024)), "two disks"),
        ((("etc/passwd", b"root"),), "no disk"),
        ((("disk", None),), "no disk"),
        ((("disk/../../etc/cron.d/x", b"boom"),), "reaches out"),
        ((("../disk/a.img", b"boom"),), "reaches out"),
        ((("disk/a.img", "->/etc/shadow"),), "is a link"),
        ((("disk", "->/etc"), ("disk/a.img", b"x")), "not a directory"),
        ((("disk/a.img", b"a" * 1024), ("disk/../x", b"b")), "reaches out"),
        ((("disk/.wh.a.img", b""),), "whiteout"),
    ],
)
def test_hostile_layers_are_refused(
    world: World,
    registry: Registry,
    members: tuple[tuple[str, bytes | str | None], ...],
    says: str,
) -> None:
    push_disk(registry, "team/hostile", tar_of(*members))
    assert says in refused(world, "team/hostile", 400)


def test_a_tar_bomb_is_refused_by_its_size(world: World, registry: Registry) -> None:
    """A header claiming a disk larger than image_size_cap: refused before its data."""
    info = tarfile.TarInfo("disk/a.img")
    info.size = 1 << 40
    header = info.tobuf(tarfile.GNU_FORMAT)  # its size in base-256, as GNU tar writes it
    push_disk(registry, "team/tarbomb", header + bytes(512) + bytes(1024))
    assert "more than the limit" in refused(world, "team/tarbomb", 413)


def test_a_gzip_bomb_is_refused_as_it_inflates(world: World, registry: Registry) -> None:
    bomb = gzip.compress(tar_of(("disk/a.img", bytes(32 * MiB))), compresslevel=9)
    assert len(bomb) < MiB
    push_disk(registry, "team/gzbomb", bomb, TAR_GZIP)
    assert "package_inflate_ratio" in refused(world, "team/gzbomb", 413)


def test_an_unsafe_disk_is_refused_by_the_inspection(
    world: World, registry: Registry, tmp_path: Path
) -> None:
    backed = DiskImages(tmp_path / "images").qcow2_with_backing_file()
    push_disk(registry, "team/backed", tar_of(("disk/a.qcow2", backed)))
    assert "safety" in refused(world, "team/backed", 400)


def test_a_layer_that_is_no_tar(world: World, registry: Registry) -> None:
    push_disk(registry, "team/notar", os.urandom(4096))
    assert "no tar" in refused(world, "team/notar", 400)
    push_disk(registry, "team/cut", tar_of(("disk/a.img", os.urandom(8192)))[:4096])
    assert "cut short" in refused(world, "team/cut", 400)


def glance_import(world: World, reference: str, disk_format: str, who: str = "owner") -> Any:
    """A queued image, imported by Glance's import API with the container-disk method:
    the answer to the import request, and the image and its task once it ended."""
    body = {"name": "vm", "disk_format": disk_format, "container_format": "bare"}
    image_id = world.request("POST", "/v2/images", who, json=body).json()["id"]
    method = {"method": {"name": "container-disk", "reference": reference}}
    answer = world.request("POST", f"/v2/images/{image_id}/import", who, json=method)
    if answer.status_code != 202:
        return answer, None, None
    for _ in range(600):
        tasks = world.request("GET", f"/v2/images/{image_id}/tasks", who).json()["tasks"]
        if tasks and tasks[0]["status"] in ("success", "failure"):
            image = world.request("GET", f"/v2/images/{image_id}", who).json()
            return answer, image, tasks[0]
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_glances_import_takes_a_container_disk(world: World, registry: Registry) -> None:
    methods = world.get("owner", "/v2/info/import").json()["import-methods"]["value"]
    assert "container-disk" in methods
    disk = qcow2_header() + os.urandom(MiB + 9)
    push_disk(registry, "team/disk", gzip.compress(tar_of(("disk/vm.qcow2", disk))), TAR_GZIP)
    answer, image, task = glance_import(world, "team/disk:v1", "qcow2")
    assert answer.status_code == 202, answer.text
    assert task["status"] == "success", task["message"]
    assert image["status"] == "active" and image["size"] == len(disk)
    assert world.get("owner", f"/v2/images/{image['id']}/file").content == disk
    # Declared raw, the data is qcow2: the inspection refuses it; the image goes back.
    answer, image, task = glance_import(world, "team/disk:v1", "raw")
    assert task["status"] == "failure" and image["status"] == "queued"
    # Two disks: the task fails once it reads the second; nothing active.
    push_disk(registry, "team/two", tar_of(("disk/a.img", b"a" * 4096), ("disk/b.img", b"b")))
    answer, image, task = glance_import(world, "team/two:v1", "raw")
    assert task["status"] == "failure" and "two disks" in task["message"]
    assert image["status"] == "queued"


def test_glances_import_pulls_as_the_caller(world: World, registry: Registry) -> None:
    push_disk(registry, "team/private", tar_of(("disk/a.img", os.urandom(4096))))
    answer, _, _ = glance_import(world, "team/private:v1", "raw", who="other")
    assert answer.status_code == 404
    answer, _, _ = glance_import(world, "team/private:nope", "raw")
    assert answer.status_code == 404
    answer, _, _ = glance_import(world, "Not A Name:v1", "raw")
    assert answer.status_code == 400
