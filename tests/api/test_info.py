"""Glance's /v2/info/usage and /v2/info/stores/detail."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import FilesystemStoreSettings, HttpStoreSettings, Settings
from tests.api.helpers import assert_error
from tests.portal import call

OCTETS = {"content-type": "application/octet-stream"}


def token(client: TestClient, project: str, role: str) -> dict[str, str]:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    return {"x-auth-token": call(client, identities.create, project, role).token}


def test_usage_counts_the_callers_project_against_its_quotas(
    tmp_path: Path, database_url: str
) -> None:
    quota = {"artifacts": 5, "bytes": 10_000, "projects": {"b": {"artifacts": 1}}}
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, quota=quota)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        a, b = token(client, "a", "reader"), token(client, "a", "member")
        other = token(client, "b", "member")
        body = {"disk_format": "raw", "container_format": "bare"}
        ids = [client.post("/v2/images", json=body, headers=b).json()["id"] for _ in range(3)]
        put = client.put(f"/v2/images/{ids[0]}/file", content=b"x" * 700, headers={**b, **OCTETS})
        assert put.status_code == 204
        staged = client.put(f"/v2/images/{ids[1]}/stage", content=b"y" * 300,
                            headers={**b, **OCTETS})  # fmt: skip
        assert staged.status_code == 204
        client.post("/v2/images", json=body, headers=other)
        usage = client.get("/v2/info/usage", headers=a)
        assert usage.status_code == 200, usage.text
        assert usage.json() == {"usage": {
            "image_size_total": {"limit": 10_000, "usage": 1000},
            "image_count_total": {"limit": 5, "usage": 3},
            "image_stage_total": {"limit": -1, "usage": 300},
            "image_count_uploading": {"limit": -1, "usage": 1},
        }}  # fmt: skip
        theirs = client.get("/v2/info/usage", headers=other).json()["usage"]
        assert theirs["image_count_total"] == {"limit": 1, "usage": 1}
        assert theirs["image_size_total"] == {"limit": -1, "usage": 0}  # its own limits, whole
        assert_error(client.get("/v2/info/usage"), 401)


def test_stores_in_detail_for_administrators_without_credentials(tmp_path: Path) -> None:
    stores = {
        "fast": FilesystemStoreSettings(description="SSD"),
        "web": HttpStoreSettings(type="http"),
    }
    settings = Settings(data_dir=tmp_path / "data", stores=stores, default_store="fast")
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        admin, member = token(client, "ops", "admin"), token(client, "a", "member")
        detail = client.get("/v2/info/stores/detail", headers=admin)
        assert detail.status_code == 200, detail.text
        assert detail.json() == {"stores": [
            {"id": "fast", "type": "file", "description": "SSD", "default": True,
             "read-only": False, "weight": 0,
             "properties": {"datadir": str(settings.store_path("fast"))}},
            {"id": "web", "type": "http", "description": "", "default": False,
             "read-only": True, "weight": 0, "properties": {}},
        ]}  # fmt: skip
        assert_error(client.get("/v2/info/stores/detail", headers=member), 403)


def test_a_single_store_has_no_detail_to_give(tmp_path: Path) -> None:
    with TestClient(
        create_app(Settings(data_dir=tmp_path / "data")), base_url="http://lading.test"
    ) as client:
        assert_error(client.get("/v2/info/stores/detail"), 404)
