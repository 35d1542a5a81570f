"""Soak test: mixed traffic at a fixed concurrency, every byte checked, memory watched.

Starts lading (SQLite and a filesystem store by default, one worker) on a free loopback
port with an admin token, as a deployed server runs, and ``--concurrency`` clients that
each loop for ``--duration`` seconds over operations drawn from a fixed mix (``--seed``):

- upload: create an image and send it, 1 MB to ``--max-size`` (log-uniform), with a
  length or chunked; its ``os_hash_value`` and size must be the ones of what was sent;
- download: a whole image, its sha256 checked against the one of what was sent;
- range: a slice (``a-b``, ``a-`` or ``-n``), checked byte for byte;
- list: a first page (plain, by status, sorted by size, or by tag);
- patch: a property set, and seen in the answer;
- delete: an image nobody is reading, then 404;
- import: web-download from an origin in this process, then checked as an upload.

Nothing sent is kept: content is made from a seed and made again to check a download
(bench/_content.py). Each client starts with one operation of every kind, even past
``--duration``, so that any run covers them all. Stored data stays under ``--max-stored``
(deletes come first above it). The server's RSS (process and workers) is sampled every
``--rss-interval`` seconds.

Prints requests, errors, p50 and p99 latency per kind, and the RSS idle, then under
traffic its first, last and max and its slope (all of it, and its second half, after the
warm-up); writes the same as JSON (``--report``, with the samples and the first errors).
Exits 1 when anything failed. The goal: no errors, and a flat RSS.

Usage (from the repository root; ``_server.py`` and ``_content.py`` are imported from
this directory):

    .venv/bin/python bench/soak.py                               # 10 minutes, up to 1 GiB
    .venv/bin/python bench/soak.py --duration 60 --max-size 64MiB
    .venv/bin/python bench/soak.py --store swift \\
        --postgres postgresql+psycopg://lading:lading@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine, make_url, text

from _content import Content, running_origin
from _server import MiB, Server, percentile, print_table, running_server, temp_dir

KINDS = ("upload", "download", "range", "list", "patch", "delete", "import")
WEIGHTS = (12, 20, 20, 18, 12, 15, 3)  # of KINDS: deletes keep up with uploads and imports
NEEDS_AN_IMAGE = {"download", "range", "patch", "delete"}
SIZE = re.compile(r"^(\d+)\s*(|B|KB|MB|GB|KiB|MiB|GiB)$")
UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
         "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}  # fmt: skip
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
TAG = "soak"
LISTINGS = (
    {"limit": "25"},
    {"limit": "25", "status": "active"},
    {"limit": "25", "sort_key": "size", "sort_dir": "desc"},
    {"limit": "25", "tag": TAG},
)
IMPORT_POLL = 0.2  # seconds between looks at an importing image
FIRST_ERRORS = 50  # error messages kept for the report


def parse_size(text: str) -> int:
    """``"64MiB"``, ``"1MB"``, ``"1048576"``: a size in bytes."""
    found = SIZE.match(text.strip())
    if found is None or int(found[1]) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 64MiB, 1MB or 4096")
    return int(found[1]) * UNITS[found[2]]


class Failed(Exception):
    """An answer that is not what lading promises: counted as an error."""


def expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise Failed(f"{what}: {response.status_code}, not {status}: {response.text[:200]}")


@dataclass
class Image:
    """An image the soak made, and what it must hold."""

    id: str
    content: Content
    sha256: str
    readers: int = 0


class Pool:
    """The images that can be read, patched or deleted; shared by the clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._images: dict[str, Image] = {}
        self.stored = 0  # bytes

    def __len__(self) -> int:
        return len(self._images)

    def add(self, image: Image) -> None:
        with self._lock:
            self._images[image.id] = image
            self.stored += image.content.size

    @contextmanager
    def borrowed(self, rng: random.Random) -> Iterator[Image | None]:
        """An image that will not be deleted while it is borrowed (None: there is none)."""
        with self._lock:
            image = rng.choice(list(self._images.values())) if self._images else None
            if image is not None:
                image.readers += 1
        try:
            yield image
        finally:
            if image is not None:
                with self._lock:
                    image.readers -= 1

    def take(self, rng: random.Random) -> Image | None:
        """An image nobody reads, out of the pool, to delete."""
        with self._lock:
            idle = [image for image in self._images.values() if not image.readers]
            if not idle:
                return None
            image = rng.choice(idle)
            del self._images[image.id]
            self.stored -= image.content.size
            return image


@dataclass
class KindFigures:
    seconds: list[float] = field(default_factory=list)  # of each success
    errors: int = 0
    bytes: int = 0

    def summary(self) -> dict[str, float | int]:
        took = sum(self.seconds)
        return {
            "count": len(self.seconds) + self.errors,
            "errors": self.errors,
            "p50_ms": percentile(self.seconds, 0.50) * 1000 if self.seconds else 0.0,
            "p99_ms": percentile(self.seconds, 0.99) * 1000 if self.seconds else 0.0,
            "bytes": self.bytes,
            "mb_s": self.bytes / 1e6 / took if took and self.bytes else 0.0,
        }


class Recorder:
    """Latencies, bytes and errors by kind, from every client thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kinds = {kind: KindFigures() for kind in KINDS}
        self.errors: list[str] = []

    def done(self, kind: str, seconds: float, moved: int) -> None:
        with self._lock:
            self.kinds[kind].seconds.append(seconds)
            self.kinds[kind].bytes += moved

    def failed(self, kind: str, message: str) -> None:
        with self._lock:
            self.kinds[kind].errors += 1
            if len(self.errors) < FIRST_ERRORS:
                self.errors.append(f"{time.strftime('%H:%M:%S')} {kind}: {message}")


@dataclass(frozen=True)
class Done:
    """What one operation measured: its main request (or, for an import, until active)."""

    seconds: float
    moved: int = 0  # bytes of data sent or received


@dataclass(frozen=True)
class Plan:
    """What every client is told."""

    base_url: str
    token: str
    origin: str
    min_size: int
    max_size: int
    max_stored: int
    concurrency: int
    seed: int


class Client:
    """One of the concurrent clients: its own connection and random sequence."""

    def __init__(self, plan: Plan, pool: Pool, recorder: Recorder, number: int) -> None:
        self.plan, self.pool, self.recorder = plan, pool, recorder
        self.rng = random.Random(f"{plan.seed}-{number}")
        self.first = list(KINDS[number % len(KINDS) :] + KINDS[: number % len(KINDS)])
        timeout = httpx.Timeout(300.0, connect=10.0)
        headers = {"X-Auth-Token": plan.token}
        self.http = httpx.Client(base_url=plan.base_url, headers=headers, timeout=timeout)
        self.operations: dict[str, Callable[[], Done | None]] = {
            "upload": self.upload, "download": self.download, "range": self.range,
            "list": self.list, "patch": self.patch, "delete": self.delete,
            "import": self.import_,
        }  # fmt: skip

    def run(self, deadline: float, stop: threading.Event) -> None:
        with self.http:
            # The first round always ends, however short the run.
            while (self.first or time.monotonic() < deadline) and not stop.is_set():
                kind = self.first.pop(0) if self.first else self.choose()
                try:
                    done = self.operations[kind]()
                except Exception as exc:  # an answer not as promised, or none: counted, and on
                    self.recorder.failed(kind, f"{type(exc).__name__}: {exc}")
                else:
                    if done is not None:
                        self.recorder.done(kind, done.seconds, done.moved)

    def choose(self) -> str:
        if self.pool.stored > self.plan.max_stored:
            return "delete"
        kind = self.rng.choices(KINDS, WEIGHTS)[0]
        if kind in NEEDS_AN_IMAGE and not len(self.pool):
            return "upload"
        if kind == "delete" and len(self.pool) <= self.plan.concurrency:
            return "upload"  # keep some images to read
        return kind

    def new_content(self) -> Content:
        low, high = math.log(self.plan.min_size), math.log(self.plan.max_size)
        size = round(math.exp(self.rng.uniform(low, high)))
        return Content(self.rng.getrandbits(64), max(1, size))

    def create(self, what: str) -> str:
        body = {"name": f"soak-{what}", "disk_format": "raw", "container_format": "bare",
                "tags": [TAG]}  # fmt: skip
        response = self.http.post("/v2/images", json=body)
        expect(response, 201, "create")
        return str(response.json()["id"])

    def check_active(self, image_id: str, content: Content, sha256: str) -> None:
        response = self.http.get(f"/v2/images/{image_id}")
        expect(response, 200, "show")
        image = response.json()
        seen = (image["status"], image["size"], image["os_hash_value"])
        if seen != ("active", content.size, sha256):
            raise Failed(f"image {image_id} is {seen}, not active, {content.size}, {sha256}")

    def upload(self) -> Done:
        content = self.new_content()
        image_id = self.create("upload")
        digest = hashlib.sha256()

        def body() -> Iterator[bytes]:
            for piece in content.chunks():
                digest.update(piece)
                yield piece

        headers = {"content-type": "application/octet-stream"}
        if content.seed % 2:  # else chunked, as the glance CLI sends
            headers["content-length"] = str(content.size)
        started = time.perf_counter()
        response = self.http.put(f"/v2/images/{image_id}/file", content=body(), headers=headers)
        seconds = time.perf_counter() - started
        expect(response, 204, "upload")
        self.check_active(image_id, content, digest.hexdigest())
        self.pool.add(Image(image_id, content, digest.hexdigest()))
        return Done(seconds, content.size)

    def download(self) -> Done | None:
        with self.pool.borrowed(self.rng) as image:
            if image is None:
                return None
            digest, got = hashlib.sha256(), 0
            started = time.perf_counter()
            with self.http.stream("GET", f"/v2/images/{image.id}/file") as response:
                expect(response, 200, "download")
                for piece in response.iter_raw():
                    digest.update(piece)
                    got += len(piece)
            seconds = time.perf_counter() - started
            if (got, digest.hexdigest()) != (image.content.size, image.sha256):
                raise Failed(f"image {image.id}: {got} bytes with sha256 {digest.hexdigest()}, "
                             f"not {image.content.size} with {image.sha256}")  # fmt: skip
            return Done(seconds, got)

    def range(self) -> Done | None:
        with self.pool.borrowed(self.rng) as image:
            if image is None:
                return None
            size = image.content.size
            first = self.rng.randrange(size)
            length = round(math.exp(self.rng.uniform(0, math.log(size - first)))) or 1
            form = self.rng.choice(("closed", "open", "suffix"))
            if form == "open":
                wanted, last = f"bytes={first}-", size - 1
            elif form == "suffix":
                wanted, first, last = f"bytes=-{length}", size - length, size - 1
            else:
                wanted, last = f"bytes={first}-{first + length - 1}", first + length - 1
            digest, got = hashlib.sha256(), 0
            started = time.perf_counter()
            with self.http.stream(
                "GET", f"/v2/images/{image.id}/file", headers={"Range": wanted}
            ) as response:
                expect(response, 206, f"range {wanted} of {size}")
                told = response.headers.get("content-range")
                if told != f"bytes {first}-{last}/{size}":
                    raise Failed(f"range {wanted} of {size}: Content-Range {told}")
                for piece in response.iter_raw():
                    digest.update(piece)
                    got += len(piece)
            seconds = time.perf_counter() - started
            if digest.hexdigest() != image.content.sha256(first, last + 1):
                raise Failed(f"image {image.id}, range {wanted}: other bytes ({got} of them)")
            return Done(seconds, got)

    def list(self) -> Done:
        query = self.rng.choice(LISTINGS)
        started = time.perf_counter()
        response = self.http.get("/v2/images", params=query)
        seconds = time.perf_counter() - started
        expect(response, 200, f"list {query}")
        if len(response.json()["images"]) > int(query["limit"]):
            raise Failed(f"list {query}: more images than the limit")
        return Done(seconds)

    def patch(self) -> Done | None:
        with self.pool.borrowed(self.rng) as image:
            if image is None:
                return None
            value = f"v{self.rng.getrandbits(32):08x}"
            change = [{"op": "add", "path": "/soak_note", "value": value}]
            started = time.perf_counter()
            response = self.http.patch(f"/v2/images/{image.id}", content=json.dumps(change),
                                       headers={"content-type": PATCH_TYPE})  # fmt: skip
            seconds = time.perf_counter() - started
            expect(response, 200, "patch")
            if "soak_note" not in response.json():
                raise Failed(f"patch of {image.id}: soak_note is not in the answer")
            return Done(seconds)

    def delete(self) -> Done | None:
        image = self.pool.take(self.rng)
        if image is None:
            return None
        started = time.perf_counter()
        response = self.http.delete(f"/v2/images/{image.id}")
        seconds = time.perf_counter() - started
        expect(response, 204, "delete")
        expect(self.http.get(f"/v2/images/{image.id}"), 404, "show after delete")
        return Done(seconds)

    def import_(self) -> Done:
        content = self.new_content()
        image_id = self.create("import")
        method = {"method": {"name": "web-download", "uri": self.plan.origin + content.path}}
        started = time.perf_counter()
        response = self.http.post(f"/v2/images/{image_id}/import", json=method)
        expect(response, 202, "import")
        sha256 = content.sha256()  # while lading fetches it
        # A task runs one at a time per process: allow for a queue of big ones.
        deadline = time.monotonic() + 120 + content.size / 10e6
        while True:
            status = self.http.get(f"/v2/images/{image_id}").json()["status"]
            if status not in ("queued", "importing", "saving", "uploading"):
                break
            if status == "queued" and self._import_failed(image_id):
                raise Failed(f"import into {image_id}: {self._task_message(image_id)}")
            if time.monotonic() > deadline:
                raise Failed(f"import into {image_id}: still {status}")
            time.sleep(IMPORT_POLL)
        seconds = time.perf_counter() - started
        self.check_active(image_id, content, sha256)
        self.pool.add(Image(image_id, content, sha256))
        return Done(seconds, content.size)

    def _tasks(self, image_id: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v2/images/{image_id}/tasks")
        expect(response, 200, "tasks")
        tasks: list[dict[str, Any]] = response.json()["tasks"]
        return tasks

    def _import_failed(self, image_id: str) -> bool:
        return any(task["status"] == "failure" for task in self._tasks(image_id))

    def _task_message(self, image_id: str) -> str:
        return "; ".join(task["message"] for task in self._tasks(image_id))


class RssSeries:
    """The server's RSS (process and workers, MiB): once idle, before the traffic, then
    every ``interval`` seconds under it."""

    def __init__(self, server: Server, interval: float) -> None:
        self.server, self.interval = server, interval
        self.idle = 0.0
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MiB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)
        self._started = time.monotonic()

    def __enter__(self) -> RssSeries:
        self.idle = self._rss()
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _rss(self) -> float:
        total = 0
        for process in self.server.tree():
            with suppress(psutil.NoSuchProcess):  # a worker may come and go
                total += process.memory_info().rss
        return total / MiB

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append((time.monotonic() - self._started, self._rss()))

    def summary(self) -> dict[str, float]:
        values = [mib for _, mib in self.samples] or [self.idle]
        return {
            "idle_mib": self.idle,
            "first_mib": values[0],
            "last_mib": values[-1],
            "max_mib": max(values),
            # Under traffic: the first minutes warm up (allocator, caches, connections).
            "slope_mib_per_min": slope(self.samples),
            "slope_second_half_mib_per_min": slope(self.samples[len(self.samples) // 2 :]),
        }


def slope(samples: list[tuple[float, float]]) -> float:
    """Least-squares MiB per minute (0 with fewer than two samples)."""
    if len(samples) < 2:
        return 0.0
    seconds, mib = zip(*samples, strict=True)
    return statistics.linear_regression(seconds, mib).slope * 60


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new PostgreSQL database on ``server_url``'s server, dropped afterwards."""
    url = make_url(server_url)
    name = f"lading_soak_{uuid.uuid4().hex[:8]}"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        engine.dispose()


def server_settings(args: argparse.Namespace, stack: ExitStack, origin: str) -> dict[str, str]:
    port = origin.rsplit(":", 1)[1]
    settings = {"LADING_FETCH": f'{{"allowed_hosts": ["127.0.0.1"], "allowed_ports": [{port}]}}'}
    if args.store == "swift":
        import _swift as swift  # needs a Swift on loopback (scripts/services.sh start)

        settings["LADING_STORES"] = swift.lading_stores(stack.enter_context(swift.scratch()))
    if args.postgres:
        settings["LADING_DATABASE_URL"] = stack.enter_context(scratch_database(args.postgres))
    return settings


def soak(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """Run the traffic; the report as a dict."""
    with ExitStack() as stack:
        origin = stack.enter_context(running_origin())
        settings = server_settings(args, stack, origin)
        server = stack.enter_context(
            running_server(scratch / "data", args.workers, settings=settings, token=True)
        )
        assert server.token is not None
        plan = Plan(server.base_url, server.token, origin, args.min_size, args.max_size,
                    args.max_stored, args.concurrency, args.seed)  # fmt: skip
        pool, recorder, stop = Pool(), Recorder(), threading.Event()
        clients = [Client(plan, pool, recorder, number) for number in range(args.concurrency)]
        rss = stack.enter_context(RssSeries(server, args.rss_interval))
        started = time.monotonic()
        deadline = started + args.duration
        threads = [
            threading.Thread(target=client.run, args=(deadline, stop), name=f"client-{number}")
            for number, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except KeyboardInterrupt:
            stop.set()  # the operations under way finish
            for thread in threads:
                thread.join()
        elapsed = time.monotonic() - started
        stack.close()  # the sampler stops, then the server
    return {
        "settings": {
            "duration_s": args.duration, "concurrency": args.concurrency, "seed": args.seed,
            "min_size": args.min_size, "max_size": args.max_size, "max_stored": args.max_stored,
            "store": args.store, "database": "postgresql" if args.postgres else "sqlite",
            "workers": args.workers,
        },
        "elapsed_s": elapsed,
        "kinds": {kind: figures.summary() for kind, figures in recorder.kinds.items()},
        "errors": recorder.errors,
        "rss": {**rss.summary(), "interval_s": args.rss_interval, "samples": rss.samples},
        "load_average": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }  # fmt: skip


def print_report(report: dict[str, Any], path: Path) -> None:
    settings, kinds = report["settings"], report["kinds"]
    print(
        f"\nlading soak: {report['elapsed_s']:.0f} s, {settings['concurrency']} client(s), "
        f"sizes {settings['min_size']:,} to {settings['max_size']:,} bytes (log-uniform), "
        f"seed {settings['seed']}, {settings['store']} store, {settings['database']}, "
        f"{settings['workers']} worker(s)\n"
    )
    rows = [
        (kind, figures["count"], figures["errors"], f"{figures['p50_ms']:.1f}",
         f"{figures['p99_ms']:.1f}", f"{figures['bytes'] / 1e6:,.0f}",
         f"{figures['mb_s']:.1f}" if figures["mb_s"] else "-")
        for kind, figures in kinds.items()
    ]  # fmt: skip
    total = sum(figures["count"] for figures in kinds.values())
    errors = sum(figures["errors"] for figures in kinds.values())
    rows.append(("total", total, errors, "", "", "", ""))
    print_table(["kind", "requests", "errors", "p50 ms", "p99 ms", "MB moved", "MB/s"], rows)
    rss = report["rss"]
    print(
        f"\nserver RSS (process + workers): idle {rss['idle_mib']:.1f} MiB; under traffic, "
        f"every {rss['interval_s']:g} s: first {rss['first_mib']:.1f}, last {rss['last_mib']:.1f}, "
        f"max {rss['max_mib']:.1f}; slope {rss['slope_mib_per_min']:+.2f} MiB/min "
        f"(second half {rss['slope_second_half_mib_per_min']:+.2f})"
    )
    for message in report["errors"][:10]:
        print(f"error: {message}")
    print(f"load average {report['load_average']:.2f} on {report['cpus']} CPUs; report: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of traffic")
    parser.add_argument("--concurrency", type=int, default=8, help="clients at once")
    parser.add_argument("--min-size", type=parse_size, default="1MB", help="smallest image")
    parser.add_argument("--max-size", type=parse_size, default="1GiB", help="largest image")
    parser.add_argument("--max-stored", type=parse_size, default="8GiB",
                        help="data kept at most; above it, deletes come first")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="of the mix, sizes and content")
    parser.add_argument("--workers", type=int, default=1, help="lading serve --workers")
    parser.add_argument("--store", choices=("filesystem", "swift"), default="filesystem")
    parser.add_argument("--postgres", metavar="URL",
                        help="a PostgreSQL server URL: lading uses a scratch database there "
                             "(default: SQLite)")  # fmt: skip
    parser.add_argument("--rss-interval", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch dir (default /tmp)")
    parser.add_argument("--report", type=Path, default=Path("soak-report.json"),
                        help="where the JSON report goes")  # fmt: skip
    args = parser.parse_args()
    if args.min_size > args.max_size:
        parser.error("--min-size is larger than --max-size")
    with temp_dir(args.data_dir, "lading-soak-") as scratch:
        report = soak(args, scratch)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report, args.report)
    sys.exit(1 if any(figures["errors"] for figures in report["kinds"].values()) else 0)


if __name__ == "__main__":
    main()
