"""Every face that sends a filesystem store's file hands it off to nginx when the store
has ``accel_redirect``, in-process on SQLite and PostgreSQL: the answer carries the
headers and ``X-Accel-Redirect``, no body, no header nginx would send twice; what lading
must compose or decide itself (HEAD, 304, 416, a container disk's layer, properties no
nginx location can list) it still sends. tests/clients/test_accel_redirect.py runs a
real nginx in front."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from lading.app import create_app, create_registry_app
from lading.db import retention
from lading.settings import FilesystemStoreSettings, Settings
from tests.api.test_click import CLIENT as CLICK_CLIENT
from tests.api.test_click import DATA as CLICK_DATA
from tests.api.test_click import PUBLIC as CLICK_PUBLIC
from tests.api.test_click import SECRET as CLICK_SECRET
from tests.api.test_click import Click
from tests.api.test_oci import Registry, sha256
from tests.api.test_pypi import upload as pypi_upload
from tests.osm_packages import package as osm_package
from tests.python_dists import wheel
from tests.world import World

PREFIX = "/_lading_store/default/"
DATA = os.urandom(1024 * 1024 + 3)
MD5 = hashlib.md5(DATA).hexdigest()
CLOUD_INIT = "ping_vnfd/cloud_init/ping_init.cfg"  # a file inside the OSM test package
IDENTITIES = {"owner": ("A", "member"), "other": ("B", "member"), "admin": ("ops", "admin")}


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    return IDENTITIES


@pytest.fixture
def world_settings(settings: Settings) -> Settings:
    store = FilesystemStoreSettings(accel_redirect=PREFIX)
    return settings.model_copy(update={"stores": {"default": store}})


@pytest.fixture
def registry(world: World) -> Iterator[Registry]:
    with TestClient(create_registry_app(world.settings), base_url="http://registry.test") as c:
        yield Registry(c, world.tokens)


def new_image(world: World, data: bytes = DATA, **fields: object) -> str:
    body = {"disk_format": "raw", "container_format": "bare", "name": "disk", **fields}
    created = world.request("POST", "/v2/images", "owner", json=body)
    assert created.status_code == 201, created.text
    image_id: str = created.json()["id"]
    uploaded = world.request(
        "PUT", f"/v2/images/{image_id}/file", "owner", content=data,
        headers={"content-type": "application/octet-stream"},
    )  # fmt: skip
    assert uploaded.status_code == 204, uploaded.text
    return image_id


def handed_off(answer: httpx2.Response) -> str:
    """The object's key the answer hands off, after checking it is a hand-off."""
    assert answer.status_code == 200, answer.text
    assert answer.content == b"" and answer.headers["content-length"] == "0"
    assert "accept-ranges" not in answer.headers and "content-range" not in answer.headers
    uri = answer.headers["x-accel-redirect"]
    assert uri.startswith(PREFIX)
    return uri.removeprefix(PREFIX)


def test_v2_hands_the_file_off_with_its_headers_ranges_included(world: World) -> None:
    image_id = new_image(world)
    url = f"/v2/images/{image_id}/file"
    answer = world.request("GET", url, "owner")
    key = handed_off(answer)
    assert (world.settings.store_path("default") / key).read_bytes() == DATA
    assert answer.headers["content-md5"] == MD5 and answer.headers["etag"] == f'"{MD5}"'
    assert answer.headers["content-type"] == "application/octet-stream"
    assert "last-modified" in answer.headers
    # nginx serves the Range from the very answer lading gives to a whole download.
    ranged = world.request("GET", url, "owner", headers={"range": "bytes=5-9"})
    assert handed_off(ranged) == key
    several = world.request("GET", url, "owner", headers={"range": "bytes=0-1,5-9"})
    assert handed_off(several) == key
    # What lading decides itself is answered as ever.
    head = world.request("HEAD", url, "owner")
    assert "x-accel-redirect" not in head.headers
    assert head.headers["content-length"] == str(len(DATA))
    same = world.request("GET", url, "owner", headers={"if-none-match": f'"{MD5}"'})
    assert same.status_code == 304 and "x-accel-redirect" not in same.headers
    beyond = world.request("GET", url, "owner", headers={"range": f"bytes={len(DATA)}-"})
    assert beyond.status_code == 416 and "x-accel-redirect" not in beyond.headers
    assert world.request("GET", url, "other").status_code == 404
    assert "x-accel-redirect" not in world.request("GET", url, "anonymous").headers


def test_a_download_handed_off_is_recorded_for_retention(world: World) -> None:
    image_id = new_image(world)
    handed_off(world.request("GET", f"/v2/images/{image_id}/file", "owner"))
    assert world.call(world.services.downloads.flush) == 1
    database = world.services.tasks._database
    assert database.run(False, retention.last_downloaded, image_id) is not None


def test_glance_v1_and_visor_hand_off_unless_a_header_cannot_follow(world: World) -> None:
    plain = new_image(world)
    v1 = world.request("GET", f"/v1/images/{plain}", "owner")
    handed_off(v1)
    assert v1.headers["x-image-meta-checksum"] == MD5
    visor = world.request("GET", f"/images/{plain}", "owner")
    handed_off(visor)
    assert visor.headers["x-image-meta-checksum"] == MD5
    # A property is a header of any name: no nginx location adds it back.
    coloured = new_image(world, colour="green")
    sent = world.request("GET", f"/v1/images/{coloured}", "owner")
    assert "x-accel-redirect" not in sent.headers and sent.content == DATA
    assert sent.headers["x-image-meta-property-colour"] == "green"


def test_pnda_hands_off_with_its_disposition(world: World) -> None:
    stored = world.request("PUT", "/packages/tool-1.0.tar.gz", "owner", content=b"package")
    assert stored.status_code in (200, 201, 204), stored.text
    answer = world.request("GET", "/packages/tool-1.0.tar.gz", "owner")
    handed_off(answer)
    assert "tool-1.0.tar.gz" in answer.headers["content-disposition"]


def test_pypi_files_hand_off(world: World) -> None:
    dist = wheel("demo", "1.0")
    assert pypi_upload(world, dist).status_code == 200
    answer = world.client.get(f"/pypi/main/files/demo/{dist.filename}")
    key = handed_off(answer)
    assert (world.settings.store_path("default") / key).read_bytes() == dist.data
    assert answer.headers["etag"] == f'"{hashlib.sha256(dist.data).hexdigest()}"'


def test_registry_blobs_hand_off_and_container_disk_layers_stream(
    world: World, registry: Registry
) -> None:
    blob = os.urandom(5000)
    digest = registry.push_blob("team/app", blob)
    answer = registry.request("GET", f"/v2/team/app/blobs/{digest}")
    key = handed_off(answer)
    assert (world.settings.store_path("default") / key).read_bytes() == blob
    assert answer.headers["docker-content-digest"] == digest
    ranged = registry.request("GET", f"/v2/team/app/blobs/{digest}", headers={"range": "bytes=0-9"})
    assert handed_off(ranged) == key
    # A container disk's layer is composed as it is read: lading sends it.
    image_id = new_image(world)
    manifest: Any = registry.request("GET", f"/v2/images/{image_id}/manifests/latest").json()
    layer = manifest["layers"][0]["digest"]
    composed = registry.request("GET", f"/v2/images/{image_id}/blobs/{layer}")
    assert composed.status_code == 200 and "x-accel-redirect" not in composed.headers
    assert sha256(composed.content) == layer


def test_click_downloads_hand_off_with_their_cache_headers(tmp_path: Path, database_url: str
                                                           ) -> None:  # fmt: skip
    signing = {"window": 60, "clients": {CLICK_CLIENT: {"secret": CLICK_SECRET,
                                                        "project": "store"}}}  # fmt: skip
    stores = {"default": FilesystemStoreSettings(accel_redirect=PREFIX)}
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, signing=signing,
                        stores=stores)  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        click = Click(client)
        package = click.upload().json()
        assert click.publish(package["id"]).status_code == 200
        public = client.get(CLICK_PUBLIC)
        key = handed_off(public)
        assert (settings.store_path("default") / key).read_bytes() == CLICK_DATA
        assert public.headers["cache-control"]  # the face's own, kept by nginx


def test_an_osm_package_hands_off_but_a_file_inside_it_streams(world: World) -> None:
    answer = world.client.post(
        "/api/upload", files={"descriptor": ("ping_vnfd.tar.gz", osm_package())},
        headers=world.as_("owner"),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    state = world.get("owner", f"/api/upload/{answer.json()['transaction_id']}/state").json()
    assert state["status"] == "success", state
    package_id = state["package_id"]
    exported = world.get("owner", f"/api/export/{package_id}")
    handed_off(exported)
    assert "ping_vnfd-1.0.tar" in exported.headers["content-disposition"]
    # A file inside the stored archive is a range of its object: nginx would send it all.
    inside = world.get("owner", f"/api/package/{package_id}/files/{CLOUD_INIT}")
    assert "x-accel-redirect" not in inside.headers
    assert inside.content == b"#cloud-config\npassword: fedora\n"
