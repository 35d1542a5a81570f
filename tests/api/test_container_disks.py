"""Images of the catalogue pulled from the registry as KubeVirt container disks
(``lading.services.container_disks``), in-process on SQLite and PostgreSQL: the
manifest, the config, the layer composed of the image's bytes, Range over every
boundary of it, who may pull, and digests that hold across requests and restarts."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from lading.app import create_app, create_registry_app
from lading.db.models import container_disk_layers
from lading.services.access import Caller
from lading.services.container_disks import OWNER
from lading.services.oci import Access
from lading.settings import Settings
from tests.api.test_oci import Registry, errors, sha256
from tests.disk_images import iso, qcow2_header
from tests.object_servers import s3_store, swift_store
from tests.services_required import SERVICES
from tests.world import World, open_world

IDENTITIES = {
    "owner": ("A", "member"),
    "other": ("B", "member"),
    "admin": ("ops", "admin"),
}
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DATA = os.urandom(3 * 512 * 1024 + 123)  # several chunks, and not a whole tar block


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    return IDENTITIES


@pytest.fixture
def registry(world: World) -> Iterator[Registry]:
    with TestClient(create_registry_app(world.settings), base_url="http://registry.test") as c:
        yield Registry(c, world.tokens)


def new_image(world: World, data: bytes = DATA, who: str = "owner", **fields: object) -> str:
    body = {"disk_format": "raw", "container_format": "bare", "name": "disk", **fields}
    created = world.request("POST", "/v2/images", who, json=body)
    assert created.status_code == 201, created.text
    image_id: str = created.json()["id"]
    uploaded = world.request(
        "PUT", f"/v2/images/{image_id}/file", who, content=data,
        headers={"content-type": "application/octet-stream"},
    )  # fmt: skip
    assert uploaded.status_code == 204, uploaded.text
    return image_id


def pull(registry: Registry, image_id: str, who: str = "owner") -> tuple[Any, bytes]:
    """The manifest (by tag) and its layer's bytes."""
    answer = registry.request("GET", f"/v2/images/{image_id}/manifests/latest", who)
    assert answer.status_code == 200, answer.text
    manifest: Any = answer.json()
    layer = manifest["layers"][0]
    blob = registry.request("GET", f"/v2/images/{image_id}/blobs/{layer['digest']}", who)
    assert blob.status_code == 200, blob.text
    return manifest, blob.content


def disk_of(layer: bytes) -> tuple[tarfile.TarInfo, bytes]:
    with tarfile.open(fileobj=io.BytesIO(layer), mode="r:") as tar:
        members = tar.getmembers()
        assert members[0].name == "disk" and members[0].isdir()
        disk = members[1]
        extracted = tar.extractfile(disk)
        assert extracted is not None
        return disk, extracted.read()


def test_an_image_is_pulled_as_a_container_disk(world: World, registry: Registry) -> None:
    image_id = new_image(world)
    answer = registry.request("GET", f"/v2/images/{image_id}/manifests/latest")
    assert answer.headers["content-type"] == OCI_MANIFEST
    manifest, layer = pull(registry, image_id)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == OCI_MANIFEST
    assert answer.headers["docker-content-digest"] == sha256(answer.content)
    (descriptor,) = manifest["layers"]
    assert descriptor["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert descriptor["size"] == len(layer) and descriptor["digest"] == sha256(layer)
    disk, data = disk_of(layer)
    assert disk.name == "disk/disk.img" and disk.isfile()
    assert (disk.uid, disk.gid, disk.mode) == (OWNER, OWNER, 0o440)
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(DATA).hexdigest()
    assert len(layer) % 512 == 0 and layer.endswith(bytes(1024))
    config_descriptor = manifest["config"]
    config = registry.request("GET", f"/v2/images/{image_id}/blobs/{config_descriptor['digest']}")
    assert sha256(config.content) == config_descriptor["digest"]
    document = config.json()
    assert (document["os"], document["architecture"]) == ("linux", "amd64")
    assert document["rootfs"]["diff_ids"] == [descriptor["digest"]]
    by_digest = registry.request("GET", f"/v2/images/{image_id}/manifests/{sha256(answer.content)}")
    assert by_digest.status_code == 200 and by_digest.content == answer.content
    head = registry.request("HEAD", f"/v2/images/{image_id}/manifests/latest")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(answer.content))
    head = registry.request("HEAD", f"/v2/images/{image_id}/blobs/{descriptor['digest']}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(layer))
    tags = registry.request("GET", f"/v2/images/{image_id}/tags/list")
    assert tags.json() == {"name": f"images/{image_id}", "tags": ["latest"]}
    other = registry.request("GET", f"/v2/images/{image_id}/manifests/v2")
    assert other.status_code == 404 and errors(other) == ["MANIFEST_UNKNOWN"]
    unknown = registry.request("GET", f"/v2/images/{image_id}/blobs/{sha256(b'nothing')}")
    assert unknown.status_code == 404 and errors(unknown) == ["BLOB_UNKNOWN"]


def test_a_qcow2_image_with_an_architecture(world: World, registry: Registry) -> None:
    data = qcow2_header() + os.urandom(4096)
    image_id = new_image(world, data, disk_format="qcow2", architecture="aarch64")
    manifest, layer = pull(registry, image_id)
    disk, inside = disk_of(layer)
    assert disk.name == "disk/disk.qcow2" and inside == data
    config = registry.request("GET", f"/v2/images/{image_id}/blobs/{manifest['config']['digest']}")
    assert config.json()["architecture"] == "arm64"


def test_range_over_every_boundary_of_the_layer(world: World, registry: Registry) -> None:
    image_id = new_image(world)
    manifest, layer = pull(registry, image_id)
    digest = manifest["layers"][0]["digest"]
    header = len(layer) - len(DATA) - (-len(DATA) % 512) - 1024
    data_end = header + len(DATA)
    points = [0, 1, 100, header - 1, header, header + 1, data_end - 1, data_end,
              data_end + 1, len(layer) - 1024, len(layer) - 1]  # fmt: skip
    spans = [(a, b) for a in points for b in points if a <= b]
    for first, last in spans:
        answer = registry.request(
            "GET", f"/v2/images/{image_id}/blobs/{digest}",
            headers={"range": f"bytes={first}-{last}"},
        )  # fmt: skip
        assert answer.status_code == 206, (first, last, answer.text)
        assert answer.content == layer[first : last + 1], (first, last)
        assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(layer)}"
    suffix = registry.request(
        "GET", f"/v2/images/{image_id}/blobs/{digest}", headers={"range": "bytes=-700"}
    )
    assert suffix.content == layer[-700:]


def test_who_may_pull_is_who_may_download(world: World, registry: Registry) -> None:
    private = new_image(world, visibility="private")
    for who in ("other",):
        answer = registry.request("GET", f"/v2/images/{private}/manifests/latest", who)
        assert answer.status_code == 404 and errors(answer) == ["NAME_UNKNOWN"]
    anonymous = registry.request("GET", f"/v2/images/{private}/manifests/latest", "anonymous")
    assert anonymous.status_code == 401 and errors(anonymous) == ["UNAUTHORIZED"]
    assert registry.request("GET", f"/v2/images/{private}/manifests/latest", "admin").is_success
    # Shared with B: B pulls it.
    shared = new_image(world, visibility="shared")
    member = world.request("POST", f"/v2/images/{shared}/members", json={"member": "B"})
    assert member.status_code == 200, member.text
    assert registry.request("GET", f"/v2/images/{shared}/manifests/latest", "other").is_success
    # Public: anyone, with no token at all or with an anonymous registry token.
    public = new_image(world, who="admin", visibility="public")
    _, layer = pull(registry, public, "anonymous")
    assert disk_of(layer)[1] == DATA
    token = registry.client.get(
        "/v2/token", params={"scope": f"repository:images/{public}:pull"}
    ).json()["token"]
    bearer = registry.client.get(
        f"/v2/images/{public}/manifests/latest", headers={"authorization": f"Bearer {token}"}
    )
    assert bearer.status_code == 200
    # A token for another repository does not pull this one.
    narrow = registry.client.get(
        "/v2/token", params={"scope": "repository:team/app:pull"},
        headers=registry.headers("other"),
    ).json()["token"]  # fmt: skip
    refused = registry.client.get(
        f"/v2/images/{shared}/manifests/latest", headers={"authorization": f"Bearer {narrow}"}
    )
    assert refused.status_code == 403 and errors(refused) == ["DENIED"]
    # Nobody pushes to the catalogue's names.
    pushed = registry.request(
        "POST", f"/v2/images/{private}/blobs/uploads/", "admin",
        params={"digest": sha256(b"x")}, content=b"x",
    )  # fmt: skip
    assert pushed.status_code == 403 and errors(pushed) == ["DENIED"]


def test_a_registry_token_carries_the_configured_policy(world: World, tmp_path: Path) -> None:
    """A policy file that forbids downloads holds for a caller of the token endpoint's
    Bearer tokens as for one that sends Basic credentials (each way in, one policy)."""
    image_id = new_image(world, visibility="private")
    policy = tmp_path / "policy.yaml"
    policy.write_text('download_image: "role:admin"\n')
    settings = world.settings.model_copy(update={"policy_file": policy})
    with TestClient(create_registry_app(settings), base_url="http://registry.test") as client:
        registry = Registry(client, world.tokens)
        path = f"/v2/images/{image_id}/manifests/latest"
        basic = registry.request("GET", path, "owner")
        assert basic.status_code == 403 and errors(basic) == ["DENIED"]
        issued = client.get(
            "/v2/token", params={"scope": f"repository:images/{image_id}:pull"},
            headers=registry.headers("owner"),
        )  # fmt: skip
        assert issued.status_code == 200, issued.text
        bearer = {"authorization": f"Bearer {issued.json()['token']}"}
        refused = client.get(path, headers=bearer)
        assert refused.status_code == 403 and errors(refused) == ["DENIED"]
        assert registry.request("GET", path, "admin").status_code == 200


def test_images_that_are_no_container_disk(world: World, registry: Registry) -> None:
    queued = world.request(
        "POST", "/v2/images", json={"disk_format": "raw", "container_format": "bare"}
    ).json()["id"]
    answer = registry.request("GET", f"/v2/images/{queued}/manifests/latest")
    assert answer.status_code == 404 and errors(answer) == ["MANIFEST_UNKNOWN"]
    iso_image = new_image(world, disk_format="iso", data=iso())
    answer = registry.request("GET", f"/v2/images/{iso_image}/manifests/latest")
    assert answer.status_code == 404 and "raw or qcow2" in answer.text
    answer = registry.request("GET", "/v2/images/not-an-id/manifests/latest")
    assert answer.status_code == 404 and errors(answer) == ["NAME_UNKNOWN"]


def test_deleting_the_image_takes_its_container_disk(world: World, registry: Registry) -> None:
    image_id = new_image(world)
    manifest, _ = pull(registry, image_id)
    assert world.request("DELETE", f"/v2/images/{image_id}").status_code == 204
    for path in ("manifests/latest", f"blobs/{manifest['layers'][0]['digest']}"):
        answer = registry.request("GET", f"/v2/images/{image_id}/{path}")
        assert answer.status_code == 404 and errors(answer) == ["NAME_UNKNOWN"]


def test_the_digest_is_worked_out_once_and_kept(world: World, registry: Registry) -> None:
    image_id = new_image(world)
    first = registry.request("GET", f"/v2/images/{image_id}/manifests/latest")
    again = registry.request("GET", f"/v2/images/{image_id}/manifests/latest")
    assert first.content == again.content
    layer_digest = first.json()["layers"][0]["digest"]
    engine = create_engine(world.settings.resolved_database_url)
    with engine.connect() as connection:
        kept = connection.execute(
            select(container_disk_layers.c.sha256).where(
                container_disk_layers.c.artifact_id == image_id
            )
        ).scalar()
    engine.dispose()
    assert f"sha256:{kept}" == layer_digest
    # Another process on the same catalogue (a restart) answers the same digests.
    settings = world.settings
    with (
        open_world(create_app(settings), IDENTITIES),
        TestClient(create_registry_app(settings), base_url="http://registry.test") as client,
    ):
        after = Registry(client, world.tokens).request(
            "GET", f"/v2/images/{image_id}/manifests/latest"
        )
        assert after.content == first.content
        assert after.headers["docker-content-digest"] == first.headers["docker-content-digest"]
    # A change of architecture makes another config, so another manifest; the layer stays.
    patched = world.request(
        "PATCH", f"/v2/images/{image_id}",
        json=[{"op": "add", "path": "/architecture", "value": "aarch64"}],
        headers={"content-type": "application/openstack-images-v2.1-json-patch"},
    )  # fmt: skip
    assert patched.status_code == 200, patched.text
    changed = registry.request("GET", f"/v2/images/{image_id}/manifests/latest")
    assert changed.content != first.content
    assert changed.json()["layers"] == first.json()["layers"]
    assert json.loads(changed.content)["config"] != first.json()["config"]


@pytest.fixture(params=[pytest.param(store, marks=SERVICES) for store in (s3_store, swift_store)])
def object_world(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> Iterator[World]:
    """A world whose images are kept by an object store (S3, Swift)."""
    store = request.param(request, tmp_path.name)
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, stores={"default": store}
    )
    with open_world(create_app(settings), IDENTITIES) as opened:
        yield opened


def test_an_object_stores_image_as_a_container_disk(object_world: World) -> None:
    """The layer's data part read from S3 or Swift, by ranges too; and a container disk
    pushed there registered as an image."""
    world = object_world
    with TestClient(create_registry_app(world.settings), base_url="http://registry.test") as c:
        registry = Registry(c, world.tokens)
        image_id = new_image(world)
        manifest, layer = pull(registry, image_id)
        assert disk_of(layer)[1] == DATA
        digest = manifest["layers"][0]["digest"]
        header = len(layer) - len(DATA) - (-len(DATA) % 512) - 1024
        for first, last in ((header - 10, header + 10), (header + 5, len(layer) - 1)):
            answer = registry.request(
                "GET", f"/v2/images/{image_id}/blobs/{digest}",
                headers={"range": f"bytes={first}-{last}"},
            )  # fmt: skip
            assert answer.status_code == 206 and answer.content == layer[first : last + 1]
        # The layer just pulled, pushed as a container disk of its own, and registered.
        registry.push_image("team/disk", "v1", layer)
        access = Access(Caller.with_role("A", "member"))
        image = world.call(world.services.disk_imports.register, access, "team/disk", "v1", None)
        assert world.get("owner", f"/v2/images/{image.id}/file").content == DATA
