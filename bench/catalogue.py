"""Catalogue benchmark: list and show latency, and show throughput, over many artifacts.

Starts lading (SQLite, filesystem store, one worker) on a free loopback port in a
scratch directory, loads ``--count`` artifacts with a few properties each, then
measures p50/p99 latency of listing (first page with a property filter, a page ~90%
deep by marker) and of showing one image, and requests per second of show over random
ids (``wrk`` when installed, else httpx with ``--concurrency`` requests in flight).

Usage (from the repository root; ``_server.py`` is imported from this directory):

    .venv/bin/python bench/catalogue.py                        # 100,000 artifacts via HTTP
    .venv/bin/python bench/catalogue.py --direct               # rows written into SQLite
    .venv/bin/python bench/catalogue.py --count 2000 --runs 1 --seconds 2

``--direct`` creates the first artifact over HTTP and copies its row for the others,
written with the ``lading.db.models`` tables into ``<data_dir>/lading.db`` while the
server runs (it has created the schema by then), so the columns cannot drift.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import create_engine, insert, select

from _server import Server, median, percentile, print_table, running_server, temp_dir
from lading.db.models import artifact_properties, artifacts

DISTROS = ("ubuntu", "debian", "fedora", "centos", "rhel", "rocky", "alma", "suse", "arch", "nix")
TIERS = ("gold", "silver", "bronze")


def properties(number: int) -> dict[str, str]:
    return {"os_distro": DISTROS[number % 10], "build": f"b{number:08d}", "tier": TIERS[number % 3]}


def image_body(number: int) -> dict[str, str]:
    return {"name": f"bench-{number}", "disk_format": "raw", "container_format": "bare"}


async def load_http(server: Server, first: int, count: int, concurrency: int) -> None:
    """POST ``count`` images with ``concurrency`` requests in flight."""
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=server.headers, limits=limits, timeout=60
    ) as client:

        async def worker(start: int) -> None:
            for number in range(first + start, first + count, concurrency):
                body = image_body(number) | properties(number)
                response = await client.post("/v2/images", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"create {number}: {response.status_code} {response.text}")

        await asyncio.gather(*(worker(start) for start in range(concurrency)))


def load_direct(server: Server, count: int) -> None:
    """One artifact over HTTP, then ``count - 1`` copies of its row in one transaction."""
    asyncio.run(load_http(server, 0, 1, 1))
    engine = create_engine(f"sqlite:///{server.database}")
    with engine.begin() as connection:
        template = dict(connection.execute(select(artifacts)).mappings().one())
        oldest = template["created_at"] - timedelta(seconds=count)
        rows, props = [], []
        for number in range(1, count):  # created_at rises with number, like the HTTP load
            stamp = oldest + timedelta(milliseconds=number)
            artifact_id = str(uuid.uuid4())
            rows.append(template | {"id": artifact_id, "name": f"bench-{number}"})
            rows[-1] |= {"created_at": stamp, "updated_at": stamp}
            props += [
                {"artifact_id": artifact_id, "name": name, "value": value}
                for name, value in properties(number).items()
            ]
        connection.execute(insert(artifacts), rows)
        connection.execute(insert(artifact_properties), props)
    engine.dispose()


def ids_in_default_order(server: Server) -> list[str]:
    """Every artifact id, newest first: the API's default order (created_at, id desc)."""
    engine = create_engine(f"sqlite:///{server.database}")
    with engine.connect() as connection:
        order = (artifacts.c.created_at.desc(), artifacts.c.id.desc())
        ids = list(connection.execute(select(artifacts.c.id).order_by(*order)).scalars())
    engine.dispose()
    return ids


def latencies(
    client: httpx.Client, paths: Callable[[], str], count: int, warmup: int
) -> list[float]:
    """Milliseconds of ``count`` sequential requests after ``warmup`` unmeasured ones."""
    measured: list[float] = []
    for index in range(warmup + count):
        started = time.perf_counter()
        response = client.get(paths())
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        if index >= warmup:
            measured.append(elapsed * 1000)
    return measured


def check_page(client: httpx.Client, path: str, **expected: str) -> None:
    """A full page whose images match the filter, or the figure measures the wrong thing."""
    images = client.get(path).json()["images"]
    wrong = [image["id"] for image in images if any(image.get(k) != v for k, v in expected.items())]
    if len(images) != 25 or wrong:
        raise RuntimeError(f"{path}: {len(images)} images, {len(wrong)} not matching {expected}")


async def show_rate_httpx(server: Server, ids: list[str], concurrency: int, seconds: float) -> int:
    """Requests completed in ``seconds`` by ``concurrency`` tasks sharing one client."""
    limits = httpx.Limits(max_connections=concurrency)
    deadline = time.monotonic() + seconds
    done = 0
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=server.headers, limits=limits
    ) as client:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                response = await client.get(f"/v2/images/{random.choice(ids)}")
                response.raise_for_status()
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


WRK_SCRIPT = """
ids = {}
for line in io.lines("%s") do ids[#ids + 1] = line end
wrk.headers["X-Auth-Token"] = "%s"
request = function() return wrk.format("GET", "/v2/images/" .. ids[math.random(#ids)]) end
"""


def show_rate_wrk(server: Server, ids: list[str], concurrency: int, seconds: float) -> int:
    """Requests completed in ``seconds`` by wrk with ``concurrency`` connections."""
    id_file, script = server.data_dir.parent / "ids.txt", server.data_dir.parent / "show.lua"
    id_file.write_text("\n".join(ids) + "\n")
    script.write_text(WRK_SCRIPT % (id_file, server.token or ""))
    command = ["wrk", "-t2", f"-c{concurrency}", f"-d{round(seconds)}s", "-s", str(script)]
    output = subprocess.run([*command, server.base_url], capture_output=True, text=True, check=True)
    if "Non-2xx" in output.stdout or "Socket errors" in output.stdout:
        raise RuntimeError(f"wrk saw failures:\n{output.stdout}")
    found = re.search(r"(\d+) requests in", output.stdout)
    if found is None:
        raise RuntimeError(f"no request count in wrk's output:\n{output.stdout}")
    return int(found[1])


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def run(args: argparse.Namespace, scratch: Path) -> None:
    # With a token, as deployed: every request is authenticated.
    with running_server(scratch / "data", workers=args.workers, token=True) as server:
        started = time.perf_counter()
        if args.direct:
            load_direct(server, args.count)
        else:
            asyncio.run(load_http(server, 0, args.count, args.concurrency))
        loaded = time.perf_counter() - started
        mode = "direct SQLite" if args.direct else f"HTTP POST, {args.concurrency} in flight"
        print(f"loaded {args.count} artifacts ({mode}) in {loaded:.1f} s", end="")
        print(f" = {args.count / loaded:.0f}/s")

        ids = ids_in_default_order(server)
        deep = ids[int(len(ids) * 0.88) : int(len(ids) * 0.92)]  # markers ~90% deep
        cases: dict[str, Callable[[], str]] = {
            "list, first page": lambda: "/v2/images?limit=25",
            "list, os_distro=ubuntu": lambda: "/v2/images?limit=25&os_distro=ubuntu",
            "list, marker ~90% deep": lambda: f"/v2/images?limit=25&marker={random.choice(deep)}",
            "show one image": lambda: f"/v2/images/{random.choice(ids)}",
        }
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        rates: list[float] = []
        server_cpu: list[float] = []
        client_cpu: list[float] = []
        use_wrk = shutil.which("wrk") is not None
        with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=30) as client:
            check_page(client, "/v2/images?limit=25&os_distro=ubuntu", os_distro="ubuntu")
            check_page(client, f"/v2/images?limit=25&marker={deep[0]}")
            for _ in range(args.runs):
                for name, path in cases.items():
                    measured = latencies(client, path, args.requests, args.warmup)
                    results[name].append((percentile(measured, 0.5), percentile(measured, 0.99)))
                tree = server.tree()
                before, started = cpu_seconds(tree), time.perf_counter()
                client_before = time.process_time()
                in_flight, seconds = args.show_concurrency, args.seconds
                if use_wrk:
                    done = show_rate_wrk(server, ids, in_flight, seconds)
                else:
                    done = asyncio.run(show_rate_httpx(server, ids, in_flight, seconds))
                elapsed = time.perf_counter() - started
                rates.append(done / elapsed)
                server_cpu.append((cpu_seconds(tree) - before) / elapsed)
                client_cpu.append((time.process_time() - client_before) / elapsed)

    print(
        f"\nlading catalogue, {args.count} artifacts, {args.workers} worker(s), "
        f"median of {args.runs} run(s)\n"
    )
    rows: list[list[Any]] = [
        [name, f"{median([p50 for p50, _ in runs]):.2f}", f"{median([p99 for _, p99 in runs]):.2f}"]
        for name, runs in results.items()
    ]
    print_table(["request (sequential, one client)", "p50 ms", "p99 ms"], rows)
    tool = "wrk" if use_wrk else "httpx"
    print(
        f"\nshow, random ids, {args.show_concurrency} in flight ({tool}, {args.seconds:g} s): "
        f"{median(rates):.0f} req/s (target >= 2000)"
    )
    # Client and server share the CPUs; these say which side was the bottleneck.
    print(f"  CPU during it: server {median(server_cpu):.2f} cores", end="")
    print("" if use_wrk else f", this client {median(client_cpu):.2f} cores", end="")
    print(f"; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print("targets: list p50 < 10 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measurement rounds (median)")
    parser.add_argument("--count", type=int, default=100_000, help="artifacts to load")
    parser.add_argument("--direct", action="store_true", help="load rows straight into SQLite")
    parser.add_argument("--concurrency", type=int, default=32, help="POSTs in flight (load)")
    parser.add_argument("--show-concurrency", type=int, default=16, help="shows in flight")
    parser.add_argument("--requests", type=int, default=500, help="requests per latency figure")
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests first")
    parser.add_argument("--seconds", type=float, default=10.0, help="show throughput duration")
    parser.add_argument("--workers", type=int, default=2, help="lading serve --workers")
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch dir (default /tmp)")
    args = parser.parse_args()
    with temp_dir(args.data_dir, "lading-bench-catalogue-") as scratch:
        run(args, scratch)


if __name__ == "__main__":
    main()
