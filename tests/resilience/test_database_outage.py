"""PostgreSQL goes away for 10 seconds under traffic (the test's relay to it is cut): every
request that needs the catalogue meanwhile fails fast with 503, an error body and
Retry-After, none with 500; once it is back, lading serves normally without a restart, and
its background loops (recovery, tasks) have lived through it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from tests.clients.conftest import fetching_from
from tests.clients.support import RAW, create_image
from tests.faults import Relay, relay_to
from tests.http_origin import Origin, serving
from tests.resilience.conftest import SERVER_LOGS, postgres_database
from tests.resilience.invariants import Catalogue, FilesystemView, wait_until_settled
from tests.resilience.server import LiveServer

OUTAGE = 10.0
SETTLE = 0.5  # seconds around the cut and the restore when either answer is fine
POSTGRES_PORT = 5432
IMPORTED = b"imported once the catalogue is back" * 1000


@dataclass(frozen=True)
class Answer:
    operation: str
    sent: float
    received: float
    status: int  # 0: no answer at all
    body: str
    retry_after: str | None


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(IMPORTED) as server:
        yield server


@pytest.fixture
def through_relay(
    tmp_path: Path, request: pytest.FixtureRequest, origin: Origin
) -> Iterator[tuple[LiveServer, Relay, str]]:
    """A live server whose catalogue, a PostgreSQL database of its own, is reached through
    a relay the test can cut."""
    with postgres_database() as url, relay_to(make_url(url).port or POSTGRES_PORT) as relay:
        relayed = make_url(url).set(port=relay.port).render_as_string(hide_password=False)
        settings = {
            "LADING_DATABASE_URL": relayed,
            "LADING_UPLOAD_STUCK_AFTER": "2",
            **fetching_from(origin),
        }
        request.node.stash[SERVER_LOGS] = [tmp_path / "server.log"]
        # Open (no token): the authentication middleware still asks the catalogue, every
        # second, whether a token exists, so its path meets the outage too.
        server = LiveServer(tmp_path, settings)
        server.start()
        try:
            yield server, relay, url
        finally:
            server.stop()


class Traffic:
    """Clients that keep calling the API, each answer kept with when it was asked."""

    def __init__(self, server: LiveServer, active_id: str) -> None:
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._server, self._active_id = server, active_id
        operations: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = [
            ("list", lambda api: api.get("/v2/images")),
            ("show", lambda api: api.get(f"/v2/images/{self._active_id}")),
            ("download", lambda api: api.get(f"/v2/images/{self._active_id}/file")),
            ("create", self._create),
            ("upload", self._upload),
        ]
        self._threads = [
            threading.Thread(target=self._run, args=operation, daemon=True)
            for operation in operations
        ]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    def wait_for_each(self, since: float, timeout: float = 20.0) -> None:
        """Until every operation has been answered, once sent after ``since``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answered = {answer.operation for answer in list(self.answers) if answer.sent > since}
            if len(answered) == len(self._threads):
                return
            time.sleep(0.05)
        raise AssertionError(f"only {answered} were answered in {timeout} s")

    def _create(self, api: httpx.Client) -> httpx.Response:
        return api.post("/v2/images", json={"name": "outage"})

    def _upload(self, api: httpx.Client) -> httpx.Response:
        created = api.post("/v2/images", json={"name": "outage", **RAW})
        if created.status_code != 201:
            return created

        def body() -> Iterator[bytes]:  # slow enough to be cut off now and then
            for _ in range(8):
                yield b"u" * 65536
                time.sleep(0.02)

        return api.put(
            f"/v2/images/{created.json()['id']}/file", content=body(),
            headers={"content-type": "application/octet-stream"},
        )  # fmt: skip

    def _run(self, name: str, operation: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(base_url=self._server.url, timeout=30) as api:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    response = operation(api)
                except httpx.TransportError as exc:
                    self.answers.append(Answer(name, sent, time.monotonic(), 0, repr(exc), None))
                    continue
                retry_after = response.headers.get("retry-after")
                self.answers.append(Answer(name, sent, time.monotonic(), response.status_code,
                                           response.text, retry_after))  # fmt: skip
                time.sleep(0.02)


def test_the_catalogue_going_away(
    through_relay: tuple[LiveServer, Relay, str], origin: Origin
) -> None:
    server, relay, direct_url = through_relay
    with httpx.Client(base_url=server.url, timeout=30) as api:
        data = b"kept through the outage" * 1000
        image_id = create_image(api, "kept", data)["id"]

        with Traffic(server, image_id) as traffic:
            traffic.wait_for_each(since=0.0)
            cut = time.monotonic()
            relay.cut()
            time.sleep(OUTAGE)
            restored = time.monotonic()
            relay.restore()
            traffic.wait_for_each(since=restored + SETTLE)

        before = [a for a in traffic.answers if a.received < cut]
        during = [a for a in traffic.answers if a.sent > cut + SETTLE and a.received < restored]
        after = [a for a in traffic.answers if a.sent > restored + SETTLE]
        assert before and during and after
        assert {a.status for a in traffic.answers} <= {200, 201, 204, 503}, [
            a for a in traffic.answers if a.status not in (200, 201, 204, 503)
        ]
        assert {a.status for a in before} <= {200, 201, 204}
        refused = [a for a in during if a.status != 503 or not a.retry_after
                   or '"catalogueUnavailable"' not in a.body]  # fmt: skip
        assert not refused, refused[:5]
        assert max(a.received - a.sent for a in during) < 5.0  # fast, not after a long hang
        assert {a.status for a in after} <= {200, 201, 204}, [a for a in after if a.status >= 300]
        first_success = min(a.received for a in traffic.answers
                            if a.sent > restored and a.status < 300)  # fmt: skip

        # The loops lived through it: an import runs as a task, uploads cut off by the
        # outage are recovered, and the image uploaded before is whole.
        imported = api.post("/v2/images", json={"name": "imported", **RAW}).json()["id"]
        method = {"method": {"name": "web-download", "uri": origin.url()}}
        assert api.post(f"/v2/images/{imported}/import", json=method).status_code == 202
        catalogue = Catalogue(direct_url)
        try:
            store = FilesystemView(server.root / "data" / "stores" / "default")
            wait_until_settled(catalogue, store, 15)
            assert catalogue.problems(store) == []
        finally:
            catalogue.close()
        assert api.get(f"/v2/images/{imported}/file").content == IMPORTED
        assert api.get(f"/v2/images/{image_id}/file").content == data
    log = server.log.read_text()
    assert "Traceback" not in log  # waited for, not crashed through
    assert "the catalogue is unavailable" in log and "the catalogue answers again" in log
    print(
        f"{len(during)} answers during the outage, all 503, the slowest in "
        f"{max(a.received - a.sent for a in during):.3f} s; first success "
        f"{first_success - restored:.2f} s after the restore"
    )
