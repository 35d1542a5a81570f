"""A method a path does not take: 405 in the face's own error body, with an ``Allow``
that names every method the path takes (RFC 9110, section 15.5.6), not only those of the
first of its routes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error

SOME_ID = "5b7a1e52-3d0c-4c4e-9a56-0f1b2c3d4e5f"
SAME_ORIGIN = {"origin": "http://lading.test"}

# (method, path, every method the path takes)
OPENSTACK_SHAPED = [
    ("POST", f"/v2/images/{SOME_ID}", {"DELETE", "GET", "HEAD", "PATCH"}),
    ("POST", f"/v2/images/{SOME_ID}/file", {"GET", "HEAD", "PUT"}),
    ("POST", f"/v2/images/{SOME_ID}/tags/x", {"DELETE", "PUT"}),
    ("DELETE", "/v2/images", {"GET", "HEAD", "POST"}),
    ("POST", "/packages/spark-app-1.0.tar.gz", {"DELETE", "GET", "HEAD", "PUT"}),
    ("POST", f"/v1/images/{SOME_ID}", {"DELETE", "GET", "HEAD", "PUT"}),
    ("PUT", "/v1/images", {"GET", "HEAD", "POST"}),
    ("GET", "/click/uploads", {"POST"}),
    ("PUT", "/click/download/public/name/1.0/file.click", {"GET", "HEAD"}),
    ("GET", "/api/upload", {"POST"}),
    ("PUT", f"/api/package/{SOME_ID}/files/a/b", {"GET", "HEAD"}),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for the module: a 405 is decided by routing, before any database."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("methods") / "data")
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


def allowed(response: object) -> set[str]:
    header: str = response.headers["allow"]  # type: ignore[attr-defined]
    return {method.strip() for method in header.split(",")}


@pytest.mark.parametrize(("method", "path", "methods"), OPENSTACK_SHAPED)
def test_openstack_shaped_faces_name_every_allowed_method(
    client: TestClient, method: str, path: str, methods: set[str]
) -> None:
    answer = client.request(method, path, headers=SAME_ORIGIN)
    assert_error(answer, 405)
    assert "badMethod" in answer.json()
    assert allowed(answer) == methods
    assert len(answer.headers.get_list("allow")) == 1


def test_visor_names_every_allowed_method_in_its_own_shape(client: TestClient) -> None:
    path = f"/visor/images/{SOME_ID}"
    answer = client.post(path, headers=SAME_ORIGIN)
    assert answer.status_code == 405 and answer.json()["code"] == 405
    assert allowed(answer) == {"DELETE", "GET", "HEAD", "PUT"}
    as_xml = client.post(path, headers={**SAME_ORIGIN, "accept": "application/xml"})
    assert as_xml.status_code == 405 and as_xml.text.startswith("<?xml")
    assert "<code>405</code>" in as_xml.text
    assert allowed(as_xml) == {"DELETE", "GET", "HEAD", "PUT"}


def test_the_web_ui_names_every_allowed_method_on_its_pages(client: TestClient) -> None:
    path = f"/ui/artifacts/{SOME_ID}/delete"
    page = client.put(path, headers=SAME_ORIGIN)
    assert page.status_code == 405 and page.headers["content-type"].startswith("text/html")
    assert allowed(page) == {"GET", "HEAD", "POST"}
    script = client.delete("/ui/upload", headers={**SAME_ORIGIN, "accept": "application/json"})
    assert script.status_code == 405 and script.json()["error"]["code"] == "badMethod"
    assert allowed(script) == {"GET", "HEAD", "POST"}
    static = client.put("/ui/static/lading.css", headers=SAME_ORIGIN)  # files mounted whole
    assert static.status_code == 405 and allowed(static) == {"GET", "HEAD"}


def test_paths_no_route_serves_are_still_not_found(client: TestClient) -> None:
    answer = client.post("/v2/nowhere", headers=SAME_ORIGIN)
    assert_error(answer, 404)
    assert "allow" not in answer.headers
