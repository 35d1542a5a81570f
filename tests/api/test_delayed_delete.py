"""Delayed delete: a deleted artifact is gone for callers at once, its data stays until the
scrubber's delay is over (periodically, or `lading scrub`), shared bytes stay while used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from lading.app import create_app
from lading.cli import main
from lading.settings import Settings
from tests.api.helpers import assert_error, create, upload
from tests.portal import call, services

DATA = b"delayed bytes" * 1000


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url,
                    delayed_delete=True, scrub_delay=3600)  # fmt: skip


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


def stored(settings: Settings) -> list[Path]:
    return [path for path in (settings.data_dir / "stores").rglob("*") if path.is_file()]


def health(client: TestClient) -> int:
    answer = client.get("/healthcheck", headers={"accept": "application/json"}).json()
    reclaimable: int = answer["reclaimable_bytes"]
    return reclaimable


def test_deleted_is_gone_at_once_and_scrubbed_after_the_delay(
    client: TestClient, settings: Settings
) -> None:
    first, second = create(client), create(client)
    upload(client, first["id"], DATA)
    upload(client, second["id"], DATA)  # the same bytes: one stored object, two references
    assert client.delete(f"/v2/images/{first['id']}").status_code == 204
    assert_error(client.get(f"/v2/images/{first['id']}"), 404)
    assert_error(client.delete(f"/v2/images/{first['id']}"), 404)
    listed = [image["id"] for image in client.get("/v2/images").json()["images"]]
    assert listed == [second["id"]]
    assert len(stored(settings)) == 1 and health(client) == len(DATA)
    catalogue = services(client).catalogue
    assert call(client, catalogue.scrub, 3600) == 0  # not yet
    assert call(client, catalogue.scrub, 0) == 1
    assert health(client) == 0
    assert len(stored(settings)) == 1  # still used by the second
    assert client.get(f"/v2/images/{second['id']}/file").content == DATA
    assert client.delete(f"/v2/images/{second['id']}").status_code == 204
    assert client.portal.call(catalogue.scrub, 0) == 1  # type: ignore[union-attr]
    assert stored(settings) == []


def test_lading_scrub_by_hand(client: TestClient, settings: Settings) -> None:
    image = create(client)
    upload(client, image["id"], DATA)
    assert client.delete(f"/v2/images/{image['id']}").status_code == 204
    env = {"LADING_DATA_DIR": str(settings.data_dir),
           "LADING_DATABASE_URL": settings.resolved_database_url}  # fmt: skip
    waited = CliRunner().invoke(main, ["scrub"], env=env)
    assert waited.exit_code == 0, waited.output
    assert "scrubbed 0 artifacts" in waited.output and len(stored(settings)) == 1
    now = CliRunner().invoke(main, ["scrub", "--now"], env=env)
    assert now.exit_code == 0, now.output
    assert f"scrubbed 1 artifacts; {len(DATA)} bytes" in now.output
    assert stored(settings) == []


@pytest.mark.parametrize(("face", "headers"), [
    ("/v1/images", {"x-image-meta-name": "v1", "x-image-meta-disk_format": "raw",
                    "x-image-meta-container_format": "bare"}),
    ("/visor/images", {"x-image-meta-name": "visor"}),
])  # fmt: skip
def test_the_older_faces_delete_with_a_delay_too(
    client: TestClient, settings: Settings, face: str, headers: dict[str, str]
) -> None:
    sent = headers | {"content-type": "application/octet-stream"}
    image = client.post(face, headers=sent, content=DATA).json()["image"]
    image_id = image.get("id") or image["_id"]
    assert client.delete(f"{face}/{image_id}").status_code == 200
    assert client.head(f"{face}/{image_id}").status_code == 404
    assert len(stored(settings)) == 1 and health(client) == len(DATA)  # kept a while
    catalogue = client.app.state.services.catalogue  # type: ignore[attr-defined]
    assert client.portal.call(catalogue.scrub, 0) == 1  # type: ignore[union-attr]
    assert stored(settings) == []
