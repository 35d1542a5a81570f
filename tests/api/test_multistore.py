"""Several stores at once, as Glance's multi-store: discovery, choice, where data lies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import FilesystemStoreSettings, Settings
from tests.api.helpers import assert_error, check_image, create


@pytest.fixture
def multistore(tmp_path: Path, database_url: str) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        stores={
            "fast": FilesystemStoreSettings(description="SSD"),
            "bulk": FilesystemStoreSettings(description="spinning disks"),
        },
        default_store="fast",
    )
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield client, settings


def objects(settings: Settings, store: str) -> list[Path]:
    return [p for p in settings.store_path(store).rglob("*") if p.is_file()]


def put(client: TestClient, image_id: str, data: bytes, store: str | None = None) -> int:
    headers = {"x-image-meta-store": store} if store else {}
    response = client.put(f"/v2/images/{image_id}/file", content=data, headers=headers)
    return response.status_code


def test_discovery_lists_the_stores(multistore: tuple[TestClient, Settings]) -> None:
    client, _ = multistore
    assert client.get("/v2/info/stores").json() == {
        "stores": [
            {"id": "fast", "description": "SSD", "default": "true"},
            {"id": "bulk", "description": "spinning disks"},
        ]
    }
    versions = client.get("/versions").json()["versions"]
    assert versions[0] == {
        "id": "v2.12", "status": "CURRENT",
        "links": [{"rel": "self", "href": "http://lading.test/v2/"}],
    }  # fmt: skip
    listed = [version["id"] for version in versions]
    assert listed[:6] == ["v2.12", "v2.11", "v2.10", "v2.9", "v2.8", "v2.7"]


def test_the_header_picks_the_store(multistore: tuple[TestClient, Settings]) -> None:
    client, settings = multistore
    body = {"name": "a", "disk_format": "raw", "container_format": "bare"}
    response = client.post("/v2/images", json=body)
    assert response.headers["openstack-image-store-ids"] == "fast,bulk"
    chosen, default = response.json(), create(client)
    assert put(client, chosen["id"], b"to bulk", store="bulk") == 204
    assert put(client, default["id"], b"to the default") == 204
    assert len(objects(settings, "bulk")) == 1 and len(objects(settings, "fast")) == 1
    shown = check_image(client, client.get(f"/v2/images/{chosen['id']}").json())
    assert shown["stores"] == "bulk"
    assert client.get(f"/v2/images/{chosen['id']}/file").content == b"to bulk"
    assert client.get(f"/v2/images/{default['id']}").json()["stores"] == "fast"
    assert "stores" not in create(client)  # no data, nowhere


def test_an_unknown_store_is_refused(multistore: tuple[TestClient, Settings]) -> None:
    client, settings = multistore
    image = create(client)
    response = client.put(
        f"/v2/images/{image['id']}/file", content=b"x", headers={"x-image-meta-store": "tape"}
    )
    assert_error(response, 400)
    assert client.get(f"/v2/images/{image['id']}").json() == image
    assert objects(settings, "fast") == [] and objects(settings, "bulk") == []


def test_identical_bytes_are_shared_within_a_store_only(
    multistore: tuple[TestClient, Settings],
) -> None:
    client, settings = multistore
    images = [create(client) for _ in range(3)]
    for image, store in zip(images, ["fast", "fast", "bulk"], strict=True):
        assert put(client, image["id"], b"same bytes", store=store) == 204
    assert len(objects(settings, "fast")) == 1 and len(objects(settings, "bulk")) == 1


def test_an_empty_store_name_is_refused(multistore: tuple[TestClient, Settings]) -> None:
    client, _ = multistore
    image = create(client)
    assert put(client, image["id"], b"x", store=None) == 204  # no header: the default
    other = create(client)
    response = client.put(
        f"/v2/images/{other['id']}/file", content=b"x", headers={"x-image-meta-store": ""}
    )
    assert_error(response, 400)
