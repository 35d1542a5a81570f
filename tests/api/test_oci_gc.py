"""Garbage collection and quotas through the registry face, on a filesystem store and on
Swift, SQLite and PostgreSQL: the blobs a deleted manifest alone named leave the store,
those a manifest names stay; a push past the quota is the spec's error body, 403
``DENIED``, and nothing of it is kept."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, update
from starlette.testclient import TestClient

from lading.app import create_app, create_registry_app
from lading.db.models import blobs, oci_blob_links
from lading.errors import ObjectNotFound
from lading.services.oci import OCI_MANIFEST
from lading.settings import OciSettings, QuotaLimits, QuotaSettings, Settings
from lading.stores.registry import StoreRegistry
from tests.object_servers import swift_store
from tests.services_required import SERVICES
from tests.world import World, open_world

CONFIG, LAYER, OLD_LAYER = b'{"os": "linux"}', b"layer" * 2000, b"old layer" * 1000


def filesystem_store(request: pytest.FixtureRequest, prefix: str) -> None:
    return None  # the default: a filesystem store under data_dir


@pytest.fixture(params=[filesystem_store, pytest.param(swift_store, marks=SERVICES)],
                ids=["filesystem", "swift"])  # fmt: skip
def world_settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    store = request.param(request, tmp_path.name)
    quota = QuotaSettings(projects={"B": QuotaLimits(bytes=15000)})
    data_dir = tmp_path / "data"
    if store is None:
        return Settings(data_dir=data_dir, database_url=database_url, quota=quota)
    return Settings(
        data_dir=data_dir, database_url=database_url, quota=quota, stores={"default": store}
    )


@pytest.fixture
def stores(world_settings: Settings) -> StoreRegistry:
    return StoreRegistry.from_settings(world_settings)


@pytest.fixture
def world(
    world_settings: Settings, identities: Mapping[str, tuple[str, str]], stores: StoreRegistry
) -> Iterator[World]:
    """The app, on stores the test looks into."""
    with open_world(create_app(world_settings, stores), identities) as opened:
        yield opened


@pytest.fixture
def registry(world: World) -> Iterator[Callable[..., Any]]:
    with TestClient(create_registry_app(world.settings), base_url="http://registry.test") as client:

        def request(method: str, path: str, who: str = "owner", **kwargs: Any) -> Any:
            basic = base64.b64encode(f"any:{world.tokens[who]}".encode()).decode()
            headers = {"authorization": f"Basic {basic}", **kwargs.pop("headers", {})}
            return client.request(method, path, headers=headers, **kwargs)

        yield request


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(registry: Callable[..., Any], name: str, data: bytes, who: str = "owner") -> Any:
    return registry(
        "POST", f"/v2/{name}/blobs/uploads/", who, params={"digest": sha256(data)}, content=data
    )


def manifest(*layers: bytes) -> bytes:
    def descriptor(data: bytes) -> dict[str, object]:
        return {"mediaType": "application/octet-stream", "digest": sha256(data),
                "size": len(data)}  # fmt: skip

    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor(CONFIG),
                       "layers": [descriptor(layer) for layer in layers]}).encode()  # fmt: skip


def where(world: World, data: bytes) -> tuple[str, str]:
    engine = create_engine(world.settings.resolved_database_url)
    with engine.connect() as connection:
        row = connection.execute(
            select(blobs.c.store, blobs.c.key).where(blobs.c.sha256 == sha256(data)[7:])
        ).one()
    engine.dispose()
    return row[0], row[1]


def age_links(world: World) -> None:
    """Every link made long ago: past the grace."""
    engine = create_engine(world.settings.resolved_database_url)
    with engine.begin() as connection:
        connection.execute(update(oci_blob_links).values(created_at=datetime(2000, 1, 1)))
    engine.dispose()


def stored(world: World, stores: StoreRegistry, place: tuple[str, str]) -> bool:
    try:
        world.call(stores.get(place[0]).stat, place[1])
    except ObjectNotFound:
        return False
    return True


def test_what_only_a_deleted_manifest_named_leaves_the_store(
    world: World, registry: Callable[..., Any], stores: StoreRegistry
) -> None:
    for data in (CONFIG, LAYER, OLD_LAYER):
        assert push_blob(registry, "team/app", data).status_code == 201
    old = manifest(OLD_LAYER)
    assert registry("PUT", "/v2/team/app/manifests/v1", content=old,
                    headers={"content-type": OCI_MANIFEST}).status_code == 201  # fmt: skip
    assert registry("PUT", "/v2/team/app/manifests/v2", content=manifest(LAYER),
                    headers={"content-type": OCI_MANIFEST}).status_code == 201  # fmt: skip
    old_layer = where(world, OLD_LAYER)
    assert registry("DELETE", f"/v2/team/app/manifests/{sha256(old)}").status_code == 202
    age_links(world)
    collected = world.call(world.services.registry_gc.collect)
    assert [link.digest for link in collected.unlinked] == [sha256(OLD_LAYER)]
    assert collected.freed_bytes == len(OLD_LAYER)
    assert registry("HEAD", f"/v2/team/app/blobs/{sha256(OLD_LAYER)}").status_code == 404
    assert registry("GET", f"/v2/team/app/blobs/{sha256(LAYER)}").content == LAYER
    assert stored(world, stores, where(world, LAYER))
    assert stored(world, stores, where(world, CONFIG))
    assert not stored(world, stores, old_layer)


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    return {"owner": ("A", "member"), "small": ("B", "member")}


def test_a_push_past_the_quota_is_denied_and_a_retry_after_freeing_space_works(
    world: World, registry: Callable[..., Any]
) -> None:
    assert push_blob(registry, "small/app", LAYER, "small").status_code == 201  # 10000 bytes
    refused = push_blob(registry, "small/app", OLD_LAYER, "small")  # 9000 more: past 15000
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "DENIED"
    assert "quota of 15000 bytes" in refused.json()["errors"][0]["message"]
    assert registry("HEAD", f"/v2/small/app/blobs/{sha256(OLD_LAYER)}", "small").status_code == 404
    started = registry("POST", "/v2/small/app/blobs/uploads/", "small")
    assert started.status_code == 202
    chunked = registry("PUT", started.headers["location"], "small",
                       params={"digest": sha256(OLD_LAYER)}, content=OLD_LAYER)  # fmt: skip
    assert chunked.status_code == 403 and chunked.json()["errors"][0]["code"] == "DENIED"
    assert registry("DELETE", f"/v2/small/app/blobs/{sha256(LAYER)}", "small").status_code == 202
    assert push_blob(registry, "small/app", OLD_LAYER, "small").status_code == 201


def test_the_server_sweeps_every_gc_interval(tmp_path: Path, database_url: str) -> None:
    """The API server's background sweep, not only the command: a blob no manifest names,
    past the grace, is unlinked within a few intervals."""
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, oci=OciSettings(gc_interval=1)
    )
    with (
        open_world(create_app(settings)) as world,
        TestClient(create_registry_app(settings), base_url="http://registry.test") as client,
    ):
        basic = base64.b64encode(f"any:{world.tokens['owner']}".encode()).decode()
        headers = {"authorization": f"Basic {basic}"}
        pushed = client.post("/v2/team/app/blobs/uploads/", params={"digest": sha256(LAYER)},
                             content=LAYER, headers=headers)  # fmt: skip
        assert pushed.status_code == 201
        age_links(world)
        blob = f"/v2/team/app/blobs/{sha256(LAYER)}"
        deadline = time.monotonic() + 15
        while client.head(blob, headers=headers).status_code == 200:
            assert time.monotonic() < deadline, "no sweep unlinked the blob"
            time.sleep(0.2)
        assert world.stored_files() == []
