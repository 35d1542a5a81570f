"""An object store that goes away: clean errors, nothing left behind once it is back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.db.engine import Database
from lading.processes import ThisProcess
from lading.services.recovery import Recovery
from lading.settings import Settings, SwiftStoreSettings
from lading.stores.registry import StoreRegistry
from tests.api.helpers import assert_error, create, upload
from tests.faults import Relay, relay_to
from tests.object_servers import SWIFT_KEY, SWIFT_USER, container_keys
from tests.portal import call, services

MiB = 1024 * 1024
# What a later recovery pass takes for abandoned: idle this long. The server itself keeps
# the default threshold, which no upload of a loaded machine's pauses can outlast.
STUCK_AFTER = 0.5
Through = tuple[TestClient, Relay, str, Callable[[], int]]


@pytest.fixture
def through_relay(tmp_path: Path, database_url: str, swift_container: str) -> Iterator[Through]:
    """lading on a Swift store reached through a relay the test can cut, and a recovery
    pass on its catalogue and store that counts what was idle for STUCK_AFTER as
    abandoned, as the server's own passes will once upload_stuck_after has passed."""
    with relay_to(8080) as relay:
        store = SwiftStoreSettings(
            type="swift", auth_url=f"http://127.0.0.1:{relay.port}/auth/v1.0",
            user=SWIFT_USER, key=SWIFT_KEY, container=swift_container,
            prefix=f"{tmp_path.name}/", segment_size=MiB, timeout=2,
        )  # fmt: skip
        settings = Settings(
            data_dir=tmp_path / "data", database_url=database_url, stores={"default": store}
        )
        stores = StoreRegistry.from_settings(settings)
        database = Database(database_url)
        try:
            with TestClient(create_app(settings, stores), base_url="http://lading.test") as client:
                later = Recovery(
                    settings.model_copy(update={"upload_stuck_after": STUCK_AFTER}),
                    database, stores, services(client).catalogue, ThisProcess(),
                )  # fmt: skip
                yield client, relay, tmp_path.name, lambda: call(client, later.run)
        finally:
            database.dispose()


def leftovers(container: str, prefix: str) -> list[str]:
    return [name for name in container_keys(f"{container}_segments") if name.startswith(prefix)]


def test_swift_going_down_mid_upload(through_relay: Through, swift_container: str) -> None:
    client, relay, prefix, recover_later = through_relay
    image = create(client)

    relay.cut_after(2 * MiB + MiB // 2)  # Swift goes down in the middle of segment 3
    response = client.put(f"/v2/images/{image['id']}/file", content=b"x" * (4 * MiB))
    assert_error(response, 503)
    assert client.get(f"/v2/images/{image['id']}").json()["status"] == "queued"
    relay.restore()
    time.sleep(STUCK_AFTER + 0.1)  # the abandoned upload's bytes are now fair game
    recover_later()
    assert leftovers(swift_container, prefix) == []
    upload(client, image["id"], b"z" * (2 * MiB))  # and the store serves again
    assert client.get(f"/v2/images/{image['id']}/file").content == b"z" * (2 * MiB)


def test_swift_down_during_a_download_is_a_clean_error(through_relay: Through) -> None:
    client, relay, _, _ = through_relay
    image = create(client)
    upload(client, image["id"], b"data")
    relay.cut()
    started = time.monotonic()
    assert_error(client.get(f"/v2/images/{image['id']}/file"), 503)
    assert time.monotonic() - started < 10
    counted = 'lading_store_errors_total{code="storeUnavailable"} 1.0'
    assert counted in client.get("/metrics").text  # this app's own metrics, from zero
    relay.restore()
    assert client.get(f"/v2/images/{image['id']}/file").content == b"data"
