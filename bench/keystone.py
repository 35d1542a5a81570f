"""Keystone benchmark: a cached Keystone token against a lading token, and what a new one costs.

Starts lading (SQLite, filesystem store, ``--workers``, 1 by default as ``lading serve``)
with ``[keystone]`` pointing at the Keystone that ``scripts/services.sh start`` runs on
127.0.0.1:5000, through a small counting proxy on loopback that logs every request
lading makes to Keystone. A member of project alpha (``alpha-member``) creates an image
with a Keystone token; a lading token of the same project and role is made with ``lading
token create``. Then:

- **Round trips.** Each of ``--new-tokens`` fresh Keystone tokens (signed in directly at
  Keystone, so the bench's own sign-ins are not counted) shows the image twice: the first
  request must cost exactly one ``GET /v3/auth/tokens`` and nothing else, the second none.
  A burst of ``--concurrency`` requests with one more new token must cost one too. lading's
  own sign-in is made once, at the first request of all, and shown apart. With
  ``--workers`` above 1 each worker signs in and caches on its own: a new token costs
  one round trip in each worker that meets it.
- **Throughput.** ``GET /v2/images/{id}`` with each token in interleaved rounds (A B B A
  ...) of ``--seconds`` each, on the same ``--concurrency`` keep-alive connections
  throughout, driven by a small asyncio loop (far cheaper per request than an HTTP
  library, so the server is what is measured). The figure is the median over pairs of
  rounds of the ratio keystone/lading of requests per second (target >= 0.90), with the
  server's CPU time per request for each token next to it (the same ratio seen from the
  server's side).
  ``--same-token`` gives both arms the lading token: an A/A run, the noise alone.
- **In-process**, where the machine's other work moves the figures less: microseconds
  per ``Identities.authenticate`` of each known token, and Python function calls per
  request with each (cProfile, an app built in this process on the same data).

Usage (from the repository root, with ``scripts/services.sh start`` run first):

    .venv/bin/python bench/keystone.py
    .venv/bin/python bench/keystone.py --pairs 3 --seconds 2       # a quick look
    .venv/bin/python bench/keystone.py --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import os
import pstats
import subprocess
import threading
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
from starlette.testclient import TestClient

from _server import LADING, Server, median, print_table, running_server, temp_dir
from lading.app import create_app
from lading.db.engine import Database
from lading.services.identity import Identities
from lading.services.keystone import KeystoneTokens
from lading.services.policy import Policy
from lading.settings import Settings

MEMBER, MEMBER_PASSWORD = "alpha-member", "lading-test"  # scripts/services.sh's users
SERVICE_USER, SERVICE_PASSWORD = "lading", "lading"
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",  # httpx has decoded the body
    "host",
}


@dataclass
class CountingProxy:
    """An HTTP/1.1 proxy on loopback in front of Keystone that logs what passes.

    Keystone's catalogue names its own address, which lading would then ask directly:
    the proxy rewrites that address to its own in every answer, so that all of lading's
    requests to Keystone pass here and are counted.
    """

    upstream: str  # Keystone's origin, e.g. http://127.0.0.1:5000
    port: int = 0
    seen: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def take(self) -> list[tuple[str, str, int]]:
        """The requests since the last call, oldest first."""
        with self._lock:
            taken, self.seen = self.seen, []
        return taken

    @contextmanager
    def running(self) -> Iterator[CountingProxy]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        stopping: asyncio.Future[None] = loop.create_future()

        async def serve() -> None:
            handlers: set[asyncio.Task[Any]] = set()  # connections lading keeps alive
            async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as upstream:

                async def handle(
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                ) -> None:
                    task = asyncio.current_task()
                    assert task is not None
                    handlers.add(task)
                    try:
                        while await self._one(reader, writer, upstream):
                            pass
                    # Cancelled: the proxy stops. Ended quietly, or asyncio's stream
                    # callback logs the cancellation as an error.
                    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
                        pass
                    finally:
                        handlers.discard(task)
                        writer.close()

                server = await asyncio.start_server(handle, "127.0.0.1", 0)
                self.port = server.sockets[0].getsockname()[1]
                started.set()
                async with server:
                    await stopping
                    for task in list(handlers):
                        task.cancel()
                    await asyncio.gather(*handlers, return_exceptions=True)

        def serving() -> None:
            try:
                loop.run_until_complete(serve())
            finally:
                loop.close()

        thread = threading.Thread(target=serving, daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the counting proxy did not start")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stopping.set_result, None)
            thread.join(10)

    async def _one(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: httpx.AsyncClient,
    ) -> bool:
        """Pass one request on; False when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise ConnectionError("chunked requests are not expected from keystoneauth")
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        forwarded = {k: v for k, v in headers.items() if k not in HOP_BY_HOP}
        response = await upstream.request(method, target, headers=forwarded, content=body)
        with self._lock:
            self.seen.append((method, urlsplit(target).path, response.status_code))
        content = response.content.replace(self.upstream.encode(), self.origin.encode())
        out = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
        out += [f"{k}: {v}" for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP]
        out.append(f"content-length: {len(content)}")
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + content)
        await writer.drain()
        return headers.get("connection", "").lower() != "close"


def keystone_token(keystone_url: str, user: str, password: str, project: str) -> tuple[str, str]:
    """A new project-scoped token signed in directly at Keystone, and the project's id."""
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}},
        }
    }
    response = httpx.post(f"{keystone_url}/auth/tokens", json=body, timeout=30)
    response.raise_for_status()
    return response.headers["X-Subject-Token"], response.json()["token"]["project"]["id"]


def lading_token(server: Server, project: str) -> str:
    command = [str(LADING), "token", "create", "--project", project, "--role", "member"]
    env = {**os.environ, "LADING_DATA_DIR": str(server.data_dir)}
    made = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return made.stdout.splitlines()[-1]


def described(requests: list[tuple[str, str, int]]) -> str:
    """The requests in order, repeats in a row counted: "POST /v3/auth/tokens 201, GET ... x3"."""
    runs = [(request, len(list(group))) for request, group in itertools.groupby(requests)]
    texts = [f"{m} {p} {s}" + (f" x{n}" if n > 1 else "") for (m, p, s), n in runs]
    return ", ".join(texts) or "none"


def show(client: httpx.Client, image_id: str, token: str) -> float:
    """Milliseconds to show the image with ``token`` (on ``client``'s kept-alive connection)."""
    started = time.perf_counter()
    response = client.get(f"/v2/images/{image_id}", headers={"X-Auth-Token": token})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"show with a token: {response.status_code} {response.text}")
    return elapsed


def validation_ms(client: httpx.Client, subject: str, admin: str) -> float:
    """Milliseconds of one ``GET /v3/auth/tokens`` made directly at Keystone: what a round
    trip from lading costs at least."""
    headers = {"X-Auth-Token": admin, "X-Subject-Token": subject}
    started = time.perf_counter()
    client.get("/v3/auth/tokens", headers=headers).raise_for_status()
    return (time.perf_counter() - started) * 1000


@dataclass
class RoundTrips:
    first_of_all: list[tuple[str, str, int]]
    new_token: list[list[tuple[str, str, int]]]
    cached: list[list[tuple[str, str, int]]]
    burst: list[tuple[str, str, int]]
    first_ms: list[float]
    cached_ms: list[float]
    direct_ms: list[float]  # a validation of another new token asked directly at Keystone

    def held(self, workers: int) -> bool:
        """One validation for a new token's first request and none for the next on the same
        connection (so the same worker); a burst over several connections reaches at most
        every worker, each asking once. Each worker signs in once, at the first request it
        gets with a new token, so with several workers a sign-in may come first."""
        validation, sign_in = ("GET", "/v3/auth/tokens", 200), ("POST", "/v3/auth/tokens", 201)
        phases = [*self.new_token, *self.cached, self.burst]
        sign_ins = sum(trips.count(sign_in) for trips in phases)
        new, cached, burst = (
            [[t for t in trips if t != sign_in] for trips in group]
            for group in (self.new_token, self.cached, [self.burst])
        )
        return (
            all(trips == [validation] for trips in new)
            and all(trips == [] for trips in cached)
            and 1 <= burst[0].count(validation) == len(burst[0]) <= workers
            and sign_ins <= workers - 1  # the first worker signed in at the first request
        )


def round_trips(
    server: Server, proxy: CountingProxy, keystone_url: str, image_id: str, args: argparse.Namespace
) -> RoundTrips:
    new_token, cached, first_ms, cached_ms, direct_ms = [], [], [], [], []
    admin, _ = keystone_token(keystone_url, "admin", "keystone-admin", "admin")
    with (
        httpx.Client(base_url=server.base_url, timeout=30) as client,
        httpx.Client(base_url=keystone_url.rsplit("/v3", 1)[0], timeout=30) as direct,
    ):
        for _ in range(args.new_tokens):
            # A token of its own: Keystone may remember one it has validated.
            other, _ = keystone_token(keystone_url, MEMBER, MEMBER_PASSWORD, "alpha")
            direct_ms.append(validation_ms(direct, other, admin))
            token, _ = keystone_token(keystone_url, MEMBER, MEMBER_PASSWORD, "alpha")
            proxy.take()
            first_ms.append(show(client, image_id, token))
            new_token.append(proxy.take())
            cached_ms.append(show(client, image_id, token))
            cached.append(proxy.take())

    token, _ = keystone_token(keystone_url, MEMBER, MEMBER_PASSWORD, "alpha")
    proxy.take()

    async def burst() -> None:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            path, headers = f"/v2/images/{image_id}", {"X-Auth-Token": token}
            responses = await asyncio.gather(
                *(client.get(path, headers=headers) for _ in range(args.concurrency))
            )
        if any(r.status_code != 200 for r in responses):
            raise RuntimeError(f"burst: {sorted({r.status_code for r in responses})}")

    asyncio.run(burst())
    return RoundTrips([], new_token, cached, proxy.take(), first_ms, cached_ms, direct_ms)


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def get(connection: Connection, request: bytes) -> None:
    """Send ``request`` and read its answer whole; any answer but 200 stops the benchmark
    (a refused token would measure the wrong thing)."""
    reader, writer = connection
    writer.write(request)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
    length = None
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length is None:  # lading sends a show's JSON whole, with its length
        raise RuntimeError(f"load: no Content-Length: {head.decode('latin-1')}")
    await asyncio.wait_for(reader.readexactly(length), 30)
    if head[9:12] != b"200":
        raise RuntimeError(f"load: {head.decode('latin-1')}")


async def load(connections: list[Connection], request: bytes, seconds: float) -> int:
    """Responses completed in ``seconds``, each connection sending ``request`` again as soon
    as the previous answer has been read."""
    deadline = time.monotonic() + seconds
    done = 0

    async def one(connection: Connection) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await get(connection, request)
            done += 1

    await asyncio.gather(*(one(connection) for connection in connections))
    return done


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


@dataclass
class Round:
    rate: float  # requests per second
    server_cpu_ms: float  # the server's CPU milliseconds per request


@dataclass
class Load:
    rounds: dict[str, list[Round]]
    seconds: float  # from the end of the warm-up to the end of the last round
    round_trips: list[tuple[str, str, int]]  # lading's requests to Keystone meanwhile


async def rounds_of(
    server: Server,
    proxy: CountingProxy,
    image_id: str,
    tokens: dict[str, str],
    args: argparse.Namespace,
) -> Load:
    """``args.pairs`` rounds of each token, A B then B A, on the same ``args.concurrency``
    connections throughout: the token is a header, so both tokens meet the same
    connections, spread over the workers the same way."""
    port = int(server.base_url.rsplit(":", 1)[1])
    requests = {
        name: (
            f"GET /v2/images/{image_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"X-Auth-Token: {token}\r\nAccept: application/json\r\n\r\n"
        ).encode()
        for name, token in tokens.items()
    }
    connections = [
        await asyncio.open_connection("127.0.0.1", port) for _ in range(args.concurrency)
    ]
    tree = server.tree()
    rounds: dict[str, list[Round]] = {name: [] for name in tokens}
    try:
        # Warm: every worker that holds a connection knows both tokens before timing.
        for request in requests.values():
            await asyncio.gather(*(get(connection, request) for connection in connections))
            await load(connections, request, 1.0)
        proxy.take()
        began = time.monotonic()
        for pair in range(args.pairs):
            # A B, then B A: a drift in the machine's load cancels out over pairs.
            for name in sorted(tokens, reverse=pair % 2 == 1):
                before, started = cpu_seconds(tree), time.perf_counter()
                done = await load(connections, requests[name], args.seconds)
                elapsed = time.perf_counter() - started
                server_ms = (cpu_seconds(tree) - before) * 1000 / done
                rounds[name].append(Round(done / elapsed, server_ms))
        return Load(rounds, time.monotonic() - began, proxy.take())
    finally:
        for _, writer in connections:
            writer.close()


def authentication_us(
    server: Server, keystone: dict[str, str], tokens: dict[str, str], args: argparse.Namespace
) -> dict[str, list[float]]:
    """Microseconds per ``Identities.authenticate`` of each (known) token, in this process,
    on the server's database: the step that differs between the two, without HTTP, the
    rest of the request or the machine's other work between the rounds' measurements."""
    settings = Settings(data_dir=server.data_dir, keystone=keystone)
    database = Database(settings.resolved_database_url)
    policy = Policy.load(settings.policy_file, settings.property_protection_file)
    keystone_tokens = KeystoneTokens(settings.keystone, policy, settings.default_project)
    identities = Identities(database, settings.default_project, policy, keystone_tokens)
    costs: dict[str, list[float]] = {name: [] for name in tokens}

    async def timed() -> None:
        for token in tokens.values():  # known from here on: Keystone asked once, a row read
            await identities.authenticate(token)
        for pair in range(args.pairs):
            for name in sorted(tokens, reverse=pair % 2 == 1):
                token, calls = tokens[name], args.auth_calls
                started = time.perf_counter()
                for _ in range(calls):
                    await identities.authenticate(token)
                costs[name].append((time.perf_counter() - started) * 1e6 / calls)

    try:
        asyncio.run(timed())
    finally:
        database.engine.dispose()
    return costs


def calls_per_request(
    data_dir: Path, keystone: dict[str, str], tokens: dict[str, str], image_id: str, count: int
) -> dict[str, float]:
    """Python function calls per ``GET /v2/images/{id}`` with each token, counted by cProfile
    on the event loop's thread of an app built in this process on the same data: unlike a
    time, a count the machine's other work cannot move, so it shows what the two tokens'
    requests do differently (database reads run on other threads, the same for both)."""
    app = create_app(Settings(data_dir=data_dir, keystone=keystone))
    path = f"/v2/images/{image_id}"

    async def profiled(token: str, profile: cProfile.Profile | None) -> None:
        headers = [(b"host", b"127.0.0.1"), (b"x-auth-token", token.encode())]
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        if profile is not None:
            profile.enable()
        for _ in range(count):
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                "query_string": b"", "root_path": "", "headers": headers, "state": {},
                "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
            }  # fmt: skip
            await app(scope, receive, send)
        if profile is not None:
            profile.disable()
        if set(statuses) != {200}:
            raise RuntimeError(f"in-process show: {sorted(set(statuses))}")

    calls: dict[str, float] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:  # runs the app's lifespan
        assert client.portal is not None
        for name, token in tokens.items():
            client.portal.call(profiled, token, None)  # warm: the token known, caches full
            profile = cProfile.Profile()
            client.portal.call(profiled, token, profile)
            calls[name] = pstats.Stats(profile).total_calls / count  # type: ignore[attr-defined]
    return calls


def run(args: argparse.Namespace, scratch: Path) -> None:
    keystone_url = args.keystone_url.rstrip("/")
    parts = urlsplit(keystone_url)
    try:
        httpx.get(keystone_url, timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        message = f"no Keystone at {keystone_url} ({exc}): run scripts/services.sh start"
        raise SystemExit(message) from exc
    proxy = CountingProxy(f"{parts.scheme}://{parts.netloc}")
    with proxy.running():
        settings = {
            "LADING_KEYSTONE__AUTH_URL": f"{proxy.origin}{parts.path}",
            "LADING_KEYSTONE__USERNAME": SERVICE_USER,
            "LADING_KEYSTONE__PASSWORD": SERVICE_PASSWORD,
            "LADING_KEYSTONE__CACHE_SECONDS": str(args.cache_seconds),
        }
        with running_server(scratch / "data", workers=args.workers, settings=settings) as server:
            keystone, project_id = keystone_token(keystone_url, MEMBER, MEMBER_PASSWORD, "alpha")
            proxy.take()
            body = {"name": "bench-keystone", "disk_format": "raw", "container_format": "bare"}
            created = httpx.post(
                f"{server.base_url}/v2/images",
                json=body,
                headers={"X-Auth-Token": keystone},
                timeout=30,
            )
            if created.status_code != 201:
                raise RuntimeError(f"create: {created.status_code} {created.text}")
            first_of_all = proxy.take()
            image_id = created.json()["id"]
            if created.json()["owner"] != project_id:
                raise RuntimeError(f"owner {created.json()['owner']}, not project {project_id}")
            lading = lading_token(server, project_id)

            trips = round_trips(server, proxy, keystone_url, image_id, args)
            trips.first_of_all = first_of_all

            tokens = {"keystone": lading if args.same_token else keystone, "lading": lading}
            loaded = asyncio.run(rounds_of(server, proxy, image_id, tokens, args))
            keystone_settings = {
                name.removeprefix("LADING_KEYSTONE__").lower(): value
                for name, value in settings.items()
            }
            auth = authentication_us(server, keystone_settings, tokens, args)
        # The server has stopped: its data is the in-process app's alone.
        calls = calls_per_request(
            scratch / "data", keystone_settings, tokens, image_id, args.profile_requests
        )

    report(args, trips, loaded, auth, calls)


def report(
    args: argparse.Namespace,
    trips: RoundTrips,
    loaded: Load,
    auth: dict[str, list[float]],
    calls: dict[str, float],
) -> None:
    rounds = loaded.rounds
    print(f"\nlading with Keystone, {args.workers} worker(s), cache_seconds {args.cache_seconds:g}")
    if args.same_token:
        print("--same-token: the keystone arm below uses the lading token too (A/A)")
    print("\nKeystone round trips (requests lading made to Keystone, through the proxy)")
    print(f"  first request of all (lading signs in): {described(trips.first_of_all)}")
    for index, (new, cached) in enumerate(zip(trips.new_token, trips.cached, strict=True)):
        print(f"  new token {index + 1}: first request: {described(new)}", end="")
        print(f"; the same token again: {described(cached)}")
    print(f"  new token, {args.concurrency} requests at once: {described(trips.burst)}")
    print(f"  during {loaded.seconds:.0f} s of load with known tokens: ", end="")
    print(described(loaded.round_trips))
    each = "" if args.workers == 1 else " (in each worker it reaches)"
    held = "yes" if trips.held(args.workers) else "NO"
    print(f"  one round trip per new token{each}, none when cached: {held}")
    print(
        f"  show with a new token: {median(trips.first_ms):.1f} ms, the same token again: "
        f"{median(trips.cached_ms):.1f} ms (medians of {len(trips.first_ms)}, one connection); "
        f"Keystone's GET /v3/auth/tokens asked directly: {median(trips.direct_ms):.1f} ms"
    )

    ratios = [k.rate / g.rate for k, g in zip(rounds["keystone"], rounds["lading"], strict=True)]
    cpu_ratios = [
        k.server_cpu_ms / g.server_cpu_ms
        for k, g in zip(rounds["keystone"], rounds["lading"], strict=True)
    ]
    print(
        f"\nshow one image, {args.concurrency} keep-alive connections, {args.pairs} pairs of "
        f"{args.seconds:g} s rounds, interleaved\n"
    )
    rows: list[list[Any]] = []
    for name in ("keystone", "lading"):
        rates = [r.rate for r in rounds[name]]
        rows.append(
            [
                f"{name} token",
                f"{median(rates):.0f}",
                f"{min(rates):.0f} to {max(rates):.0f}",
                f"{median([r.server_cpu_ms for r in rounds[name]]):.3f}",
            ]
        )
    print_table(["token", "req/s (median)", "range", "server CPU ms/request"], rows)
    print(
        f"\nkeystone/lading req/s: median {median(ratios):.3f} "
        f"(pairs: {', '.join(f'{r:.3f}' for r in ratios)}); target >= 0.90"
    )
    # All rounds last the same: the ratio of the summed rates is that of all requests served.
    pooled = sum(r.rate for r in rounds["keystone"]) / sum(r.rate for r in rounds["lading"])
    print(f"keystone/lading requests over all rounds: {pooled:.3f}")
    print(
        f"keystone/lading server CPU per request: median {median(cpu_ratios):.3f} "
        f"({min(cpu_ratios):.3f} to {max(cpu_ratios):.3f})"
    )
    keystone_us, lading_us = median(auth["keystone"]), median(auth["lading"])
    print(
        f"authenticating a known token, in-process ({args.auth_calls} calls, median of "
        f"{args.pairs}): keystone {keystone_us:.1f} us, lading {lading_us:.1f} us"
    )
    print(
        f"Python function calls per request, in-process ({args.profile_requests} requests): "
        f"keystone {calls['keystone']:.1f}, lading {calls['lading']:.1f}"
    )
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keystone-url", default="http://127.0.0.1:5000/v3", help="identity v3")
    parser.add_argument("--workers", type=int, default=1, help="lading serve --workers")
    parser.add_argument("--pairs", type=int, default=10, help="rounds of each token (median)")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of a round")
    parser.add_argument("--concurrency", type=int, default=16, help="connections in flight")
    parser.add_argument("--new-tokens", type=int, default=5, help="new tokens to count trips of")
    parser.add_argument("--auth-calls", type=int, default=20_000, help="in-process, per round")
    parser.add_argument("--profile-requests", type=int, default=2000, help="in-process, each")
    parser.add_argument("--cache-seconds", type=float, default=60.0, help="keystone.cache_seconds")
    parser.add_argument(
        "--same-token",
        action="store_true",
        help="both arms use the lading token: the ratios the machine's noise alone gives",
    )
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch dir (default /tmp)")
    args = parser.parse_args()
    with temp_dir(args.data_dir, "lading-bench-keystone-") as scratch:
        run(args, scratch)


if __name__ == "__main__":
    main()
