"""Image metadata over the Glance v2 face: create, show, patch, tags, delete, actions."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error, check_image, create, patch, upload


def test_versions_document_everywhere_clients_look(client: TestClient) -> None:
    for path, status in [("/", 300), ("/versions", 200), ("/v2", 200), ("/v2/", 200)]:
        response = client.get(path)
        assert response.status_code == status
        versions = response.json()["versions"]
        assert any(v["id"].startswith("v2") and v["status"] == "CURRENT" for v in versions)
        assert versions[0]["links"][0]["href"] == "http://lading.test/v2/"
        listed = [version["id"] for version in versions]
        assert listed[:5] == ["v2.12", "v2.11", "v2.10", "v2.9", "v2.7"]  # v2.8: multi-store


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    for response in (client.get("/versions"), client.get("/v2/images/nope")):
        assert response.headers["x-openstack-request-id"].startswith("req-")


def test_create_returns_the_image_and_its_location(client: TestClient) -> None:
    response = client.post(
        "/v2/images",
        json={"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
              "os_distro": "cirros", "tags": ["small", "test"], "min_ram": 64},
    )  # fmt: skip
    assert response.status_code == 201
    image = check_image(client, response.json())
    assert response.headers["location"] == f"http://lading.test/v2/images/{image['id']}"
    assert image["status"] == "queued" and image["visibility"] == "shared"
    assert image["os_distro"] == "cirros" and image["tags"] == ["small", "test"]
    assert image["size"] is None and image["checksum"] is None
    assert client.get(f"/v2/images/{image['id']}").json() == image


def test_create_with_a_chosen_id(client: TestClient) -> None:
    chosen = str(uuid.uuid4())
    assert create(client, id=chosen)["id"] == chosen
    assert_error(client.post("/v2/images", json={"id": chosen}), 409)


def test_patch_adds_replaces_and_removes(client: TestClient) -> None:
    image = create(client, name="before", os_distro="debian")
    response = patch(
        client,
        image["id"],
        [
            {"op": "replace", "path": "/name", "value": "after"},
            {"op": "add", "path": "/owner_specified.openstack~1sha256", "value": "abc"},
            {"op": "add", "path": "/tilde~0name", "value": "t"},
            {"op": "remove", "path": "/os_distro"},
            {"op": "replace", "path": "/tags", "value": ["a", "b"]},
            {"op": "replace", "path": "/min_disk", "value": 3},
            {"op": "replace", "path": "/visibility", "value": "private"},
        ],
    )
    assert response.status_code == 200, response.text
    patched = check_image(client, response.json())
    assert patched["name"] == "after" and patched["min_disk"] == 3
    assert patched["owner_specified.openstack/sha256"] == "abc"
    assert patched["tilde~name"] == "t"
    assert "os_distro" not in patched
    assert patched["tags"] == ["a", "b"] and patched["visibility"] == "private"
    assert client.get(f"/v2/images/{image['id']}").json() == patched


def test_patch_add_on_an_existing_property_replaces_it(client: TestClient) -> None:
    image = create(client, color="red")
    response = patch(client, image["id"], [{"op": "add", "path": "/color", "value": "blue"}])
    assert response.json()["color"] == "blue"


def test_patch_in_the_older_form_of_the_v2_0_media_type(client: TestClient) -> None:
    """Tempest's form: the operation named by the member that holds the path."""
    image = create(client, name="before", os_distro="debian")
    older = {"content-type": "application/openstack-images-v2.0-json-patch"}
    operations = [
        {"replace": "/name", "value": "after"},
        {"add": "/color", "value": "red"},
        {"remove": "/os_distro"},
        {"replace": "/tags", "value": ["a"]},
    ]
    response = client.patch(f"/v2/images/{image['id']}", json=operations, headers=older)
    assert response.status_code == 200, response.text
    patched = check_image(client, response.json())
    assert patched["name"] == "after" and patched["color"] == "red" and patched["tags"] == ["a"]
    assert "os_distro" not in patched
    for wrong in (
        [{"op": "replace", "path": "/name", "value": "x"}],  # 2.1's form under 2.0
        [{"replace": "/name", "add": "/name", "value": "x"}],  # two operations in one
        [{"replace": "/name"}],  # no value
        [{"remove": 7}],  # no pointer
    ):
        assert_error(client.patch(f"/v2/images/{image['id']}", json=wrong, headers=older), 400)
    assert_error(patch(client, image["id"], [{"replace": "/name", "value": "x"}]), 400)
    assert client.get(f"/v2/images/{image['id']}").json() == patched


def test_tags(client: TestClient) -> None:
    image = create(client)
    assert client.put(f"/v2/images/{image['id']}/tags/web").status_code == 204
    assert client.put(f"/v2/images/{image['id']}/tags/web").status_code == 204
    assert client.put(f"/v2/images/{image['id']}/tags/db").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").json()["tags"] == ["db", "web"]
    assert client.delete(f"/v2/images/{image['id']}/tags/web").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").json()["tags"] == ["db"]
    assert_error(client.delete(f"/v2/images/{image['id']}/tags/web"), 404)


def test_delete(client: TestClient) -> None:
    image = create(client)
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    assert_error(client.get(f"/v2/images/{image['id']}"), 404)
    assert_error(client.delete(f"/v2/images/{image['id']}"), 404)
    assert image["id"] not in [i["id"] for i in client.get("/v2/images").json()["images"]]


def test_an_empty_image_id_is_not_found_not_redirected(client: TestClient) -> None:
    """Tempest's show and delete of image ``''``: 404 as Glance answers, never a redirect
    to the listing (which a DELETE must not follow)."""
    create(client)
    for method in ("GET", "DELETE", "PATCH"):
        response = client.request(method, "/v2/images/", follow_redirects=False)
        assert_error(response, 404)
        assert "location" not in response.headers
    assert_error(client.get("/v2/schemas/image/", follow_redirects=False), 404)
    assert len(client.get("/v2/images").json()["images"]) == 1


def test_protected_images_cannot_be_deleted(client: TestClient) -> None:
    image = create(client, protected=True)
    assert_error(client.delete(f"/v2/images/{image['id']}"), 403)
    patch(client, image["id"], [{"op": "replace", "path": "/protected", "value": False}])
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204


def test_deactivate_and_reactivate(client: TestClient) -> None:
    image = create(client)
    actions = f"/v2/images/{image['id']}/actions"
    assert_error(client.post(f"{actions}/deactivate"), 403)  # only an active image
    upload(client, image["id"], b"data")
    assert client.post(f"{actions}/deactivate").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "deactivated"
    assert client.post(f"{actions}/deactivate").status_code == 204
    assert client.post(f"{actions}/reactivate").status_code == 204
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "active"


def test_schemas(client: TestClient) -> None:
    for name in ("image", "images", "member", "members", "task", "tasks"):
        response = client.get(f"/v2/schemas/{name}")
        assert response.status_code == 200 and response.json()["name"] == name
    assert_error(client.get("/v2/schemas/nothing"), 404)


def test_features_that_are_off_answer_as_glance_does(client: TestClient) -> None:
    assert_error(client.get("/v2/info/stores"), 404)


def test_import_methods(client: TestClient) -> None:
    methods = client.get("/v2/info/import").json()["import-methods"]
    assert methods["value"] == ["glance-direct", "web-download"]
    created = client.post("/v2/images", json={"name": "x"})
    assert created.headers["openstack-image-import-methods"] == "glance-direct,web-download"


def test_healthcheck(client: TestClient) -> None:
    response = client.get("/healthcheck")
    assert response.status_code == 200 and response.text == "OK"


def test_any_spelling_of_an_id_finds_the_image(client: TestClient) -> None:
    image = create(client, id="0000000000000000000000000000000A")
    assert image["id"] == "00000000-0000-0000-0000-00000000000a"
    for spelling in ("00000000-0000-0000-0000-00000000000A", "0000000000000000000000000000000a"):
        assert client.get(f"/v2/images/{spelling}").json()["id"] == image["id"]


def test_an_unexpected_failure_is_a_json_500_with_a_request_id(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "broken"))

    async def explode(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, Route("/explode", explode))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/explode")
    assert response.status_code == 500
    assert response.json()["internalError"]["code"] == 500
    assert response.headers["x-openstack-request-id"].startswith("req-")


def test_long_property_values_are_kept_and_found(client: TestClient) -> None:
    long_value = os.urandom(30_000).hex()  # incompressible: no index may choke on it
    image = create(client, notes=long_value)
    assert client.get(f"/v2/images/{image['id']}").json()["notes"] == long_value
    listed = client.get("/v2/images", params={"notes": long_value}).json()["images"]
    assert [found["id"] for found in listed] == [image["id"]]
