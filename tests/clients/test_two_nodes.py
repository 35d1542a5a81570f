"""Two ``lading serve`` nodes on loopback sharing one PostgreSQL database and one Swift
container, with nginx in front as docs/examples/nginx.conf configures it (round robin for
the API, a cache chosen by ``hash $request_uri consistent`` for public downloads).

Copies stay valid ``COPY_VALID`` here instead of the example's ten minutes, so that the
tests see them expire."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from threading import Event, Thread
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, select, update

from lading.db.engine import Database
from lading.db.models import artifacts, blobs, holders, tasks
from lading.services.identity import Identities
from lading.services.policy import Policy
from tests.clients.cluster import EXAMPLE_CACHE, Front, Node, find_nginx, rewrite, running_front
from tests.clients.conftest import PROJECT, free_port
from tests.clients.support import assert_active_with, create_image, settled, unique
from tests.conftest import scratch_database
from tests.http_origin import SHUTDOWN_POLL, Handler, Origin
from tests.object_servers import SWIFT_KEY, SWIFT_URL, SWIFT_USER
from tests.resilience.invariants import SwiftView
from tests.services_required import unavailable

pytestmark = pytest.mark.clients
MiB = 1024 * 1024
COPY_VALID = 2  # seconds nginx keeps a copy before it asks lading again
DOCS = Path(__file__).parents[2] / "docs"
IMPORTED = os.urandom(2 * MiB + 5)  # what the origin serves to the import that fails over


@dataclass(frozen=True)
class Nodes:
    """Two nodes sharing a database where ``token`` is an admin's; their public endpoint
    is ``front_port``, where the cluster's nginx listens."""

    nodes: tuple[Node, Node]
    token: str
    database_url: str
    root: Path
    front_port: int

    def client(self, url: str) -> httpx.Client:
        return httpx.Client(base_url=url, headers={"X-Auth-Token": self.token}, timeout=30.0)

    def running(self) -> tuple[Node, Node]:
        """Both nodes, the one an earlier test killed started again."""
        for node in self.nodes:
            if node.process is None:
                node.start()
                node.wait_healthy()
        return self.nodes


@dataclass(frozen=True)
class Cluster(Nodes):
    """The nodes and the nginx front."""

    front: Front


class GatedOrigin(Origin):
    """Serves IMPORTED at /gated: the first answer stops halfway until ``release`` is set
    (``started`` says it got there); later answers go as /data does, ranges included."""

    started: Event
    release: Event


class GatedHandler(Handler):
    server: GatedOrigin

    def do_GET(self) -> None:  # noqa: N802 - http.server names it
        if self.path != "/gated":
            return super().do_GET()
        if self.server.release.is_set() or self.server.started.is_set():
            self.path = "/data"
            return super().do_GET()
        half = len(IMPORTED) // 2
        self.send_response(200)
        self.send_header("content-length", str(len(IMPORTED)))
        self.end_headers()
        self.wfile.write(IMPORTED[:half])
        self.wfile.flush()
        self.server.started.set()
        self.server.release.wait(30)
        self.wfile.write(IMPORTED[half:])
        return None


@pytest.fixture(scope="module")
def origin() -> Iterator[GatedOrigin]:
    server = GatedOrigin(("127.0.0.1", 0), GatedHandler)
    server.data, server.ranges, server.authorizations = IMPORTED, [], []
    server.started, server.release = Event(), Event()
    thread = Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


async def admin_token(database_url: str) -> str:
    """Made once, in the shared database: every node accepts it."""
    database = Database(database_url)
    try:
        made = await Identities(database, "default", Policy()).create(PROJECT, "admin")
    finally:
        database.dispose()
    return made.token


HEARTBEAT = 6.0  # the nodes' upload_heartbeat (the default, 30 s, made this test 33 s)


def node_settings(database_url: str, container: str, origin: Origin, front: str) -> dict[str, str]:
    """What every node is given alike, as docs/operations.md ("Scaling out") says."""
    store = {
        "type": "swift", "auth_url": f"{SWIFT_URL}/auth/v1.0", "user": SWIFT_USER,
        "key": SWIFT_KEY, "container": container, "prefix": f"nodes-{uuid.uuid4().hex[:8]}/",
        "segment_size": 5 * MiB,
    }  # fmt: skip
    fetch = f'{{"allowed_hosts": ["127.0.0.1"], "allowed_ports": [{origin.server_address[1]}]}}'
    return {
        "LADING_DATABASE_URL": database_url,
        "LADING_STORES": json.dumps({"default": store}),
        "LADING_SECRET_KEY": secrets.token_hex(32),
        "LADING_PUBLIC_ENDPOINT": front,
        "LADING_FETCH": fetch,
        # A dead node's task is taken over within seconds rather than a minute.
        "LADING_TASK_LEASE": "2",
        "LADING_TASK_POLL_INTERVAL": "0.1",
        "LADING_UPLOAD_HEARTBEAT": str(HEARTBEAT),
    }


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, swift_container: str, origin: GatedOrigin
) -> Iterator[Nodes]:
    root = tmp_path_factory.mktemp("two-nodes")
    front_port = free_port()
    with scratch_database("lading_nodes") as database_url:
        token = anyio.run(admin_token, database_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
        env |= node_settings(
            database_url, swift_container, origin, f"http://127.0.0.1:{front_port}"
        )
        node_1, node_2 = (
            Node(name, env | {"LADING_DATA_DIR": str(root / name)}, root / f"{name}.log")
            for name in ("node-1", "node-2")
        )
        try:
            for node in (node_1, node_2):
                node.start()  # both at once: they start side by side
            for node in (node_1, node_2):
                node.wait_healthy()
            yield Nodes((node_1, node_2), token, database_url, root, front_port)
        finally:
            for node in (node_1, node_2):
                node.stop()


@pytest.fixture(scope="module")
def cluster(nodes: Nodes) -> Iterator[Cluster]:
    nginx = find_nginx()
    if nginx is None:
        unavailable("two nodes behind nginx need nginx", "apt-get install nginx-light")
    upstream = [f"127.0.0.1:{node.port}" for node in nodes.nodes]
    with running_front(
        nginx, nodes.root / "nginx", upstream, f"{COPY_VALID}s", nodes.front_port
    ) as front:
        yield Cluster(
            nodes.nodes, nodes.token, nodes.database_url, nodes.root, nodes.front_port, front
        )


def requests_counted(url: str, route: str) -> float:
    """How many GET ``route`` a node answered 200, from its own /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "lading_http_requests_total"
        and sample.labels.get("route") == route
        and sample.labels.get("method") == "GET"
        and sample.labels.get("status") == "200"
    )


def test_an_upload_to_node_1_downloads_from_node_2_and_through_nginx(cluster: Cluster) -> None:
    node_1, node_2 = cluster.running()
    data = os.urandom(3 * MiB + 7)
    with cluster.client(node_1.url) as one, cluster.client(node_2.url) as two:
        image = create_image(one, unique("two-nodes"), data)
        assert_active_with(image, data)
        assert two.get(f"/v2/images/{image['id']}/file").content == data
    with cluster.client(cluster.front.url) as front:
        assert front.get(f"/v2/images/{image['id']}/file").content == data
        part = front.get(f"/v2/images/{image['id']}/file", headers={"Range": "bytes=5-1048580"})
        assert part.status_code == 206 and part.content == data[5:1048581]
        # Round robin: each node answers its share of the same request.
        route = "/v2/images/{image_id}"
        before = [requests_counted(node.url, route) for node in cluster.nodes]
        for _ in range(6):
            assert front.get(f"/v2/images/{image['id']}").json()["checksum"] == image["checksum"]
        after = [requests_counted(node.url, route) for node in cluster.nodes]
        assert [now - then for now, then in zip(after, before, strict=True)] == [3, 3]
        assert front.get("/metrics").status_code == 404  # each node's, scraped directly


def publish_package(api: httpx.Client) -> tuple[dict[str, Any], bytes]:
    data = os.urandom(MiB + 3)
    name = unique("com.example.cached")
    form = {"name": name, "version": "1.0", "visibility": "public"}
    answer = api.post("/click/uploads", data=form, files={"file": ("app.click", data)})
    assert answer.status_code == 201, answer.text
    package = answer.json()
    assert api.post(f"/click/packages/{package['id']}/publish").status_code == 200
    return package, data


def public_get(front: Front, package: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.get(f"{front.url}{package['downloads']['public']}", headers=headers, timeout=30)


def cache_file(front: Front, package: dict[str, Any]) -> Path:
    """Where nginx keeps a copy: levels=1:2 of the md5 of the key ($request_uri)."""
    key = hashlib.md5(package["downloads"]["public"].encode()).hexdigest()
    return front.cache_dir / key[-1] / key[-3:-1] / key


def purge(front: Front, package: dict[str, Any]) -> None:
    """Run the purge recipe of docs/operations.md on ``front``'s cache."""
    text = (DOCS / "operations.md").read_text()
    recipe = re.search(r"<!-- purge a cached copy -->\n\s*```sh\n(.*?)```", text, re.DOTALL)
    assert recipe is not None
    script = textwrap.dedent(recipe.group(1)).replace(EXAMPLE_CACHE, str(front.cache_dir))
    script = rewrite(script, r"^URI=.*$", f"URI={package['downloads']['public']}")
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], check=True, timeout=10)


def assert_from_cache(response: httpx.Response, asked: float, status: int = 200) -> None:
    """Served from the copy made right after ``asked``: a HIT while it is surely valid;
    later (on a busy machine), a HIT or REVALIDATED (lading said 304)."""
    assert response.status_code == status
    seen = response.headers["x-cache-status"]
    assert seen in (("HIT",) if time.monotonic() < asked + COPY_VALID else ("HIT", "REVALIDATED"))


def test_public_downloads_are_cached_until_unpublished_or_deleted(cluster: Cluster) -> None:
    node_1, node_2 = cluster.running()
    front = cluster.front
    with cluster.client(node_1.url) as one, cluster.client(node_2.url) as two:
        kept, unpublished, deleted, purged = (publish_package(one) for _ in range(4))
        asked = {}  # when each copy was asked for: it is made right after
        for package, data in (kept, unpublished, deleted, purged):
            asked[package["id"]] = time.monotonic()
            first, second = public_get(front, package), public_get(front, package)
            assert (first.status_code, first.headers["x-cache-status"]) == (200, "MISS")
            assert_from_cache(second, asked[package["id"]])
            assert first.content == second.content == data
            assert cache_file(front, package).exists()
        made = time.monotonic()  # every copy is made by now
        part = public_get(front, kept[0], Range="bytes=10-19")
        assert_from_cache(part, asked[kept[0]["id"]], 206)
        assert part.content == kept[1][10:20]

        assert one.post(f"/click/packages/{unpublished[0]['id']}/unpublish").status_code == 200
        assert two.delete(f"/v2/images/{deleted[0]['id']}").status_code == 204
        for package, _ in (unpublished, deleted):
            assert httpx.get(f"{node_2.url}{package['downloads']['public']}").status_code == 404
            # Until its copy expires, the cache still serves it: the documented window.
            answer = public_get(front, package)
            if time.monotonic() < asked[package["id"]] + COPY_VALID:
                assert (answer.status_code, answer.headers["x-cache-status"]) == (200, "HIT")

        # The documented purge, on every cache node (one here): no waiting.
        assert two.delete(f"/v2/images/{purged[0]['id']}").status_code == 204
        purge(front, purged[0])
        assert not cache_file(front, purged[0]).exists()
        gone = public_get(front, purged[0])
        assert (gone.status_code, gone.headers["x-cache-status"]) == (404, "MISS")

        # nginx counts whole seconds: a copy expires COPY_VALID to COPY_VALID + 1 s after
        # it was made.
        time.sleep(max(0.0, made + COPY_VALID + 1.2 - time.monotonic()))
        for package, _ in (unpublished, deleted):
            for _ in range(2):  # the 404 is not cached, and the old copy never served again
                answer = public_get(front, package)
                assert (answer.status_code, answer.headers["x-cache-status"]) == (404, "EXPIRED")
        refreshed = time.monotonic()  # a revalidated copy is valid again from then on
        revalidated = public_get(front, kept[0])
        assert (revalidated.status_code, revalidated.headers["x-cache-status"]) == (
            200, "REVALIDATED",
        )  # fmt: skip
        again = public_get(front, kept[0])
        assert_from_cache(again, refreshed)
        assert revalidated.content == again.content == kept[1]


def attempts_of(database_url: str, task_id: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            attempts = connection.scalar(select(tasks.c.attempts).where(tasks.c.id == task_id))
            assert attempts is not None, task_id
            return int(attempts)
    finally:
        engine.dispose()


def test_a_task_queued_on_node_1_runs_on_node_2_when_node_1_dies(
    cluster: Cluster, origin: GatedOrigin
) -> None:
    node_1, node_2 = cluster.running()
    method = {"method": {"name": "web-download", "uri": origin.url("/gated")}}
    with cluster.client(node_1.url) as one:
        image = create_image(one, unique("failover"))
        # Paused, node 2 cannot claim the task before node 1 does.
        node_2.pause()
        try:
            assert one.post(f"/v2/images/{image['id']}/import", json=method).status_code == 202
            assert origin.started.wait(20), "node 1 never started the import"
            node_1.kill()  # halfway through the origin's answer; started again by the next test
        finally:
            node_2.resume()
    origin.release.set()
    started = time.monotonic()
    with cluster.client(node_2.url) as two:
        assert_active_with(settled(two, image["id"]), IMPORTED)
        (task,) = two.get(f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert task["status"] == "success"
    assert attempts_of(cluster.database_url, task["id"]) == 2  # node 1's, then node 2's
    assert time.monotonic() - started < 15


def upload_of(database_url: str, image_id: str) -> tuple[str | None, str | None]:
    """The holder of the image's upload, and the key its bytes are written to."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            holder = connection.scalar(
                select(artifacts.c.upload_holder).where(artifacts.c.id == image_id)
            )
            key = connection.scalar(
                select(blobs.c.key).where(blobs.c.holder == holder, blobs.c.state == "pending")
            )
            return holder, key
    finally:
        engine.dispose()


def test_a_killed_node_s_upload_is_recovered_by_the_other(nodes: Nodes) -> None:
    """Node 1 is killed mid-upload, as if it ran on another host (node 2 cannot ask that
    host's kernel whether it lives): node 2 puts the image back to queued and removes its
    partial bytes once node 1's last heartbeat is upload_heartbeat old, at its next beat."""
    node_1, node_2 = nodes.running()
    store = json.loads(node_1.env["LADING_STORES"])["default"]
    swift = SwiftView(store["container"], store["prefix"])
    stop = Event()

    def partial_body() -> Iterator[bytes]:
        for _ in range(8):  # a 5 MiB segment in Swift, the rest in node 1's memory
            yield os.urandom(MiB)
        stop.wait(90)
        yield b"never sent"

    def upload(image_id: str) -> None:
        with nodes.client(node_1.url) as sender, suppress(httpx.HTTPError):
            sender.put(f"/v2/images/{image_id}/file", content=partial_body(),
                       headers={"content-type": "application/octet-stream"})  # fmt: skip

    try:
        with nodes.client(node_2.url) as two:
            image = create_image(two, unique("killed-node"))
            Thread(target=upload, args=(image["id"],), daemon=True).start()
            for _ in range(300):
                holder, key = upload_of(nodes.database_url, image["id"])
                segments = [name for name in swift.temporaries() if key and key in name]
                if segments:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("node 1 never sent a segment of the upload")
            node_2.pause()  # so that it sees node 1 only as another host's
            try:
                node_1.kill()
                killed = time.monotonic()
                engine = create_engine(nodes.database_url)
                with engine.begin() as connection:
                    connection.execute(
                        update(holders).where(holders.c.id == holder).values(host="another-host")
                    )
                engine.dispose()
            finally:
                node_2.resume()
            while time.monotonic() - killed < HEARTBEAT + HEARTBEAT / 3 + 10:
                status = two.get(f"/v2/images/{image['id']}").json()["status"]
                if status == "queued":
                    break
                time.sleep(0.2)
            recovered = time.monotonic() - killed
            assert status == "queued", f"still {status} {recovered:.1f} s after the kill"
            assert key is not None  # its segments were found by it
            assert [name for name in swift.temporaries() if key in name] == []
            assert upload_of(nodes.database_url, image["id"]) == (None, None)
            # Within the heartbeat and a beat (6 to 8 s), and some slack for a busy machine.
            assert recovered < HEARTBEAT + HEARTBEAT / 3 + 5
            print(f"node 1 killed mid-upload ({len(segments)} segment in Swift): queued and "
                  f"its bytes gone by node 2 {recovered:.1f} s later")  # fmt: skip
    finally:
        stop.set()
