"""Small steps the API tests repeat."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.http_origin import Origin
from tests.json_schemas import conforms

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"disk_format": "raw", "container_format": "bare", **fields}
    response = client.post("/v2/images", json=body)
    assert response.status_code == 201, response.text
    return check_image(client, response.json())


def upload(client: TestClient, image_id: str, data: bytes) -> None:
    response = client.put(
        f"/v2/images/{image_id}/file",
        content=data,
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 204, response.text


def patch(client: TestClient, image_id: str, operations: list[dict[str, Any]]) -> Any:
    return client.patch(
        f"/v2/images/{image_id}", json=operations, headers={"content-type": PATCH_TYPE}
    )


def check_image(client: TestClient, image: dict[str, Any]) -> dict[str, Any]:
    """Every image the server returns must validate against its own schema."""
    conforms(image, client.get("/v2/schemas/image").json())
    return image


def assert_error(response: Any, status: int) -> None:
    """The right status, and an error body the glance CLI can print."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, dict) and len(body) == 1
    (detail,) = body.values()
    assert detail["code"] == status and detail["message"]


@contextlib.contextmanager
def locating(
    tmp_path: Path, database_url: str, origin: Origin, **settings: Any
) -> Iterator[TestClient]:
    """lading with a filesystem store and the http store for external locations, allowed
    to reach ``origin``."""
    configured = Settings(
        data_dir=tmp_path / "data", database_url=database_url, default_store="local",
        stores={"local": {"type": "filesystem"}, "web": {"type": "http"}},
        fetch={"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]},
        **settings,
    )  # fmt: skip
    with TestClient(create_app(configured), base_url="http://lading.test") as client:
        yield client


def routes_of(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, set[str]]]:
    """Every route of an app: its path template (a mount of files: ``{file}``) and methods."""
    for route in routes:
        if isinstance(route, Mount):
            if route.routes:
                yield from routes_of(route.routes, prefix + route.path)
            else:
                yield f"{prefix}{route.path}/{{file}}", {"GET", "HEAD"}
        elif isinstance(route, Route):
            yield prefix + route.path, set(route.methods or ("GET", "HEAD"))
