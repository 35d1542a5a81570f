"""The OCI registry face (``lading.api.oci``): the distribution spec's cases, its tokens,
and hostile requests, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx2
import pytest
from sqlalchemy import create_engine, update
from starlette.testclient import TestClient

from lading.app import create_registry_app
from lading.db.models import blobs, oci_uploads
from lading.db.oci import FINISHING
from lading.services.oci import OCI_INDEX, OCI_MANIFEST
from lading.stores.memory import MemoryStore
from lading.stores.registry import StoreRegistry
from tests.world import World

IDENTITIES = {
    "owner": ("A", "member"),
    "other": ("B", "member"),
    "reader": ("A", "reader"),
    "admin": ("ops", "admin"),
}
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    return IDENTITIES


class Registry:
    """The registry app, driven in-process beside the world (whose tokens it takes)."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    def headers(self, who: str) -> dict[str, str]:
        if who == "anonymous":
            return {}
        basic = base64.b64encode(f"user:{self.tokens[who]}".encode()).decode()
        return {"authorization": f"Basic {basic}"}

    def request(self, method: str, path: str, who: str = "owner", **kwargs: Any) -> httpx2.Response:
        headers = {**self.headers(who), **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def push_blob(self, name: str, data: bytes, who: str = "owner") -> str:
        digest = sha256(data)
        answer = self.request(
            "POST", f"/v2/{name}/blobs/uploads/", who, params={"digest": digest}, content=data
        )
        assert answer.status_code == 201, answer.text
        return digest

    def push_image(self, name: str, tag: str, layer: bytes, who: str = "owner") -> str:
        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        manifest = image_manifest(
            (CONFIG_TYPE, self.push_blob(name, config, who), len(config)),
            [(LAYER_TYPE, self.push_blob(name, layer, who), len(layer))],
        )
        answer = self.put_manifest(name, tag, manifest, who)
        assert answer.status_code == 201, answer.text
        return sha256(manifest)

    def put_manifest(
        self, name: str, reference: str, manifest: bytes, who: str = "owner", media: str = ""
    ) -> httpx2.Response:
        headers = {"content-type": media or OCI_MANIFEST}
        return self.request(
            "PUT", f"/v2/{name}/manifests/{reference}", who, headers=headers, content=manifest
        )


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(
    config: tuple[str, str, int],
    layers: list[tuple[str, str, int]],
    subject: tuple[str, str, int] | None = None,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> bytes:
    def descriptor(entry: tuple[str, str, int]) -> dict[str, Any]:
        return {"mediaType": entry[0], "digest": entry[1], "size": entry[2]}

    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(config),
        "layers": [descriptor(layer) for layer in layers],
    }
    if subject is not None:
        document["subject"] = descriptor(subject)
    if artifact_type is not None:
        document["artifactType"] = artifact_type
    if annotations is not None:
        document["annotations"] = annotations
    return json.dumps(document).encode()


@pytest.fixture
def registry(world: World) -> Iterator[Registry]:
    app = create_registry_app(world.settings)
    with TestClient(app, base_url="http://registry.test") as client:
        yield Registry(client, world.tokens)


def errors(answer: httpx2.Response) -> list[str]:
    return [error["code"] for error in answer.json()["errors"]]


def test_base_answers_a_caller_and_challenges_anyone_else(registry: Registry) -> None:
    answer = registry.request("GET", "/v2/")
    assert answer.status_code == 200
    assert answer.headers["docker-distribution-api-version"] == "registry/2.0"
    anonymous = registry.request("GET", "/v2/", "anonymous")
    assert anonymous.status_code == 401
    assert errors(anonymous) == ["UNAUTHORIZED"]
    challenge = anonymous.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="http://registry.test/v2/token",service="lading"')


def test_monolithic_push_and_pull_of_a_blob(registry: Registry) -> None:
    data = b"layer bytes" * 1000
    digest = registry.push_blob("team/app", data)
    answer = registry.request("GET", f"/v2/team/app/blobs/{digest}")
    assert answer.status_code == 200
    assert answer.content == data
    assert answer.headers["docker-content-digest"] == digest
    head = registry.request("HEAD", f"/v2/team/app/blobs/{digest}")
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(data))
    part = registry.request("GET", f"/v2/team/app/blobs/{digest}", headers={"range": "bytes=5-9"})
    assert part.status_code == 206
    assert part.content == data[5:10]
    assert part.headers["content-range"] == f"bytes 5-9/{len(data)}"


def test_chunked_upload_with_content_range(registry: Registry) -> None:
    data = bytes(range(256)) * 100
    started = registry.request("POST", "/v2/team/app/blobs/uploads/")
    assert started.status_code == 202
    location = started.headers["location"]
    assert started.headers["range"] == "0-0"
    first = registry.request(
        "PATCH", location, content=data[:10000],
        headers={"content-range": "0-9999", "content-type": "application/octet-stream"},
    )  # fmt: skip
    assert first.status_code == 202, first.text
    assert first.headers["range"] == "0-9999"
    status = registry.request("GET", first.headers["location"])
    assert status.status_code == 204
    assert status.headers["range"] == "0-9999"
    wrong = registry.request(
        "PATCH", location, content=data[10000:], headers={"content-range": "5-25604"}
    )
    assert wrong.status_code == 416
    second = registry.request(
        "PATCH", location, content=data[10000:20000], headers={"content-range": "10000-19999"}
    )
    assert second.status_code == 202
    done = registry.request("PUT", location, params={"digest": sha256(data)}, content=data[20000:])
    assert done.status_code == 201, done.text
    assert done.headers["location"] == f"/v2/team/app/blobs/{sha256(data)}"
    assert registry.request("GET", done.headers["location"]).content == data
    assert registry.request("GET", location).status_code == 404  # the upload is over


def test_post_then_put_with_the_whole_blob(registry: Registry) -> None:
    data = b"monolithic after POST"
    location = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    done = registry.request("PUT", location, params={"digest": sha256(data)}, content=data)
    assert done.status_code == 201
    assert registry.request("GET", f"/v2/team/app/blobs/{sha256(data)}").content == data


def test_a_wrong_digest_keeps_nothing(registry: Registry, world: World) -> None:
    before = set(world.stored_files())
    wrong = "sha256:" + "0" * 64
    answer = registry.request(
        "POST", "/v2/team/app/blobs/uploads/", params={"digest": wrong}, content=b"data"
    )
    assert answer.status_code == 400
    assert errors(answer) == ["DIGEST_INVALID"]
    assert registry.request("HEAD", f"/v2/team/app/blobs/{sha256(b'data')}").status_code == 404
    assert set(world.stored_files()) == before
    # A failed push holds no name: another project may take it.
    assert registry.request("GET", "/v2/team/app/tags/list", "other").status_code == 404
    registry.push_blob("team/app", b"theirs", "other")


def test_manifests_by_tag_and_by_digest(registry: Registry) -> None:
    digest = registry.push_image("team/app", "v1", b"a layer")
    by_tag = registry.request("GET", "/v2/team/app/manifests/v1")
    assert by_tag.status_code == 200
    assert by_tag.headers["content-type"] == OCI_MANIFEST
    assert by_tag.headers["docker-content-digest"] == digest
    assert sha256(by_tag.content) == digest
    by_digest = registry.request("HEAD", f"/v2/team/app/manifests/{digest}")
    assert by_digest.status_code == 200
    assert by_digest.headers["content-length"] == str(len(by_tag.content))
    tags = registry.request("GET", "/v2/team/app/tags/list").json()
    assert tags == {"name": "team/app", "tags": ["v1"]}
    assert registry.request("DELETE", "/v2/team/app/manifests/v1").status_code == 202
    assert registry.request("GET", "/v2/team/app/manifests/v1").status_code == 404
    assert registry.request("GET", f"/v2/team/app/manifests/{digest}").status_code == 200
    assert registry.request("DELETE", f"/v2/team/app/manifests/{digest}").status_code == 202
    gone = registry.request("GET", f"/v2/team/app/manifests/{digest}")
    assert errors(gone) == ["MANIFEST_UNKNOWN"]


def test_a_manifest_naming_a_missing_blob_is_refused(registry: Registry) -> None:
    config = registry.push_blob("team/app", b"{}")
    manifest = image_manifest((CONFIG_TYPE, config, 2), [(LAYER_TYPE, sha256(b"nope"), 4)])
    answer = registry.put_manifest("team/app", "v1", manifest)
    assert answer.status_code == 400
    assert errors(answer) == ["MANIFEST_BLOB_UNKNOWN"]
    assert registry.request("GET", "/v2/team/app/tags/list").json()["tags"] == []


def test_an_index_refers_to_manifests_the_repository_holds(registry: Registry) -> None:
    child = registry.push_image("team/app", "amd64", b"layer")
    size = len(registry.request("GET", f"/v2/team/app/manifests/{child}").content)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": size}]}  # fmt: skip
    answer = registry.put_manifest("team/app", "v1", json.dumps(index).encode(), media=OCI_INDEX)
    assert answer.status_code == 201, answer.text
    index["manifests"][0]["digest"] = sha256(b"other")  # type: ignore[index]
    missing = registry.put_manifest("team/app", "v2", json.dumps(index).encode(), media=OCI_INDEX)
    assert errors(missing) == ["MANIFEST_BLOB_UNKNOWN"]


def test_hostile_manifests(registry: Registry) -> None:
    registry.push_blob("team/app", b"{}")
    cap = 4 * 1024 * 1024
    assert registry.put_manifest("team/app", "big", b" " * (cap + 1)).status_code == 413
    assert errors(registry.put_manifest("team/app", "v1", b"not json")) == ["MANIFEST_INVALID"]
    assert errors(registry.put_manifest("team/app", "v1", b"[]")) == ["MANIFEST_INVALID"]
    assert errors(registry.put_manifest("team/app", "v1", b"{}", media="text/plain")) == [
        "MANIFEST_INVALID"
    ]
    manifest = image_manifest((CONFIG_TYPE, sha256(b"{}"), 2), [])
    wrong = registry.put_manifest("team/app", "sha256:" + "1" * 64, manifest)
    assert errors(wrong) == ["DIGEST_INVALID"]
    assert registry.put_manifest("team/app", sha256(manifest), manifest).status_code == 201


def test_bad_names_and_digests(registry: Registry) -> None:
    for path in (
        "/v2/Team/blobs/uploads/",
        "/v2/team//app/blobs/uploads/",
        "/v2/-a/blobs/uploads/",
    ):
        answer = registry.request("POST", path)
        assert answer.status_code == 400, path
        assert errors(answer) == ["NAME_INVALID"]
    assert errors(registry.request("GET", "/v2/team/app/blobs/sha256:xyz")) in (
        ["DIGEST_INVALID"], ["NAME_UNKNOWN"],
    )  # fmt: skip
    registry.push_blob("team/app", b"x")
    assert errors(registry.request("GET", "/v2/team/app/blobs/sha256:xyz")) == ["DIGEST_INVALID"]
    assert errors(registry.request("GET", "/v2/team/app/blobs/md5:abc")) == ["UNSUPPORTED"]


def test_a_reference_that_is_neither_tag_nor_digest_names_no_manifest(registry: Registry) -> None:
    """Pulled or deleted, it is unknown (404), as the conformance suite's pull of
    ".INVALID_MANIFEST_NAME" expects; pushed, it is invalid."""
    registry.push_image("team/app", "v1", b"layer")
    for method in ("GET", "HEAD", "DELETE"):
        answer = registry.request(method, "/v2/team/app/manifests/.INVALID_MANIFEST_NAME")
        assert answer.status_code == 404, method
        if method != "HEAD":
            assert errors(answer) == ["MANIFEST_UNKNOWN"], method
    anonymous = registry.request("DELETE", "/v2/team/app/manifests/-bad", "anonymous")
    assert anonymous.status_code == 401  # who asks is settled first
    manifest = registry.request("GET", "/v2/team/app/manifests/v1").content
    pushed = registry.put_manifest("team/app", ".INVALID_MANIFEST_NAME", manifest)
    assert errors(pushed) == ["MANIFEST_INVALID"]


def test_another_projects_repository(registry: Registry) -> None:
    digest = registry.push_image("team/app", "v1", b"private layer")
    assert errors(registry.request("GET", "/v2/team/app/manifests/v1", "other")) == ["NAME_UNKNOWN"]
    blob = registry.request("GET", f"/v2/team/app/blobs/{sha256(b'private layer')}", "other")
    assert blob.status_code == 404
    push = registry.request(
        "POST", "/v2/team/app/blobs/uploads/", "other",
        params={"digest": sha256(b"x")}, content=b"x",
    )  # fmt: skip
    assert push.status_code == 403
    assert errors(push) == ["DENIED"]
    assert (
        registry.request("DELETE", f"/v2/team/app/manifests/{digest}", "other").status_code == 403
    )
    assert registry.request("GET", "/v2/_catalog", "other").json() == {"repositories": []}
    assert registry.request("GET", "/v2/team/app/manifests/v1", "reader").status_code == 200
    assert registry.request("POST", "/v2/team/app/blobs/uploads/", "reader").status_code == 403


def test_cross_repository_mount(registry: Registry) -> None:
    digest = registry.push_blob("team/base", b"shared layer")
    mounted = registry.request(
        "POST", "/v2/team/app/blobs/uploads/", params={"mount": digest, "from": "team/base"}
    )
    assert mounted.status_code == 201
    assert mounted.headers["location"] == f"/v2/team/app/blobs/{digest}"
    assert registry.request("GET", f"/v2/team/app/blobs/{digest}").content == b"shared layer"
    # From a repository the caller may not read: an upload begins instead.
    theirs = registry.push_blob("their/base", b"their layer", "other")
    refused = registry.request(
        "POST", "/v2/team/app/blobs/uploads/", params={"mount": theirs, "from": "their/base"}
    )
    assert refused.status_code == 202
    assert registry.request("HEAD", f"/v2/team/app/blobs/{theirs}").status_code == 404


def test_deleting_a_blob_frees_its_bytes_once_no_repository_holds_it(
    registry: Registry, world: World
) -> None:
    before = set(world.stored_files())
    digest = registry.push_blob("team/base", b"to be deleted")
    registry.request(
        "POST", "/v2/team/app/blobs/uploads/", params={"mount": digest, "from": "team/base"}
    )
    assert len(set(world.stored_files()) - before) == 1  # one copy of the bytes
    assert registry.request("DELETE", f"/v2/team/base/blobs/{digest}").status_code == 202
    assert errors(registry.request("GET", f"/v2/team/base/blobs/{digest}")) == ["BLOB_UNKNOWN"]
    assert len(set(world.stored_files()) - before) == 1
    assert registry.request("DELETE", f"/v2/team/app/blobs/{digest}").status_code == 202
    assert set(world.stored_files()) == before


def test_a_blob_a_manifest_names_is_deleted_and_then_unknown(registry: Registry) -> None:
    """Not refused (the conformance suite deletes blobs before manifests): the manifest
    stays, and a pull of the blob is the spec's 404 BLOB_UNKNOWN."""
    layer = b"a layer a manifest names"
    digest = registry.push_image("team/app", "v1", layer)
    assert registry.request("DELETE", f"/v2/team/app/blobs/{sha256(layer)}").status_code == 202
    assert registry.request("GET", f"/v2/team/app/manifests/{digest}").status_code == 200
    pulled = registry.request("GET", f"/v2/team/app/blobs/{sha256(layer)}")
    assert pulled.status_code == 404 and errors(pulled) == ["BLOB_UNKNOWN"]
    assert registry.request("HEAD", f"/v2/team/app/blobs/{sha256(layer)}").status_code == 404


def test_tags_and_catalog_are_paged(registry: Registry) -> None:
    for tag in ("c", "a", "b"):
        registry.push_image("team/app", tag, b"layer")
    registry.push_blob("team/base", b"x")
    page = registry.request("GET", "/v2/team/app/tags/list", params={"n": 2})
    assert page.json()["tags"] == ["a", "b"]
    assert page.headers["link"] == '</v2/team/app/tags/list?n=2&last=b>; rel="next"'
    rest = registry.request("GET", "/v2/team/app/tags/list", params={"n": 2, "last": "b"})
    assert rest.json()["tags"] == ["c"]
    assert "link" not in rest.headers
    catalog = registry.request("GET", "/v2/_catalog", params={"n": 1})
    assert catalog.json() == {"repositories": ["team/app"]}
    assert "last=team%2Fapp" in catalog.headers["link"]


def test_referrers_with_artifact_type_filtering(registry: Registry) -> None:
    subject = registry.push_image("team/app", "v1", b"layer")
    size = len(registry.request("GET", f"/v2/team/app/manifests/{subject}").content)
    empty = registry.push_blob("team/app", b"{}")
    signature = image_manifest(
        ("application/vnd.oci.empty.v1+json", empty, 2), [],
        subject=(OCI_MANIFEST, subject, size), artifact_type="application/example.sig",
        annotations={"org.example": "yes"},
    )  # fmt: skip
    answer = registry.put_manifest("team/app", sha256(signature), signature)
    assert answer.status_code == 201
    assert answer.headers["oci-subject"] == subject
    found = registry.request("GET", f"/v2/team/app/referrers/{subject}").json()
    assert found["manifests"] == [{
        "mediaType": OCI_MANIFEST, "digest": sha256(signature), "size": len(signature),
        "artifactType": "application/example.sig", "annotations": {"org.example": "yes"},
    }]  # fmt: skip
    filtered = registry.request(
        "GET", f"/v2/team/app/referrers/{subject}", params={"artifactType": "other"}
    )
    assert filtered.json()["manifests"] == []
    assert filtered.headers["oci-filters-applied"] == "artifactType"


def test_token_flow_with_anonymous_pull_of_a_public_repository(
    registry: Registry, world: World
) -> None:
    registry.push_image("team/app", "v1", b"public layer")
    anonymous = registry.request("GET", "/v2/team/app/manifests/v1", "anonymous")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].endswith(',scope="repository:team/app:pull"')
    token = registry.request(
        "GET", "/v2/token", "anonymous",
        params={"service": "lading", "scope": "repository:team/app:pull"},
    ).json()["token"]  # fmt: skip
    bearer = {"authorization": f"Bearer {token}"}
    assert registry.client.get("/v2/team/app/manifests/v1", headers=bearer).status_code == 401
    caller = world.services.identities.anonymous("A", "member")
    world.call(world.services.registry.set_visibility, caller, "team/app", "public")
    pulled = registry.client.get("/v2/team/app/manifests/v1", headers=bearer)
    assert pulled.status_code == 200
    push = registry.client.post("/v2/team/app/blobs/uploads/", headers=bearer)
    assert push.status_code == 401


def test_a_token_grants_only_its_scope(registry: Registry) -> None:
    registry.push_image("team/app", "v1", b"layer")
    registry.push_image("team/other", "v1", b"layer")
    issued = registry.request(
        "GET", "/v2/token", params={"scope": "repository:team/app:pull,push"}
    ).json()
    bearer = {"authorization": f"Bearer {issued['access_token']}"}
    assert issued["expires_in"] == 300
    assert registry.client.get("/v2/team/app/manifests/v1", headers=bearer).status_code == 200
    assert registry.client.post("/v2/team/app/blobs/uploads/", headers=bearer).status_code == 202
    short = registry.client.get("/v2/team/other/manifests/v1", headers=bearer)
    assert short.status_code == 403
    assert short.headers["www-authenticate"].endswith(
        ',scope="repository:team/other:pull",error="insufficient_scope"'
    )
    forged = {"authorization": "Bearer oci.not-a-token"}
    assert registry.client.get("/v2/team/app/manifests/v1", headers=forged).status_code == 401
    reader = registry.request(
        "GET", "/v2/token", "reader", params={"scope": "repository:team/app:pull,push"}
    ).json()["token"]
    as_reader = {"authorization": f"Bearer {reader}"}
    assert registry.client.get("/v2/team/app/manifests/v1", headers=as_reader).status_code == 200
    assert registry.client.post("/v2/team/app/blobs/uploads/", headers=as_reader).status_code == 403


def test_a_chunked_upload_with_a_wrong_digest_keeps_nothing(
    registry: Registry, world: World
) -> None:
    before = set(world.stored_files())
    location = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    assert registry.request("PATCH", location, content=b"first chunk").status_code == 202
    wrong = registry.request(
        "PUT", location, params={"digest": sha256(b"other")}, content=b" and the last"
    )
    assert errors(wrong) == ["DIGEST_INVALID"]
    assert set(world.stored_files()) == before
    assert registry.request("GET", location).status_code == 404
    assert registry.request("GET", "/v2/_catalog").json() == {"repositories": []}


def test_an_upload_is_its_projects_alone(registry: Registry) -> None:
    location = registry.request("POST", "/v2/new/name/blobs/uploads/").headers["location"]
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        answer = registry.request(method, location, "other", params={"digest": sha256(b"")})
        assert errors(answer) == ["BLOB_UPLOAD_UNKNOWN"], method
    assert registry.request("DELETE", location).status_code == 204
    assert errors(registry.request("GET", location)) == ["BLOB_UPLOAD_UNKNOWN"]


def test_an_upload_left_alone_is_swept_and_cannot_be_finished(
    registry: Registry, world: World
) -> None:
    before = set(world.stored_files())
    location = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    assert registry.request("PATCH", location, content=b"a chunk").status_code == 202
    engine = create_engine(world.settings.resolved_database_url)
    with engine.begin() as connection:  # as if nothing came for a day
        connection.execute(
            update(blobs).where(blobs.c.state == "pending").values(updated_at=datetime(2000, 1, 1))
        )
    engine.dispose()
    assert world.call(world.services.recovery.run) >= 1
    assert set(world.stored_files()) == before
    done = registry.request("PUT", location, params={"digest": sha256(b"a chunk")})
    assert errors(done) == ["BLOB_UPLOAD_UNKNOWN"]
    assert errors(registry.request("GET", f"/v2/team/app/blobs/{sha256(b'a chunk')}")) == [
        "NAME_UNKNOWN"
    ]


def test_an_upload_is_finished_once(registry: Registry, world: World) -> None:
    """A second finish of an upload another request is finishing fails, as does a chunk
    sent then: the blob is made of the parts read when the first finish began."""
    location = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    registry.request("PATCH", location, content=b"chunk")
    engine = create_engine(world.settings.resolved_database_url)
    with engine.begin() as connection:  # another request began finishing it
        connection.execute(update(oci_uploads).values(parts=FINISHING))
    engine.dispose()
    again = registry.request("PUT", location, params={"digest": sha256(b"chunk")})
    assert errors(again) == ["BLOB_UPLOAD_UNKNOWN"]
    late = registry.request("PATCH", location, content=b"more")
    assert late.status_code == 416


def test_a_layer_shares_its_bytes_with_an_image_of_the_glance_face(
    registry: Registry, world: World
) -> None:
    """One catalogue of blobs: the same bytes pushed as a layer and uploaded as an image
    are stored once, and stay while either refers to them."""
    data = b"the same disk" * 10_000
    before = set(world.stored_files())
    image = world.request(
        "POST",
        "/v2/images",
        json={"name": "disk", "disk_format": "raw", "container_format": "bare"},
    ).json()
    uploaded = world.request(
        "PUT", f"/v2/images/{image['id']}/file", content=data,
        headers={"content-type": "application/octet-stream"},
    )  # fmt: skip
    assert uploaded.status_code == 204
    digest = registry.push_blob("team/disk", data)
    assert len(set(world.stored_files()) - before) == 1
    assert world.request("DELETE", f"/v2/images/{image['id']}").status_code == 204
    assert registry.request("GET", f"/v2/team/disk/blobs/{digest}").content == data
    assert registry.request("DELETE", f"/v2/team/disk/blobs/{digest}").status_code == 202
    assert set(world.stored_files()) == before


def test_an_upload_of_one_chunk_becomes_its_blob_uncopied(registry: Registry, world: World) -> None:
    """The chunk was hashed as it came: finishing checks its digest and keeps it as the
    blob (one stored object, never a second); a wrong digest keeps nothing."""
    before = set(world.stored_files())
    data = b"one chunk" * 5000
    wrong = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    registry.request("PATCH", wrong, content=data)
    refused = registry.request("PUT", wrong, params={"digest": sha256(b"other")})
    assert errors(refused) == ["DIGEST_INVALID"]
    assert set(world.stored_files()) == before
    location = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    registry.request("PATCH", location, content=data)
    assert registry.request("PUT", location, params={"digest": sha256(data)}).status_code == 201
    assert len(set(world.stored_files()) - before) == 1
    assert registry.request("GET", f"/v2/team/app/blobs/{sha256(data)}").content == data
    # The same bytes again in another repository: shared, the new chunk's bytes removed.
    again = registry.request("POST", "/v2/team/copy/blobs/uploads/").headers["location"]
    registry.request("PATCH", again, content=data)
    assert registry.request("PUT", again, params={"digest": sha256(data)}).status_code == 201
    assert len(set(world.stored_files()) - before) == 1


def test_chunks_are_appended_to_one_blob_never_copied(registry: Registry, world: World) -> None:
    """On the filesystem store every chunk is appended to the pending blob it becomes,
    its hashes carried on (rebuilt from the blob by a process that does not hold them):
    one stored object, written once; a failed or wrong chunk leaves the others whole."""
    before = set(world.stored_files())
    data = os.urandom(300_000)
    location = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    for start in range(0, 200_000, 50_000):
        if start == 100_000:
            world.services.registry._hashes.clear()  # as another process would be
        answer = registry.request(
            "PATCH", location, content=data[start : start + 50_000],
            headers={"content-range": f"{start}-{start + 49_999}"},
        )  # fmt: skip
        assert answer.status_code == 202, answer.text
        assert len(set(world.stored_files()) - before) == 1  # one file, growing
    wrong_place = registry.request(
        "PATCH", location, content=b"x" * 10, headers={"content-range": "5-14"}
    )
    assert wrong_place.status_code == 416
    done = registry.request(
        "PUT", location, params={"digest": sha256(data)}, content=data[200_000:]
    )
    assert done.status_code == 201, done.text
    (stored,) = set(world.stored_files()) - before
    assert stored.read_bytes() == data
    assert registry.request("GET", f"/v2/team/app/blobs/{sha256(data)}").content == data


def test_an_upload_nobody_goes_on_with_expires_with_its_chunks(
    registry: Registry, world: World
) -> None:
    before = set(world.stored_files())
    location = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    assert registry.request("PATCH", location, content=b"a chunk").status_code == 202
    fresh = registry.request("POST", "/v2/team/app/blobs/uploads/").headers["location"]
    engine = create_engine(world.settings.resolved_database_url)
    with engine.begin() as connection:  # as if nothing came for a day, to the first
        old = datetime(2000, 1, 1)
        connection.execute(update(blobs).values(updated_at=old))
        upload_id = location.rpartition("/")[2]
        connection.execute(
            update(oci_uploads).where(oci_uploads.c.id == upload_id).values(updated_at=old)
        )
    engine.dispose()
    assert world.call(world.services.recovery.run) >= 1  # its chunk
    assert set(world.stored_files()) == before
    assert errors(registry.request("GET", location)) == ["BLOB_UPLOAD_UNKNOWN"]
    assert registry.request("GET", fresh).status_code == 204


def test_docker_manifests_and_lists_keep_their_media_types(registry: Registry) -> None:
    docker = "application/vnd.docker.distribution.manifest.v2+json"
    docker_list = "application/vnd.docker.distribution.manifest.list.v2+json"
    config = registry.push_blob("team/app", b'{"os": "linux"}')
    layer = registry.push_blob("team/app", b"gzipped layer")
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": docker,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": config, "size": 15},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": layer, "size": 13}],
    }).encode()  # fmt: skip
    assert registry.put_manifest("team/app", "amd64", manifest, media=docker).status_code == 201
    listed = json.dumps({
        "schemaVersion": 2, "mediaType": docker_list,
        "manifests": [{"mediaType": docker, "digest": sha256(manifest), "size": len(manifest),
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }).encode()  # fmt: skip
    assert registry.put_manifest("team/app", "v1", listed, media=docker_list).status_code == 201
    got = registry.request("GET", "/v2/team/app/manifests/v1")
    assert got.headers["content-type"] == docker_list
    assert got.content == listed
    assert (
        registry.request("HEAD", "/v2/team/app/manifests/amd64").headers["content-type"] == docker
    )
    # A body saying it is another type than the request: refused.
    assert errors(registry.put_manifest("team/app", "x", manifest, media=OCI_MANIFEST)) == [
        "MANIFEST_INVALID"
    ]


def test_a_blob_whose_bytes_are_gone_is_503_before_any_body(
    registry: Registry, world: World
) -> None:
    before = set(world.stored_files())
    digest = registry.push_blob("team/app", b"soon lost")
    (lost,) = set(world.stored_files()) - before
    lost.unlink()
    answer = registry.request("GET", f"/v2/team/app/blobs/{digest}")
    assert answer.status_code == 503
    assert errors(answer) == ["UNAVAILABLE"]


class SigningStore(MemoryStore):
    """A store that hands its downloads off, as S3's does with ``redirect`` on."""

    async def redirect_url(self, key: str) -> str | None:
        return f"https://objects.example.org/{key}?signature=s"


def test_a_store_that_hands_downloads_off_is_redirected_to(world: World) -> None:
    stores = StoreRegistry({"default": SigningStore("default")}, "default")
    app = create_registry_app(world.settings, stores=stores)
    with TestClient(app, base_url="http://registry.test", follow_redirects=False) as client:
        registry = Registry(client, world.tokens)
        digest = registry.push_blob("team/app", b"signed bytes")
        answer = registry.request(
            "GET", f"/v2/team/app/blobs/{digest}", headers={"range": "bytes=0-3"}
        )
        assert answer.status_code == 307
        assert answer.headers["location"].startswith("https://objects.example.org/")
        assert answer.headers["cache-control"] == "no-store"
        head = registry.request("HEAD", f"/v2/team/app/blobs/{digest}")
        assert head.status_code == 200  # the size and digest, from here
