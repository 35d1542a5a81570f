"""/v2/cache and the image cache under downloads: Glance's shapes and policies, the queue
worked in the background, copies served from local disk, and what must never be cached
or served from it."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.errors import StoreError
from lading.settings import Settings
from lading.stores.memory import MemoryStore
from lading.stores.registry import StoreRegistry
from tests.api.helpers import assert_error, create, upload
from tests.object_servers import swift_store
from tests.portal import call
from tests.services_required import SERVICES

DATA = os.urandom(300_000)
WAIT = 10.0  # seconds the queue's worker may take


class ReadFailing(MemoryStore):
    """A memory store whose reads break off after the first chunk, on demand."""

    failing_reads = False

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        async for chunk in super().open(key, start, end):
            yield chunk
            if self.failing_reads:
                raise StoreError(f"store {self.name!r} broke off")


def cache_settings(tmp_path: Path, database_url: str, **cache: Any) -> Settings:
    config = {"enabled": True, "stores": ["default"], "poll_interval": 0.05, **cache}
    return Settings(data_dir=tmp_path / "data", database_url=database_url, image_cache=config)


@pytest.fixture
def remote() -> ReadFailing:
    return ReadFailing("default", chunk_size=64 * 1024)


@pytest.fixture
def client(tmp_path: Path, database_url: str, remote: ReadFailing) -> Iterator[TestClient]:
    """A lading whose default store stands for a remote one: a store in memory, cached."""
    stores = StoreRegistry({"default": remote}, "default")
    app = create_app(cache_settings(tmp_path, database_url), stores)
    with TestClient(app, base_url="http://lading.test") as test_client:
        yield test_client


def token(client: TestClient, project: str, role: str) -> dict[str, str]:
    identities = client.app.state.services.identities  # type: ignore[attr-defined]
    return {"x-auth-token": call(client, identities.create, project, role).token}


def listing(client: TestClient, headers: dict[str, str] | None = None) -> dict[str, Any]:
    answer = client.get("/v2/cache", headers=headers or {})
    assert answer.status_code == 200, answer.text
    return answer.json()


def cached_ids(client: TestClient, headers: dict[str, str] | None = None) -> list[str]:
    return [image["image_id"] for image in listing(client, headers)["cached_images"]]


def wait_cached(client: TestClient, image_id: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for image in listing(client, headers)["cached_images"]:
            if image["image_id"] == image_id:
                return image
        time.sleep(0.05)
    raise AssertionError(f"{image_id} not cached within {WAIT} s")


def uploaded(client: TestClient, data: bytes = DATA, **headers: str) -> str:
    image = create(client)
    upload(client, image["id"], data)
    return str(image["id"])


def test_only_administrators_manage_the_cache(client: TestClient) -> None:
    image = create(client, visibility="public")
    upload(client, image["id"], DATA)
    queued = create(client)
    admin, member = token(client, "ops", "admin"), token(client, "a", "member")
    url = f"/v2/cache/{image['id']}"
    assert_error(client.get("/v2/cache", headers=member), 403)
    assert_error(client.put(url, headers=member), 403)
    assert_error(client.delete(url, headers=member), 403)
    assert_error(client.delete("/v2/cache", headers=member), 403)
    assert listing(client, admin) == {"cached_images": [], "queued_images": []}
    # Unknown ids are 404 before any policy; an image without data cannot be queued.
    assert_error(client.put("/v2/cache/non-existing-image-id", headers=admin), 404)
    assert_error(client.put(f"/v2/cache/{os.urandom(16).hex()}", headers=admin), 404)
    assert_error(client.delete("/v2/cache/non-existing-image-id", headers=admin), 404)
    assert_error(client.put(f"/v2/cache/{queued['id']}", headers=admin), 400)
    wrong = {**admin, "x-image-cache-clear-target": "x"}
    assert_error(client.delete("/v2/cache", headers=wrong), 400)


def test_a_queued_image_is_cached_then_served_from_local_disk(
    client: TestClient, remote: ReadFailing
) -> None:
    admin: dict[str, str] = {}  # open: every caller is an administrator
    image_id = uploaded(client)
    assert client.put(f"/v2/cache/{image_id}", headers=admin).status_code == 202
    shown = wait_cached(client, image_id, admin)
    assert set(shown) == {"image_id", "hits", "last_accessed", "last_modified", "size"}
    assert shown["hits"] == 0 and shown["size"] == len(DATA)
    assert isinstance(shown["last_accessed"], float) and shown["last_modified"] <= time.time()
    assert listing(client, admin)["queued_images"] == []

    remote.objects.clear()  # the remote store lost it: only the cache can answer now
    whole = client.get(f"/v2/images/{image_id}/file")
    assert whole.status_code == 200 and whole.content == DATA
    assert whole.headers["content-md5"] == hashlib.md5(DATA).hexdigest()
    ranged = client.get(f"/v2/images/{image_id}/file", headers={"range": "bytes=100-199"})
    assert ranged.status_code == 206 and ranged.content == DATA[100:200]
    several = client.get(f"/v2/images/{image_id}/file", headers={"range": "bytes=0-1,-2"})
    assert several.status_code == 206 and DATA[-2:] in several.content
    assert wait_cached(client, image_id, admin)["hits"] == 3
    metrics = client.get("/metrics").text
    assert "lading_image_cache_hits_total 3.0" in metrics
    assert f"lading_image_cache_bytes {float(len(DATA))}" in metrics


def test_a_first_download_fills_the_cache(client: TestClient, remote: ReadFailing) -> None:
    admin: dict[str, str] = {}  # open: every caller is an administrator
    image_id = uploaded(client)
    ranged = client.get(f"/v2/images/{image_id}/file", headers={"range": "bytes=0-9"})
    assert ranged.content == DATA[:10]
    assert cached_ids(client, admin) == []  # a part is not the image
    assert client.head(f"/v2/images/{image_id}/file").status_code == 200
    assert cached_ids(client, admin) == []
    assert client.get(f"/v2/images/{image_id}/file").content == DATA
    wait_cached(client, image_id, admin)
    remote.objects.clear()
    assert client.get(f"/v2/images/{image_id}/file").content == DATA
    metrics = client.get("/metrics").text
    assert "lading_image_cache_misses_total 3.0" in metrics
    assert f"lading_image_cache_filled_bytes_total {float(len(DATA))}" in metrics


def test_delete_one_and_clear_by_target(
    tmp_path: Path, database_url: str, remote: ReadFailing
) -> None:
    # The worker looks at the queue only when woken by a PUT: what this test queues
    # straight into the directory stays queued.
    settings = cache_settings(tmp_path, database_url, poll_interval=3600)
    app = create_app(settings, StoreRegistry({"default": remote}, "default"))
    with TestClient(app, base_url="http://lading.test") as client:
        first, second = uploaded(client), uploaded(client, os.urandom(1000))
        for image_id in (first, second):
            client.get(f"/v2/images/{image_id}/file")
            wait_cached(client, image_id, {})
        assert client.delete(f"/v2/cache/{first}").status_code == 204
        assert cached_ids(client) == [second]
        assert_error(client.delete(f"/v2/cache/{os.urandom(16).hex()}"), 404)
        directory = client.app.state.services.image_cache._directory  # type: ignore[attr-defined]
        third = uploaded(client, os.urandom(10))
        directory.queue(third, 10)
        assert listing(client)["queued_images"] == [third]
        assert client.delete(f"/v2/cache/{third}").status_code == 204  # out of the queue
        assert listing(client)["queued_images"] == []

        def clear(target: str | None) -> None:
            headers = {} if target is None else {"x-image-cache-clear-target": target}
            assert client.delete("/v2/cache", headers=headers).status_code == 204

        directory.queue(third, 10)
        clear("queue")
        assert listing(client) == {"cached_images": listing(client)["cached_images"],
                                   "queued_images": []}  # fmt: skip
        assert cached_ids(client) == [second]
        directory.queue(third, 10)
        clear("cache")
        assert listing(client) == {"cached_images": [], "queued_images": [third]}
        client.get(f"/v2/images/{first}/file")
        wait_cached(client, first, {})
        clear("both")
        assert listing(client) == {"cached_images": [], "queued_images": []}
        directory.queue(third, 10)
        clear(None)
        assert listing(client) == {"cached_images": [], "queued_images": []}
        assert [path for path in directory.data.iterdir() if path.is_file()] == []


def test_a_copy_with_other_bytes_is_discarded(client: TestClient, remote: ReadFailing) -> None:
    admin: dict[str, str] = {}  # open: every caller is an administrator
    image_id = uploaded(client)
    (key,) = remote.objects
    remote.objects[key] = bytes(len(DATA))  # same size, other bytes: the store went bad
    assert client.get(f"/v2/images/{image_id}/file").content == bytes(len(DATA))
    assert client.put(f"/v2/cache/{image_id}", headers=admin).status_code == 202
    deadline = time.monotonic() + WAIT
    while listing(client, admin)["queued_images"] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert cached_ids(client, admin) == []
    cache = client.app.state.services.image_cache  # type: ignore[attr-defined]
    assert [path for path in cache._directory.data.iterdir() if path.is_file()] == []
    assert list((cache._directory.root / "incomplete").iterdir()) == []


def test_a_download_cut_off_leaves_nothing_cached(client: TestClient, remote: ReadFailing) -> None:
    admin: dict[str, str] = {}  # open: every caller is an administrator
    image_id = uploaded(client)
    remote.failing_reads = True
    with pytest.raises(RuntimeError):  # the body broke off after its headers were sent
        client.get(f"/v2/images/{image_id}/file")
    remote.failing_reads = False
    assert cached_ids(client, admin) == []
    cache = client.app.state.services.image_cache  # type: ignore[attr-defined]
    assert list((cache._directory.root / "incomplete").iterdir()) == []
    assert client.get(f"/v2/images/{image_id}/file").content == DATA  # and fills now
    wait_cached(client, image_id, admin)


def test_deleted_deactivated_or_changed_images_are_not_served_and_pruned(
    client: TestClient, remote: ReadFailing
) -> None:
    admin: dict[str, str] = {}  # open: every caller is an administrator
    deleted, deactivated = uploaded(client), uploaded(client, os.urandom(5000))
    for image_id in (deleted, deactivated):
        client.get(f"/v2/images/{image_id}/file")
        wait_cached(client, image_id, admin)
    assert client.delete(f"/v2/images/{deleted}").status_code == 204
    assert_error(client.get(f"/v2/images/{deleted}/file"), 404)
    assert client.post(f"/v2/images/{deactivated}/actions/deactivate").status_code == 204
    # An administrator may still read a deactivated image: from its store, not the copy.
    remote.objects.clear()
    assert_error(client.get(f"/v2/images/{deactivated}/file", headers=admin), 503)
    cache = client.app.state.services.image_cache  # type: ignore[attr-defined]
    assert call(client, cache.prune) == 2
    assert cached_ids(client, admin) == []
    # Deleted, it is no longer queued for anyone: 404, as Glance answers.
    assert_error(client.put(f"/v2/cache/{deleted}", headers=admin), 404)


def test_an_unusable_cache_directory_leaves_downloads_to_the_store(
    tmp_path: Path, database_url: str, remote: ReadFailing
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"")
    settings = cache_settings(tmp_path, database_url, directory=str(blocker / "cache"))
    app = create_app(settings, StoreRegistry({"default": remote}, "default"))
    with TestClient(app, base_url="http://lading.test") as client:
        image_id = uploaded(client)
        assert client.get(f"/v2/images/{image_id}/file").content == DATA
        assert client.get(f"/v2/images/{image_id}/file").content == DATA
        assert_error(client.get("/v2/cache"), 503)  # said, never a 500


def test_an_image_larger_than_the_cache_is_served_and_not_cached(
    tmp_path: Path, database_url: str, remote: ReadFailing
) -> None:
    settings = cache_settings(tmp_path, database_url, max_size=len(DATA) - 1)
    app = create_app(settings, StoreRegistry({"default": remote}, "default"))
    with TestClient(app, base_url="http://lading.test") as client:
        image_id = uploaded(client)
        assert client.get(f"/v2/images/{image_id}/file").content == DATA
        time.sleep(0.2)
        assert cached_ids(client) == []


def test_off_the_cache_api_answers_404_and_v2_14_is_not_listed(
    client: TestClient, tmp_path: Path
) -> None:
    versions = [entry["id"] for entry in client.get("/versions").json()["versions"]]
    assert versions[0] == "v2.14"
    with TestClient(
        create_app(Settings(data_dir=tmp_path / "off")), base_url="http://lading.test"
    ) as off:
        assert_error(off.get("/v2/cache"), 404)
        image_id = uploaded(off)
        assert_error(off.put(f"/v2/cache/{image_id}"), 404)
        assert "v2.14" not in [entry["id"] for entry in off.get("/versions").json()["versions"]]
        assert off.get(f"/v2/images/{image_id}/file").content == DATA


def test_filesystem_images_are_not_cached_unless_named(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", image_cache={"enabled": True})
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        image_id = uploaded(client)
        assert client.get(f"/v2/images/{image_id}/file").content == DATA
        assert_error(client.put(f"/v2/cache/{image_id}"), 400)
        assert cached_ids(client) == []


@pytest.fixture
def swift_client(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str
) -> Iterator[TestClient]:
    store = swift_store(request, tmp_path.name)
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, stores={"default": store},
        image_cache={"enabled": True, "poll_interval": 0.05},
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client


@SERVICES  # a store on Swift's S3 API or Swift
def test_a_swift_image_is_served_from_the_cache_the_second_time(swift_client: TestClient) -> None:
    client = swift_client
    image_id = uploaded(client)
    assert client.get(f"/v2/images/{image_id}/file").content == DATA
    assert wait_cached(client, image_id, {})["hits"] == 0
    second = client.get(f"/v2/images/{image_id}/file")
    assert second.content == DATA
    assert wait_cached(client, image_id, {})["hits"] == 1
    ranged = client.get(f"/v2/images/{image_id}/file", headers={"range": "bytes=-5"})
    assert ranged.status_code == 206 and ranged.content == DATA[-5:]
