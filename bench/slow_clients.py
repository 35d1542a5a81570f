"""Slow clients (slowloris) against one server: do normal requests still get answers?

Starts lading (SQLite and a filesystem store, one worker, its default settings unless
``--setting`` says otherwise) on a free loopback port, and ``--connections`` connections
that each send a request at ``--rate`` bytes a second and never finish it: its head
(``--part head``, the classic slowloris) or its body (``--part body``: a head at once,
then an upload of a queued image a byte at a time). A connection the server closes is
opened again at once, as an attacker does, so the server stays under attack for
``--duration`` seconds. Meanwhile a normal client asks for the image list (a new
connection each time, as a client from elsewhere would) ``--probes`` times a second and
notes how long each answer takes.

Prints the answers' p50, p99 and worst latency, how many were answered, what the slow
connections went through (opened, closed by the server, how long they were held) and the
server's resident memory (its processes' sum) before and at most during the attack;
writes the same as JSON (``--report``). Exits 1 when a probe went unanswered or its p99
is over ``--p99-goal`` seconds.

Usage (from the repository root; ``_server.py`` is imported from this directory):

    .venv/bin/python bench/slow_clients.py                        # 2,000 for a minute
    .venv/bin/python bench/slow_clients.py --part body --duration 30
    .venv/bin/python bench/slow_clients.py --setting LADING_SERVER__HEADER_TIMEOUT=30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from _server import MiB, RssSampler, percentile, running_server, temp_dir

CONNECT_AT_ONCE = 100  # connections being opened at one time
CONNECT_TIMEOUT = 10.0  # seconds; a connection that takes longer is counted as refused
PROBE_TIMEOUT = 60.0  # seconds a probe waits for its answer before it counts as unanswered
BODY_LENGTH = 1 << 30  # what a slow upload announces: far more than it will ever send


@dataclass
class SlowStats:
    """What the slow connections went through."""

    opened: int = 0
    refused: int = 0  # could not connect (or not within CONNECT_TIMEOUT)
    closed_by_server: int = 0
    answered: int = 0  # the server answered before closing (e.g. 408)
    open_now: int = 0
    most_open: int = 0
    rss_idle_mib: float = 0.0  # the server's processes, before the attack
    rss_peak_mib: float = 0.0  # and at most during it
    held: list[float] = field(default_factory=list)  # seconds each closed one was held

    def summary(self) -> dict[str, object]:
        held = sorted(self.held)
        return {
            **{k: v for k, v in asdict(self).items() if k != "held"},
            "held_p50_s": round(statistics.median(held), 2) if held else None,
            "held_max_s": round(held[-1], 2) if held else None,
        }


@dataclass
class Probe:
    at: float  # seconds since the attack started
    seconds: float
    status: int | None  # None: no answer (error or timeout)
    error: str = ""


def raise_open_files_limit() -> int:
    """The soft limit on open files, raised to the hard one: each connection is a file."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def slow_request(part: str, host: str, target: str, headers: dict[str, str]) -> tuple[bytes, bytes]:
    """What is sent at once, and what is sent a byte at a time (never all of it)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if part == "silent":  # connects, then sends nothing
        return b"", b""
    if part == "head":  # a head that never ends: the server must give up on it
        head = f"GET /v2/images HTTP/1.1\r\nHost: {host}\r\n{lines}X-Padding: "
        return b"", head.encode() + b"a" * 100_000
    head = (
        f"PUT {target} HTTP/1.1\r\nHost: {host}\r\n{lines}"
        f"Content-Type: application/octet-stream\r\nContent-Length: {BODY_LENGTH}\r\n\r\n"
    )
    return head.encode(), b"a" * 100_000


async def closed(reader: asyncio.StreamReader, seconds: float) -> bool | None:
    """Whether the server closed the connection within ``seconds`` (None: it answered)."""
    try:
        data = await asyncio.wait_for(reader.read(4096), seconds)
    except TimeoutError:
        return False
    return None if data else True


async def hold_one(
    address: tuple[str, int],
    request: tuple[bytes, bytes],
    rate: float,
    deadline: float,
    stats: SlowStats,
    connecting: asyncio.Semaphore,
) -> None:
    """One slow connection, opened again each time the server closes it, until deadline."""
    at_once, trickle = request
    while time.monotonic() < deadline:
        try:
            async with connecting:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*address), CONNECT_TIMEOUT
                )
        except (OSError, TimeoutError):
            stats.refused += 1
            await asyncio.sleep(1)
            continue
        stats.opened += 1
        stats.open_now += 1
        stats.most_open = max(stats.most_open, stats.open_now)
        opened = time.monotonic()
        try:
            writer.write(at_once)
            sent = 0
            while (left := deadline - time.monotonic()) > 0:
                if sent < len(trickle):
                    writer.write(trickle[sent : sent + 1])
                    sent += 1
                    await writer.drain()
                outcome = await closed(reader, min(1 / rate, left))
                if outcome is False:
                    continue
                stats.answered += outcome is None
                stats.closed_by_server += 1
                stats.held.append(time.monotonic() - opened)
                break
        except OSError:  # reset by the server
            stats.closed_by_server += 1
            stats.held.append(time.monotonic() - opened)
        finally:
            stats.open_now -= 1
            writer.close()


async def attack(
    address: tuple[str, int],
    requests: list[tuple[bytes, bytes]],
    rate: float,
    deadline: float,
    stats: SlowStats,
) -> None:
    connecting = asyncio.Semaphore(CONNECT_AT_ONCE)
    async with asyncio.TaskGroup() as group:
        for request in requests:
            group.create_task(hold_one(address, request, rate, deadline, stats, connecting))


def probe(
    url: str, headers: dict[str, str], started: float, deadline: float, every: float
) -> list[Probe]:
    """A normal request every ``every`` seconds on a new connection, until deadline."""
    probes: list[Probe] = []
    while time.monotonic() < deadline:
        begun = time.monotonic()
        try:
            with httpx.Client(headers=headers, timeout=PROBE_TIMEOUT) as client:
                status: int | None = client.get(url).status_code
            error = ""
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        took = time.monotonic() - begun
        probes.append(Probe(round(begun - started, 3), took, status, error))
        time.sleep(max(0.0, every - took))
    return probes


def create_images(url: str, headers: dict[str, str], count: int) -> list[str]:
    """``count`` queued images, their ids."""
    body = {"name": "slow", "disk_format": "raw", "container_format": "bare"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
        return [api.post("/v2/images", json=body).json()["id"] for _ in range(count)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds under attack")
    parser.add_argument("--part", choices=("head", "body", "silent"), default="head")
    parser.add_argument("--rate", type=float, default=1.0, help="bytes a second, each")
    parser.add_argument("--probes", type=float, default=5.0, help="normal requests a second")
    parser.add_argument("--p99-goal", type=float, default=1.0, help="seconds")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--setting", action="append", default=[], metavar="LADING_X=Y",
        help="a setting for the server (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--open", action="store_true",
        help="serve with no token, as on loopback (spares a start of `lading token create`)",
    )  # fmt: skip
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch data directory")
    parser.add_argument("--report", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    settings = dict(item.split("=", 1) for item in args.setting)
    open_files = raise_open_files_limit()
    if open_files < args.connections + 100:
        parser.error(f"{args.connections} connections need more open files than {open_files}")
    with (
        temp_dir(args.data_dir, "lading-slow-") as root,
        running_server(
            root / "data", args.workers, settings=settings, token=not args.open
        ) as server,
    ):
        address = urlsplit(server.base_url)
        assert address.hostname is not None and address.port is not None
        # A slow upload each goes to an image of its own: none is refused as a loser.
        images = create_images(server.base_url, server.headers,
                               args.connections if args.part == "body" else 1)  # fmt: skip
        requests = [
            slow_request(args.part, address.netloc, f"/v2/images/{image}/file", server.headers)
            for image in images
        ] * (args.connections // len(images))
        stats = SlowStats()
        started = time.monotonic()
        deadline = started + args.duration
        probes: list[Probe] = []
        prober = threading.Thread(
            target=lambda: probes.extend(
                probe(f"{server.base_url}/v2/images", server.headers, started, deadline,
                      1 / args.probes)
            )
        )  # fmt: skip
        rss = RssSampler(server, interval=0.5)
        stats.rss_idle_mib = round(rss.rss() / MiB, 1)
        prober.start()
        try:
            with rss:
                asyncio.run(
                    attack((address.hostname, address.port), requests, args.rate, deadline, stats)
                )
        finally:
            prober.join()
        stats.rss_peak_mib = round(rss.overall_peak / MiB, 1)
    return report(args, stats, probes, open_files)


def report(args: argparse.Namespace, stats: SlowStats, probes: list[Probe], open_files: int) -> int:
    answered = [p.seconds for p in probes if p.status == 200]
    p99 = percentile(answered, 0.99) if answered else None
    figures = {
        "connections": args.connections,
        "part": args.part,
        "duration_s": args.duration,
        "settings": args.setting,
        "open_files_limit": open_files,
        "probes": len(probes),
        "answered": len(answered),
        "p50_s": round(percentile(answered, 0.5), 4) if answered else None,
        "p99_s": round(p99, 4) if p99 is not None else None,
        "max_s": round(max(answered), 4) if answered else None,
        "slow": stats.summary(),
        "unanswered": [asdict(p) for p in probes if p.status != 200][:20],
    }
    print(json.dumps(figures, indent=2))
    if args.report:
        timeline = [(p.at, round(p.seconds, 4), p.status) for p in probes]
        args.report.write_text(json.dumps({**figures, "timeline": timeline}, indent=2))
    met = p99 is not None and p99 <= args.p99_goal and len(answered) == len(probes)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
