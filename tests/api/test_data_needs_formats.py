"""Glance v2 takes an image's data only once both its formats are set, as Glance's
domain refuses to leave queued without them; stage is the exception Glance makes (its
import is refused instead). Other faces upload without formats (a package is no disk)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import assert_error, create

OCTETS = {"content-type": "application/octet-stream"}


@pytest.mark.parametrize(
    ("fields", "missing"),
    [
        ({"disk_format": None, "container_format": None}, "disk_format and container_format"),
        ({"disk_format": "raw", "container_format": None}, "container_format"),
        ({"disk_format": None, "container_format": "bare"}, "disk_format"),
    ],
)
def test_an_upload_without_formats_is_400(
    client: TestClient, fields: dict[str, str | None], missing: str
) -> None:
    image = create(client, **fields)
    path = f"/v2/images/{image['id']}"
    refused = client.put(f"{path}/file", content=b"data", headers=OCTETS)
    assert_error(refused, 400)
    assert f"{missing} must be set" in refused.text
    assert client.get(path).json()["status"] == "queued"  # nothing changed
    # Once the formats are set, the same upload goes in.
    patch = [{"op": "replace", "path": f"/{name}", "value": value}
             for name, value in (("disk_format", "raw"), ("container_format", "bare"))]  # fmt: skip
    patched = client.patch(
        path, json=patch, headers={"content-type": "application/openstack-images-v2.1-json-patch"}
    )
    assert patched.status_code == 200, patched.text
    assert client.put(f"{path}/file", content=b"data", headers=OCTETS).status_code == 204
    assert client.get(path).json()["status"] == "active"


def test_a_stage_without_formats_is_taken_but_its_import_is_400(client: TestClient) -> None:
    image = create(client, disk_format=None, container_format=None)
    path = f"/v2/images/{image['id']}"
    assert client.put(f"{path}/stage", content=b"data", headers=OCTETS).status_code == 204
    assert client.get(path).json()["status"] == "uploading"
    refused = client.post(f"{path}/import", json={"method": {"name": "glance-direct"}})
    assert_error(refused, 400)
    assert "disk_format and container_format must be set" in refused.text
    assert client.get(path).json()["status"] == "uploading"
