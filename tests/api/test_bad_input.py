"""Bad requests get the right 4xx, an error body, and change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.api.helpers import PATCH_TYPE, assert_error, create, patch, upload
from tests.stores.faulty import FaultyStore


def leftovers(settings: Settings) -> list[Path]:
    """Files in the store: objects and temporary files alike."""
    return [p for p in settings.store_path("default").rglob("*") if p.is_file()]


def assert_unchanged(client: TestClient, image: dict[str, Any]) -> None:
    assert client.get(f"/v2/images/{image['id']}").json() == image


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'"text"', 400),
        (b'{"status": "active"}', 403),
        (b'{"size": 5}', 403),
        (b'{"checksum": "abc"}', 403),
        (b'{"self": "/elsewhere"}', 403),
        (b'{"locations": []}', 403),
        (b'{"os_glance_import_task": "x"}', 403),
        (b'{"custom": 5}', 400),
        (b'{"custom": null}', 400),
        (b'{"name": 5}', 400),
        (b'{"name": "' + b"n" * 256 + b'"}', 400),
        (b'{"disk_format": "qcow3"}', 400),
        (b'{"visibility": "everyone"}', 400),
        (b'{"min_ram": -1}', 400),
        (b'{"min_ram": "64"}', 400),
        (b'{"protected": "yes"}', 400),
        (b'{"tags": "one"}', 400),
        (b'{"tags": [1]}', 400),
        (b'{"tags": ["two\\nlines"]}', 400),
        (b'{"id": "not-a-uuid"}', 400),
    ],
)
def test_create_refuses(client: TestClient, body: bytes, status: int) -> None:
    response = client.post("/v2/images", content=body, headers={"content-type": "application/json"})
    assert_error(response, status)
    assert client.get("/v2/images").json()["images"] == []


def test_create_refuses_too_many_properties(client: TestClient) -> None:
    body = {f"p{number}": "v" for number in range(129)}
    assert_error(client.post("/v2/images", json=body), 413)


def test_create_refuses_an_oversized_body(client: TestClient) -> None:
    body = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    assert_error(client.post("/v2/images", content=body), 413)


@pytest.mark.parametrize(
    ("operations", "status"),
    [
        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
        ([{"op": "replace", "path": "/checksum", "value": "x"}], 403),
        ([{"op": "add", "path": "/id", "value": "x"}], 403),
        ([{"op": "add", "path": "/os_glance_x", "value": "x"}], 403),
        ([{"op": "remove", "path": "/name"}], 403),
        ([{"op": "add", "path": "/custom", "value": 5}], 400),
        ([{"op": "replace", "path": "/missing", "value": "x"}], 409),
        ([{"op": "remove", "path": "/missing"}], 409),
        ([{"op": "move", "from": "/a", "path": "/b"}], 400),
        ([{"op": "add", "path": "nested"}], 400),
        ([{"op": "add", "path": "/a/b", "value": "x"}], 400),
        ([{"op": "add", "path": "/a"}], 400),
        ([{"op": "replace", "path": "/min_ram", "value": "lots"}], 400),
        ([{"op": "replace", "path": "/visibility", "value": "everyone"}], 400),
        ([{"op": "replace", "path": "/tags", "value": "one"}], 400),
        ({"op": "add"}, 400),
        (["add"], 400),
        ([{"op": "replace", "path": "/name", "value": "ok"},
          {"op": "replace", "path": "/missing", "value": "x"}], 409),
    ],
)  # fmt: skip
def test_patch_refuses(client: TestClient, operations: Any, status: int) -> None:
    image = create(client, name="original")
    assert_error(patch(client, image["id"], operations), status)
    assert_unchanged(client, image)


def test_patch_needs_the_json_patch_media_type(client: TestClient) -> None:
    image = create(client)
    response = client.patch(
        f"/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/name", "value": "x"}],
        headers={"content-type": "application/json"},
    )
    assert_error(response, 415)
    assert PATCH_TYPE in response.headers.get("accept-patch", "")
    assert_unchanged(client, image)


def test_patch_refuses_malformed_json(client: TestClient) -> None:
    image = create(client)
    response = client.patch(
        f"/v2/images/{image['id']}", content=b"[{", headers={"content-type": PATCH_TYPE}
    )
    assert_error(response, 400)
    assert_unchanged(client, image)


@pytest.mark.parametrize("tag", ["a%0Db", "%09", "a%7Fb", "a%C2%85b"])
def test_tags_with_control_characters_are_refused(client: TestClient, tag: str) -> None:
    image = create(client)
    assert_error(client.put(f"/v2/images/{image['id']}/tags/{tag}"), 400)
    assert_unchanged(client, image)


@pytest.mark.parametrize("image_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_ids_are_not_found(client: TestClient, image_id: str) -> None:
    for method in ("GET", "DELETE"):
        assert_error(client.request(method, f"/v2/images/{image_id}"), 404)
    assert_error(client.get(f"/v2/images/{image_id}/file"), 404)
    assert_error(client.put(f"/v2/images/{image_id}/file", content=b"x"), 404)
    assert_error(patch(client, image_id, []), 404)
    assert_error(client.put(f"/v2/images/{image_id}/tags/t"), 404)


def test_deleted_images_are_gone_everywhere(client: TestClient) -> None:
    image = create(client)
    upload(client, image["id"], b"bytes")
    client.delete(f"/v2/images/{image['id']}")
    assert_error(client.get(f"/v2/images/{image['id']}"), 404)
    assert_error(client.get(f"/v2/images/{image['id']}/file"), 404)
    assert_error(patch(client, image["id"], []), 404)
    assert_error(client.put(f"/v2/images/{image['id']}/tags/t"), 404)
    assert_error(client.post(f"/v2/images/{image['id']}/actions/deactivate"), 404)


def test_announced_size_mismatch_is_refused_and_leaves_nothing(
    client: TestClient, settings: Settings
) -> None:
    image = create(client)
    for announced in ("10", "1000"):
        response = client.put(
            f"/v2/images/{image['id']}/file",
            content=iter([b"x" * 100]),
            headers={"x-openstack-image-size": announced},
        )
        assert_error(response, 400)
        assert_unchanged(client, image)
    assert leftovers(settings) == []


def test_disagreeing_size_headers_are_refused(client: TestClient) -> None:
    image = create(client)
    response = client.put(
        f"/v2/images/{image['id']}/file",
        content=b"x" * 100,
        headers={"x-openstack-image-size": "99"},
    )
    assert_error(response, 400)
    assert_unchanged(client, image)


@pytest.mark.parametrize("size_header", ["-1", "lots", "1e3"])
def test_malformed_size_header(client: TestClient, size_header: str) -> None:
    image = create(client)
    response = client.put(
        f"/v2/images/{image['id']}/file",
        content=b"x",
        headers={"x-openstack-image-size": size_header},
    )
    assert_error(response, 400)
    assert_unchanged(client, image)


@pytest.fixture
def capped(tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(data_dir=tmp_path / "capped", image_size_cap=1000)
    with TestClient(create_app(settings)) as client:
        yield client, settings


def test_a_body_over_the_cap_is_refused(capped: tuple[TestClient, Settings]) -> None:
    client, settings = capped
    image = create(client)
    chunked = client.put(f"/v2/images/{image['id']}/file", content=iter([b"x" * 600] * 2))
    assert_error(chunked, 413)
    announced = client.put(f"/v2/images/{image['id']}/file", content=b"x" * 1001)
    assert_error(announced, 413)
    assert_unchanged(client, image)
    assert leftovers(settings) == []
    upload(client, image["id"], b"x" * 1000)  # the cap itself is allowed


def test_a_store_failure_puts_the_image_back_to_queued(tmp_path: Path) -> None:
    store = FaultyStore("default")
    store.failing_puts = True
    settings = Settings(data_dir=tmp_path / "failing")
    with TestClient(create_app(settings, StoreRegistry({"default": store}, "default"))) as client:
        image = create(client)
        response = client.put(f"/v2/images/{image['id']}/file", content=b"x" * 1000)
        assert_error(response, 507)
        assert_unchanged(client, image)
        assert store.objects == {}
        store.failing_puts = False
        upload(client, image["id"], b"x" * 1000)  # and the upload can be retried


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/v2/images?limit=" + "9" * 5000, {}),
        ("GET", "/v2/images?size_min=" + "9" * 30, {}),
        ("GET", "/v2/images?min_ram=99999999999999999999", {}),
        ("PUT", "/v2/images/{id}/file", {"x-openstack-image-size": "9" * 5000}),
        ("PUT", "/v2/images/{id}/file", {"content-type": "text/plain"}),
    ],
)
def test_absurd_numbers_and_wrong_types_are_client_errors(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    image = create(client)
    response = client.request(method, path.format(id=image["id"]), headers=headers, content=b"x")
    assert 400 <= response.status_code < 500, response.text
    assert_unchanged(client, image)


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"name": "\\ud800"}',
        b'{"custom": "\\udfff"}',
        b'{"tags": ["\\ud800"]}',
        b'{"kernel_id": "not-a-uuid"}',
        b'{"self": "x"}',
        b'{"stores": "x"}',
    ],
)
def test_bodies_that_could_not_be_stored_are_refused(client: TestClient, body: bytes) -> None:
    response = client.post("/v2/images", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert client.get("/v2/images").json()["images"] == []


def test_a_valid_kernel_id_is_kept(client: TestClient) -> None:
    kernel = "5a6b7c8d-0000-4000-8000-000000000001"
    assert create(client, kernel_id=kernel)["kernel_id"] == kernel
