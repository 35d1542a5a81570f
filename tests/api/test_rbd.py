"""The faces over an rbd store: Glance's rbd:// locations, and an image whose snapshot has
a copy-on-write clone (an instance booted from it, a volume) refused deletion with 409."""

from __future__ import annotations

import hashlib
import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import FilesystemStoreSettings, Settings
from lading.stores.rbd import SNAPSHOT
from tests.api.helpers import assert_error, create, upload
from tests.ceph_server import CephPool
from tests.portal import call

MiB = 1024 * 1024
OCTETS = {"content-type": "application/octet-stream"}
DATA = os.urandom(3 * MiB + 12345)  # three 1 MiB objects and part of a fourth


@pytest.fixture
def client(ceph_pool: CephPool, tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url,
        stores={"default": ceph_pool.settings(tmp_path.name)},
        show_image_direct_url=True, show_multiple_locations=True,
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


@pytest.fixture
def rbd() -> Any:
    return importlib.import_module("rbd")


def token(client: TestClient, project: str, role: str) -> dict[str, str]:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    return {"x-auth-token": call(client, identities.create, project, role).token}


def image_of(ceph_pool: CephPool, url: str) -> str:
    """The RBD image of a location, checked to be in the pool under Glance's layout."""
    fsid, pool, name, snapshot = url.removeprefix("rbd://").split("/")
    assert (fsid, pool, snapshot) == (ceph_pool.fsid(), ceph_pool.pool, SNAPSHOT)
    return name


def test_upload_download_and_locations(client: TestClient, ceph_pool: CephPool) -> None:
    image = create(client, name="cirros")
    upload(client, image["id"], DATA)
    shown = client.get(f"/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == len(DATA)
    assert shown["os_hash_value"] == hashlib.sha256(DATA).hexdigest()
    # Glance's rbd location, where Nova and Cinder clone from, in both places it shows
    assert shown["direct_url"].startswith("rbd://")
    assert [location["url"] for location in shown["locations"]] == [shown["direct_url"]]
    assert image_of(ceph_pool, shown["direct_url"]) in ceph_pool.images()
    assert client.get(f"/v2/images/{image['id']}/file").content == DATA
    for header, part in [
        ("bytes=-10", DATA[-10:]),
        ("bytes=1048570-1048580", DATA[1048570:1048581]),
    ]:
        ranged = client.get(f"/v2/images/{image['id']}/file", headers={"range": header})
        assert ranged.status_code == 206 and ranged.content == part
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert image_of(ceph_pool, shown["direct_url"]) not in ceph_pool.images()


def test_an_image_with_a_clone_is_not_deleted(
    client: TestClient, ceph_pool: CephPool, tmp_path: Path, rbd: Any
) -> None:
    image = create(client, name="booted")
    upload(client, image["id"], DATA)
    name = image_of(ceph_pool, client.get(f"/v2/images/{image['id']}").json()["direct_url"])
    clone = f"{ceph_pool.prefix}{tmp_path.name}-instance-disk"
    with ceph_pool.ioctx() as ioctx:  # what Nova does to boot from the image
        rbd.RBD().clone(ioctx, name, SNAPSHOT, ioctx, clone, features=rbd.RBD_FEATURE_LAYERING)

    refused = client.delete(f"/v2/images/{image['id']}")
    assert_error(refused, 409)
    assert "in use" in refused.text
    assert_error(client.delete(f"/v1/images/{image['id']}"), 409)  # v1 too, as Glance's
    kept = client.get(f"/v2/images/{image['id']}").json()
    assert kept["status"] == "active"
    assert client.get(f"/v2/images/{image['id']}/file").content == DATA
    with ceph_pool.ioctx() as ioctx, rbd.Image(ioctx, name, read_only=True) as snapshotted:
        assert snapshotted.is_protected_snap(SNAPSHOT)

    with ceph_pool.ioctx() as ioctx:  # the instance is gone
        rbd.RBD().remove(ioctx, clone)
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").status_code == 404
    assert name not in ceph_pool.images()


def test_shared_bytes_with_a_clone_are_kept_for_the_last_image(
    client: TestClient, ceph_pool: CephPool, tmp_path: Path, rbd: Any
) -> None:
    # Two images of the same bytes share one RBD image (deduplication): deleting one
    # frees nothing, so it goes ahead; the last one is refused while the clone lives.
    first, second = create(client, name="first"), create(client, name="second")
    upload(client, first["id"], DATA)
    upload(client, second["id"], DATA)
    url = client.get(f"/v2/images/{first['id']}").json()["direct_url"]
    assert client.get(f"/v2/images/{second['id']}").json()["direct_url"] == url
    clone = f"{ceph_pool.prefix}{tmp_path.name}-volume"
    with ceph_pool.ioctx() as ioctx:  # what Cinder does to make a volume of it
        name = image_of(ceph_pool, url)
        rbd.RBD().clone(ioctx, name, SNAPSHOT, ioctx, clone, features=rbd.RBD_FEATURE_LAYERING)
    assert client.delete(f"/v2/images/{first['id']}").status_code == 204
    assert_error(client.delete(f"/v2/images/{second['id']}"), 409)
    assert client.get(f"/v2/images/{second['id']}/file").content == DATA
    with ceph_pool.ioctx() as ioctx:
        rbd.RBD().remove(ioctx, clone)
    assert client.delete(f"/v2/images/{second['id']}").status_code == 204
    assert name not in ceph_pool.images()


def test_a_ceph_store_beside_another(ceph_pool: CephPool, tmp_path: Path) -> None:
    # Glance's multi-store: the upload chooses the rbd store; administrators see its pool
    # and object size, never where its key lies
    stores = {"fast": FilesystemStoreSettings(), "ceph": ceph_pool.settings(tmp_path.name)}
    settings = Settings(data_dir=tmp_path / "data", stores=stores, default_store="fast",
                        show_image_direct_url=True)  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        admin = token(client, "ops", "admin")
        detail = client.get("/v2/info/stores/detail", headers=admin).json()["stores"]
        assert detail[1] == {
            "id": "ceph", "type": "rbd", "description": "", "default": False,
            "read-only": False, "weight": 0, "properties": {"pool": "images", "chunk_size": MiB},
        }  # fmt: skip
        image = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"},
                            headers=admin).json()  # fmt: skip
        sent = client.put(f"/v2/images/{image['id']}/file", content=DATA,
                          headers={**admin, **OCTETS, "x-image-meta-store": "ceph"})  # fmt: skip
        assert sent.status_code == 204, sent.text
        shown = client.get(f"/v2/images/{image['id']}", headers=admin).json()
        assert shown["stores"] == "ceph"
        assert image_of(ceph_pool, shown["direct_url"]) in ceph_pool.images()
        assert client.delete(f"/v2/images/{image['id']}", headers=admin).status_code == 204
