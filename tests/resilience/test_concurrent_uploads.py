"""50 clients upload different data to one queued image at the same moment: exactly one
gets 204, the 49 others 409 with an error body, and the image holds the winner's bytes."""

from __future__ import annotations

import hashlib
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.helpers import assert_error
from tests.clients.support import create_image
from tests.resilience.conftest import Deployment
from tests.resilience.invariants import Catalogue, wait_until_settled
from tests.resilience.server import LiveServer

CLIENTS = 50
KiB = 1024


@pytest.mark.parametrize("deployment", ["sqlite-filesystem", "postgresql-swift"], indirect=True)
def test_one_upload_wins(deployment: Deployment) -> None:
    server = LiveServer(deployment.root, deployment.settings)
    server.start()
    catalogue = Catalogue(deployment.database_url)
    payloads = [random.randbytes(random.randint(64 * KiB, 512 * KiB)) for _ in range(CLIENTS)]
    start = threading.Barrier(CLIENTS)
    try:
        # One client (one SSL context to build, not 50), a connection for each upload.
        limits = httpx.Limits(max_connections=CLIENTS + 1)
        with httpx.Client(base_url=server.url, timeout=60, limits=limits) as api:
            image_id = create_image(api, "contested")["id"]

            def upload(data: bytes) -> httpx.Response:
                start.wait()
                return api.put(
                    f"/v2/images/{image_id}/file", content=data,
                    headers={"content-type": "application/octet-stream"},
                )  # fmt: skip

            with ThreadPoolExecutor(CLIENTS) as pool:
                answers = list(pool.map(upload, payloads))
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses == [204] + [409] * (CLIENTS - 1), statuses
            for answer in answers:
                if answer.status_code == 409:
                    assert_error(answer, 409)
                    assert "conflict" in answer.json()
            (winner,) = [data for data, a in zip(payloads, answers, strict=True)
                         if a.status_code == 204]  # fmt: skip
            image = api.get(f"/v2/images/{image_id}").json()
            assert image["status"] == "active"
            assert image["os_hash_value"] == hashlib.sha256(winner).hexdigest()
            assert api.get(f"/v2/images/{image_id}/file").content == winner
        wait_until_settled(catalogue, deployment.store, 10)
        assert catalogue.problems(deployment.store) == []  # the losers left no bytes
    finally:
        catalogue.close()
        server.stop()
