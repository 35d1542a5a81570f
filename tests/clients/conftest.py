"""A live ``lading serve`` on a loopback port, shared by the client compatibility tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest

from lading.db.engine import Database
from lading.services.identity import Identities
from lading.services.policy import Policy
from lading.settings import Settings
from tests.http_origin import Origin, serving

LADING = Path(sys.executable).with_name("lading")  # the console script of this venv
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
TOKEN_TIMEOUT = 30.0
PROJECT = "clients"  # the project of the token every client sends
DEFAULT_PROJECT = Settings.model_fields["default_project"].default  # no server here sets it
# A service that signs its requests (the Click face), known to the session's server.
SIGNING_CLIENT, SIGNING_SECRET = "software-center", "test-secret-of-at-least-32-characters"
SIGNING = (
    f'{{"clients": {{"{SIGNING_CLIENT}": {{"secret": "{SIGNING_SECRET}", "project": "store"}}}}}}'
)
LOG_KEY = pytest.StashKey[Path]()


@dataclass(frozen=True)
class Lading:
    """A live server: where it listens, an admin token it accepts, and the environment
    its own commands (``lading visor-key create``) run with."""

    url: str
    token: str
    env: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def log_tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def wait_healthy(process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"lading exited with {process.returncode}:\n{log_tail(log)}")
        try:
            if httpx.get(f"{base_url}/healthcheck", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"lading did not become healthy in {STARTUP_TIMEOUT} s:\n{log_tail(log)}")


def wait_registry(url: str, log: Path) -> None:
    """Until the OCI registry's listener answers (401: it wants a token), or fail."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v2/", timeout=1.0).status_code == 401:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the registry did not answer:\n{log_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


def create_token(env: dict[str, str], role: str = "admin") -> str:
    """A token of the server whose environment is ``env``, made as ``lading token create``
    makes one (migrate the catalogue, then ``Identities.create``), in this process: a
    ``lading`` process of its own spent 1.7 s of CPU importing lading, once per server
    the suite starts. The command itself is tested in tests/test_cli.py, and the console
    script by every client test that runs it (``lading visor-key create``, the client
    commands)."""
    data_dir = Path(env["LADING_DATA_DIR"])
    database = Database(env.get("LADING_DATABASE_URL") or f"sqlite:///{data_dir / 'lading.db'}")
    try:
        database.upgrade()
        identities = Identities(database, DEFAULT_PROJECT, Policy())
        new = anyio.run(identities.create, PROJECT, role)
    finally:
        database.dispose()
    return new.token


def keystone_settings(keystone_url: str) -> dict[str, str]:
    """A live lading's settings for scripts/services.sh's Keystone, as its service user."""
    return {
        "LADING_KEYSTONE__AUTH_URL": keystone_url,
        "LADING_KEYSTONE__USERNAME": "lading",
        "LADING_KEYSTONE__PASSWORD": "lading",
        "LADING_KEYSTONE__PROJECT_NAME": "service",
    }


def create_visor_key(env: dict[str, str], role: str = "admin") -> tuple[str, str]:
    """An access key and its secret, made by the real ``lading visor-key create``."""
    command = [str(LADING), "visor-key", "create", "--project", PROJECT, "--role", role]
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TOKEN_TIMEOUT, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"lading visor-key create failed:\n{result.stdout}\n{result.stderr}")
    access_key, secret = result.stdout.splitlines()[-2:]  # the last two lines
    return access_key, secret


@contextlib.contextmanager
def running_lading(
    root: Path,
    config: pytest.Config,
    settings: dict[str, str] | None = None,
    workers: int = 1,
    arguments: tuple[str, ...] = (),
    open_server: bool = False,
) -> Iterator[Lading]:
    """A ``lading serve`` with its own data directory and one admin token (none, and an
    empty ``token``, for an ``open_server``); ``arguments`` are more options of ``lading
    serve``."""
    log = root / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
    env |= {"LADING_DATA_DIR": str(root / "data"), **(settings or {})}
    # Made before the server starts, so it never serves open, not even for a moment.
    token = "" if open_server else create_token(env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(LADING), "serve", "--port", str(port), "--workers", str(workers), *arguments],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    config.stash[LOG_KEY] = log
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(process, base_url, log)
        yield Lading(base_url, token, env)
    finally:
        stop(process)


@dataclass(frozen=True)
class Registry:
    """A live server's OCI registry listener: its address as image names give it."""

    address: str  # host:port
    lading: Lading
    log: Path


@pytest.fixture(scope="session")
def registry_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Registry]:
    """A ``lading serve`` with its registry listener, shared by the registry's client tests
    (skopeo, podman, oras, container disks): each pushes to repositories of its own, so
    none sees another's, and a server start is not paid once per test."""
    root = tmp_path_factory.mktemp("lading-registry")
    port = free_port()
    with running_lading(root, pytestconfig, {"LADING_OCI__PORT": str(port)}) as lading:
        address = f"127.0.0.1:{port}"
        wait_registry(f"http://{address}", root / "server.log")
        yield Registry(address, lading, root / "server.log")


WEB_DATA = os.urandom(3 * 1024 * 1024 + 7)  # what the web origin serves at /data


@pytest.fixture(scope="session")
def web_origin() -> Iterator[Origin]:
    """An HTTP server on loopback that the session's lading may fetch from (web-download)."""
    with serving(WEB_DATA) as origin:
        yield origin


def fetching_from(origin: Origin) -> dict[str, str]:
    """Settings that let a server fetch from ``origin`` (web-download) and run tasks soon."""
    port = origin.server_address[1]
    fetch = f'{{"allowed_hosts": ["127.0.0.1"], "allowed_ports": [{port}]}}'
    return {"LADING_FETCH": fetch, "LADING_TASK_POLL_INTERVAL": "0.1"}


@pytest.fixture(scope="session")
def lading_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config, web_origin: Origin
) -> Iterator[Lading]:
    """A ``lading serve`` with one store to write to, the default, an http store for
    external locations, one signing client, and the web origin allowed to fetch from."""
    root = tmp_path_factory.mktemp("lading-server")
    stores = '{"default": {"type": "filesystem"}, "web": {"type": "http"}}'
    settings = {"LADING_SIGNING": SIGNING, "LADING_STORES": stores, **fetching_from(web_origin)}
    with running_lading(root, pytestconfig, settings) as server:
        yield server


@pytest.fixture(scope="session")
def server_url(lading_server: Lading) -> str:
    return lading_server.url


@pytest.fixture(scope="session")
def api_token(lading_server: Lading) -> str:
    """The admin token every client sends to ``server_url``."""
    return lading_server.token


@pytest.fixture(scope="session")
def multistore(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config, web_origin: Origin
) -> Iterator[Lading]:
    """A ``lading serve`` with two stores, ``fast`` the default, fetching from the origin."""
    stores = '{"fast": {"type": "filesystem"}, "bulk": {"type": "filesystem"}}'
    settings = {"LADING_STORES": stores, "LADING_DEFAULT_STORE": "fast",
                **fetching_from(web_origin)}  # fmt: skip
    root = tmp_path_factory.mktemp("lading-multistore")
    with running_lading(root, pytestconfig, settings) as server:
        yield server


def api_client(server: Lading) -> httpx.Client:
    """A plain HTTP client that sends the server's token with every request."""
    headers = {"X-Auth-Token": server.token}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30.0)


@pytest.fixture(scope="session")
def api(lading_server: Lading) -> Iterator[httpx.Client]:
    """A plain HTTP client for checking the server's state behind the clients' backs."""
    with api_client(lading_server) as client:
        yield client


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failing client test shows the end of the server's log next to its own output."""
    report = yield
    log = item.config.stash.get(LOG_KEY, None)
    if report.failed and log is not None:
        report.sections.append(("lading server log (tail)", log_tail(log)))
    return report
