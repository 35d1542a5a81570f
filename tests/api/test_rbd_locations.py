"""Locations that Nova's direct snapshot and Cinder's upload add on an RBD-backed cloud: an
RBD image and protected snapshot they make themselves in Glance's pool, given to a queued
image as ``rbd://<fsid>/<pool>/<image>/<snapshot>`` (v2.17's POST with a service token, or
the legacy PATCH), then read, hashed, served and, with the image, deleted by the rbd store."""

from __future__ import annotations

import hashlib
import importlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error
from tests.api.test_keystone import TEST_PASSWORD, keystone_settings, project_scope, sign_in
from tests.ceph_server import CephPool
from tests.portal import call

MiB = 1024 * 1024
DATA = os.urandom(2 * MiB + 4321)
PATCH = {"content-type": "application/openstack-images-v2.1-json-patch"}
IMAGE = {"name": "snapshot", "disk_format": "raw", "container_format": "bare"}


class Cloud:
    """lading over an rbd store, with a member's token and a service's (the admin role,
    as lading's own tokens have no service role; Keystone's test below has one)."""

    def __init__(self, client: TestClient, ceph_pool: CephPool, base: str) -> None:
        self.client, self.ceph_pool, self.base = client, ceph_pool, base
        make = client.app.state.services.identities.create  # type: ignore[attr-defined]
        self.member = {"x-auth-token": call(client, make, "p", "member").token}
        self.service = {"x-auth-token": call(client, make, "nova", "admin").token}

    def queued(self) -> str:
        created = self.client.post("/v2/images", json=IMAGE, headers=self.member)
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    def snapshot(self, image_id: str, data: bytes = DATA, snapshot: str = "snap") -> str:
        """Nova's direct snapshot: an image named after the Glance image, in Glance's pool."""
        return self.ceph_pool.snapshot(f"{self.base}-{image_id}", data, snapshot)

    def show(self, image_id: str) -> dict[str, Any]:
        return dict(self.client.get(f"/v2/images/{image_id}", headers=self.member).json())

    def post(self, image_id: str, url: str, **validation: str) -> Any:
        body: dict[str, Any] = {
            "url": url,
            **({"validation_data": validation} if validation else {}),
        }
        path = f"/v2/images/{image_id}/locations"
        return self.client.post(path, json=body, headers=self.service)

    def patch(
        self, image_id: str, operations: list[dict[str, Any]], as_member: bool = False
    ) -> Any:
        """A PATCH as the service (Cinder sends its own token's role), or as the member."""
        headers = {**(self.member if as_member else self.service), **PATCH}
        return self.client.patch(f"/v2/images/{image_id}", json=operations, headers=headers)

    def add(self, image_id: str, url: str) -> Any:
        value = {"url": url, "metadata": {"from": "nova"}}
        return self.patch(image_id, [{"op": "add", "path": "/locations/-", "value": value}])

    def settled(self, image_id: str, count: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
        """The image once its ``count`` tasks have ended, and the newest."""
        path = f"/v2/images/{image_id}/tasks"
        for _ in range(400):
            found = self.client.get(path, headers=self.service).json()["tasks"]
            if len(found) >= count and all(t["status"] in ("success", "failure") for t in found):
                newest = max(found, key=lambda t: (t["created_at"], t["status"] == "success"))
                return self.show(image_id), newest
            time.sleep(0.05)
        raise AssertionError("the location's task did not end")

    def download(self, image_id: str, **headers: str) -> Any:
        path = f"/v2/images/{image_id}/file"
        return self.client.get(path, headers={**self.member, **headers})


@pytest.fixture
def rbd() -> Any:
    return importlib.import_module("rbd")


@pytest.fixture
def cloud(ceph_pool: CephPool, tmp_path: Path, database_url: str) -> Iterator[Cloud]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url,
        stores={"ceph": ceph_pool.settings(tmp_path.name)}, default_store="ceph",
        show_multiple_locations=True, task_poll_interval=0.05,
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield Cloud(client, ceph_pool, f"{ceph_pool.prefix}{tmp_path.name}")


def test_nova_direct_snapshot_through_v2_17_is_hashed_served_and_owned(
    cloud: Cloud, ceph_pool: CephPool, rbd: Any
) -> None:
    versions = cloud.client.get("/versions").json()["versions"]
    assert versions[0]["id"] == "v2.17"  # offered: an rbd store reads what is added
    image_id = cloud.queued()
    url = cloud.snapshot(image_id)
    sha512 = hashlib.sha512(DATA).hexdigest()
    added = cloud.post(image_id, url, os_hash_algo="sha512", os_hash_value=sha512)
    assert added.status_code == 202, added.text
    shown, task = cloud.settled(image_id)
    assert (task["type"], task["status"]) == ("location_import", "success"), task["message"]
    assert task["input"]["url"] == url  # the URL, as Glance records it
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert shown["checksum"] == hashlib.md5(DATA).hexdigest()  # read from the snapshot
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == ("sha512", sha512)
    assert shown["locations"] == [{"url": url, "metadata": {}}]
    listed = cloud.client.get(f"/v2/images/{image_id}/locations", headers=cloud.service)
    assert listed.json() == [{"url": url, "metadata": {}}]

    assert cloud.download(image_id).content == DATA
    for wanted, part in [
        ("bytes=-10", DATA[-10:]),
        ("bytes=1048570-1048580", DATA[MiB - 6 :][:11]),
    ]:
        ranged = cloud.download(image_id, range=wanted)
        assert ranged.status_code == 206 and ranged.content == part

    # An instance booted from it keeps it (409); once gone, the image service deletes the
    # snapshot and its RBD image, as Glance's driver does: Nova handed it over.
    name = f"{cloud.base}-{image_id}"
    clone = f"{cloud.base}-instance"
    with ceph_pool.ioctx() as ioctx:
        rbd.RBD().clone(ioctx, name, "snap", ioctx, clone, features=rbd.RBD_FEATURE_LAYERING)
    assert_error(cloud.client.delete(f"/v2/images/{image_id}", headers=cloud.member), 409)
    assert cloud.download(image_id).content == DATA
    with ceph_pool.ioctx() as ioctx:
        rbd.RBD().remove(ioctx, clone)
    assert cloud.client.delete(f"/v2/images/{image_id}", headers=cloud.member).status_code == 204
    assert name not in ceph_pool.images()


def test_a_snapshot_whose_data_does_not_match_leaves_the_image_queued(
    cloud: Cloud, ceph_pool: CephPool
) -> None:
    image_id = cloud.queued()
    url = cloud.snapshot(image_id)
    added = cloud.post(image_id, url, os_hash_algo="sha256", os_hash_value="ab" * 32)
    assert added.status_code == 202, added.text
    shown, task = cloud.settled(image_id)
    assert task["status"] == "failure" and "does not match" in task["message"]
    assert shown["status"] == "queued"
    # Nova tries again with the same snapshot: the location the failure left is replaced
    # by itself, and its snapshot, still referred to, is not deleted on the way.
    sha256 = hashlib.sha256(DATA).hexdigest()
    assert cloud.post(image_id, url, os_hash_algo="sha256", os_hash_value=sha256).status_code == 202
    shown, task = cloud.settled(image_id, 2)
    assert (task["status"], shown["status"]) == ("success", "active"), task["message"]
    assert f"{cloud.base}-{image_id}" in ceph_pool.images()
    assert cloud.download(image_id).content == DATA


def test_cinder_upload_through_the_legacy_patch_add_and_replace(
    cloud: Cloud, ceph_pool: CephPool
) -> None:
    first, second = cloud.queued(), cloud.queued()
    url = cloud.snapshot(first, snapshot="upload")  # Cinder's own snapshot name
    added = cloud.add(first, url)
    assert added.status_code == 200, added.text
    shown = cloud.show(first)
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert shown["locations"] == [{"url": url, "metadata": {"from": "nova"}}]
    assert cloud.download(first).content == DATA
    assert_error(cloud.add(first, url), 400)  # already there

    small = os.urandom(70_000)
    other = cloud.snapshot(second, small)
    value = [{"url": other, "metadata": {}}]
    replaced = cloud.patch(second, [{"op": "replace", "path": "/locations", "value": value}])
    assert replaced.status_code == 200, replaced.text
    assert cloud.show(second)["size"] == len(small)
    part = cloud.download(second, range="bytes=100-199")
    assert part.status_code == 206 and part.content == small[100:200]
    for image_id in (first, second):
        assert (
            cloud.client.delete(f"/v2/images/{image_id}", headers=cloud.member).status_code == 204
        )
    assert not {f"{cloud.base}-{first}", f"{cloud.base}-{second}"} & set(ceph_pool.images())


def test_a_member_may_not_claim_a_snapshot_in_the_pool(cloud: Cloud, ceph_pool: CephPool) -> None:
    """A snapshot in the pool may be another project's or the operator's, and would go
    with the member's image: naming one takes claim_store_object (services, admins)."""
    image_id = cloud.queued()
    url = cloud.snapshot(image_id)
    value = {"url": url, "metadata": {}}
    operation = [{"op": "add", "path": "/locations/-", "value": value}]
    assert_error(cloud.patch(image_id, operation, as_member=True), 403)
    path = f"/v2/images/{image_id}/locations"
    assert_error(cloud.client.post(path, json={"url": url}, headers=cloud.member), 403)
    assert cloud.show(image_id)["status"] == "queued"
    assert cloud.client.delete(f"/v2/images/{image_id}", headers=cloud.member).status_code == 204
    assert f"{cloud.base}-{image_id}" in ceph_pool.images()  # the snapshot's owner keeps it


def test_locations_of_another_cluster_pool_or_snapshot_are_refused(
    cloud: Cloud, ceph_pool: CephPool
) -> None:
    image_id = cloud.queued()
    url = cloud.snapshot(image_id)
    fsid, pool, name = ceph_pool.fsid(), ceph_pool.pool, f"{cloud.base}-{image_id}"
    for refused, words in [
        (f"rbd://{uuid.uuid4()}/{pool}/{name}/snap", "not in the cluster and pool"),
        (f"rbd://{fsid}/volumes/{name}/snap", "not in the cluster and pool"),
        (f"rbd://{fsid}/{pool}/{name}/nosuch", "no RBD image snapshot"),
        (f"rbd://{fsid}/{pool}/{cloud.base}-nosuch/snap", "no RBD image snapshot"),
        (f"rbd://{name}", "rbd://<fsid>/<pool>/<image>/<snapshot>"),
    ]:
        for response in (cloud.post(image_id, refused), cloud.add(image_id, refused)):
            assert_error(response, 400)
            assert words in response.text, response.text
    tasks = cloud.client.get(f"/v2/images/{image_id}/tasks", headers=cloud.service).json()
    assert tasks["tasks"] == [] and cloud.show(image_id)["status"] == "queued"
    assert name in ceph_pool.images()  # nothing touched
    assert cloud.post(image_id, url).status_code == 202  # the right one still goes


@pytest.mark.parametrize(
    "image",
    [
        "..", "../volumes", "a%2F..%2Fb", "a%2Fb", "a@b", "x~part~0123456789abcdef", ".hidden",
        "%C3%A9", "a%00b", "a%20b", "a" * 129,
    ],
)  # fmt: skip
def test_hostile_names_are_refused(cloud: Cloud, ceph_pool: CephPool, image: str) -> None:
    image_id = cloud.queued()
    url = f"rbd://{ceph_pool.fsid()}/{ceph_pool.pool}/{image}/snap"
    assert_error(cloud.post(image_id, url), 400)
    assert_error(cloud.add(image_id, url), 400)
    assert_error(cloud.add(image_id, f"rbd://{ceph_pool.fsid()}/{ceph_pool.pool}/x/{image}"), 400)
    assert cloud.show(image_id)["status"] == "queued"


def test_nova_with_a_keystone_service_token(
    ceph_pool: CephPool, tmp_path: Path, keystone_url: str
) -> None:
    """As Nova sends it: the user's token and its own X-Service-Token (the service role)."""
    settings = keystone_settings(tmp_path, keystone_url)
    stores = {"ceph": ceph_pool.settings(tmp_path.name)}
    settings = Settings(**{**settings.model_dump(), "stores": stores, "default_store": "ceph",
                           "task_poll_interval": 0.05})  # fmt: skip
    member = sign_in(keystone_url, "alpha-member", TEST_PASSWORD, project_scope("alpha"))
    service = sign_in(keystone_url, "lading", "lading", project_scope("service"))
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        user = {"x-auth-token": member.value}
        image_id = client.post("/v2/images", json=IMAGE, headers=user).json()["id"]
        url = ceph_pool.snapshot(f"{ceph_pool.prefix}{tmp_path.name}-{image_id}", DATA)
        path = f"/v2/images/{image_id}/locations"
        nova = {**user, "x-service-token": service.value}
        added = client.post(path, json={"url": url}, headers=nova)
        assert added.status_code == 202, added.text
        assert client.get(path, headers=nova).json() == [{"url": url, "metadata": {}}]
        assert client.get(f"/v2/images/{image_id}/file", headers=user).content == DATA
        assert client.delete(f"/v2/images/{image_id}", headers=user).status_code == 204
