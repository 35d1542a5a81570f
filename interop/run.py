"""Tempest's and openstacksdk's image API tests against lading and a real Keystone: what
``make interop`` runs.

It starts the loopback services (scripts/services.sh), a web server for the images Tempest
imports and registers by URL, and two lading nodes sharing a temporary data directory and
a PostgreSQL database of the run's own, with Keystone tokens, two stores (a filesystem and
Swift) and the http store, and an image cache each; registers them as the catalogue's
``image`` service and its ``image_remote`` (Tempest's cross-worker tests) in a Keystone
region of the run's own (removed afterwards: other runs share the catalogue); writes
tempest.conf from interop/tempest.conf.in; runs ``tempest run --regex
'^tempest\\.api\\.image'`` with the skip list interop/skip-list.txt on at most two
workers; then openstacksdk's own functional image tests
(``openstack.tests.functional.image.v2`` and the cloud layer's
``openstack.tests.functional.cloud.test_image``, as the openstacksdk wheel ships them)
against the first node, through a clouds.yaml of Keystone's users, with the skip list
interop/openstacksdk-skip-list.txt; prints the counts, and exits non-zero when a test
failed. lading, its database and the web server go whatever happens; the services are
left running.

Run it with lading's virtualenv (it needs keystoneauth1, which lading uses) and name the
interop venv's Tempest and Python (openstacksdk, oslotest and stestr installed):
``python interop/run.py --tempest .venv-interop/bin/tempest --openstacksdk
.venv-interop/bin/python``. Either suite alone runs when only its option is given.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from keystoneauth1 import exceptions as ksa_exceptions
from keystoneauth1 import session
from keystoneauth1.identity import v3

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# scripts/services.sh's Keystone, on the port that script is told to use
KEYSTONE_URL = f"http://127.0.0.1:{os.environ.get('LADING_KEYSTONE_PORT', '5000')}/v3"
ADMIN_USER, ADMIN_PASSWORD, ADMIN_PROJECT = "admin", "keystone-admin", "admin"
REGION = "RegionOne"  # Keystone's own, and lading's [keystone] region
RUN_REGION_PREFIX = "lading-interop-"  # each run's image services, in a region of its own
SERVICE_NAME = "glance"  # as docs/openstack.md says: Cinder finds image:glance by default
REMOTE_SERVICE_TYPE = "image_remote"  # Tempest's alternate_image_endpoint: a second node
INTERFACES = ("public", "internal", "admin")
TEMPEST_TESTS = r"^tempest\.api\.image"
TEMPEST_SKIP_LIST = HERE / "skip-list.txt"
# openstacksdk's functional image tests (the image proxy's and the cloud layer's), as
# interop/openstacksdk/ hands them to stestr
SDK_TESTS = HERE / "openstacksdk"
SDK_SKIP_LIST = HERE / "openstacksdk-skip-list.txt"
SDK_CLOUDS = {  # clouds.yaml's names, given to the tests by OPENSTACKSDK_*_CLOUD
    "operator": "lading-admin",
    "system_admin": "lading-system-admin",
    "demo": "lading-member",
    "demo_alt": "lading-member-alt",
}
# scripts/services.sh's members of two projects other than the admin's
MEMBER, MEMBER_PROJECT = ("alpha-member", "lading-test"), "alpha"
MEMBER_ALT, MEMBER_ALT_PROJECT = ("beta-member", "lading-test"), "beta"
SDK_IMAGE = "cirros-lading-interop"
SDK_WAIT = 60  # seconds an sdk test waits for an image to become active or go
SDK_TEST_TIMEOUT = 120  # seconds a single sdk test may take
START_TIMEOUT = 60.0  # seconds for lading to answer once started
SWIFT_CONTAINER = "lading-interop"
# scripts/services.sh's PostgreSQL: the two nodes share a database made for the run.
POSTGRES_URL = "postgresql+psycopg://lading:lading@127.0.0.1:5432/postgres"
SWIFT = {  # the single-node Swift of scripts/services.sh, tempauth
    "auth_url": "http://127.0.0.1:8080/auth/v1.0",
    "user": "test:tester",
    "key": "testing",
}


def log(message: str) -> None:
    print(f"[interop] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def qcow2_image(virtual_size: int) -> bytes:
    """A small, valid, empty qcow2 (version 2, 64 KiB clusters): what a web-download of a
    ``qcow2`` should fetch, so that a server checking the format finds one."""
    cluster = 1 << 16
    l1_entries = -(-virtual_size // (cluster * (cluster // 8)))
    header = struct.pack(
        ">4sIQIIQIIQQIIQ",
        b"QFI\xfb",
        2,  # version
        0,  # backing file offset
        0,  # backing file size
        16,  # cluster bits
        virtual_size,
        0,  # no encryption
        l1_entries,
        3 * cluster,  # L1 table
        cluster,  # refcount table
        1,  # refcount table clusters
        0,  # snapshots
        0,
    )
    image = bytearray(4 * cluster)
    image[: len(header)] = header
    struct.pack_into(">Q", image, cluster, 2 * cluster)  # refcount table -> refcount block
    for index in range(4):  # the four clusters in use, one reference each
        struct.pack_into(">H", image, 2 * cluster + 2 * index, 1)
    return bytes(image)


@contextlib.contextmanager
def web_server(root: Path) -> Iterator[int]:
    """Serve ``root`` on a loopback port (Tempest's http_image and http_qcow2_image)."""
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def lading_config(work: Path, port: int, web_port: int, database_url: str) -> str:
    return f"""\
host = "127.0.0.1"
port = {port}
data_dir = "{work / "data"}"
database_url = "{database_url}"
default_store = "fast"
show_image_direct_url = true
show_multiple_locations = true
log_level = "warning"
task_poll_interval = 0.2

[stores.fast]
type = "filesystem"
description = "Local disk"

[stores.cheap]
type = "swift"
auth_url = "{SWIFT["auth_url"]}"
user = "{SWIFT["user"]}"
key = "{SWIFT["key"]}"
container = "{SWIFT_CONTAINER}"
description = "Swift"

# Named as Glance's http store is where Tempest expects it (an image's `stores`).
[stores.web]
type = "http"
timeout = 10

# Tempest's cache tests queue images of the default store, the filesystem one: the nodes
# share its directory, as nodes share a network file system, so it is cached too. Each
# node has a cache directory of its own (LADING_IMAGE_CACHE__DIRECTORY, set per node).
[image_cache]
enabled = true
stores = ["fast", "cheap", "web"]
max_size = 1073741824
poll_interval = 0.2

# Tempest's images come from a web server on loopback, not the Internet.
[fetch]
allow_internal = true
allowed_ports = [80, 443, {web_port}]
connect_timeout = 5
read_timeout = 10
retries = 0

[keystone]
auth_url = "{KEYSTONE_URL}"
username = "lading"
password = "lading"
project_name = "service"
region_name = "{REGION}"
"""


@contextlib.contextmanager
def lading(work: Path, config: Path, port: int, name: str) -> Iterator[None]:
    """A lading node serving ``config`` on ``port``, its log in ``work/<name>.log`` and its
    image cache in ``work/<name>-cache``."""
    server_log = (work / f"{name}.log").open("wb")
    command = [str(Path(sys.executable).parent / "lading"), "serve", "--config", str(config)]
    cache = {"LADING_IMAGE_CACHE__DIRECTORY": str(work / f"{name}-cache")}
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        env={**os.environ, **cache},
        stdout=server_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                server_log.flush()
                tail = (work / f"{name}.log").read_text(errors="replace").splitlines()[-30:]
                raise SystemExit(f"{name} exited with {process.returncode}:\n" + "\n".join(tail))
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not answer in {START_TIMEOUT:.0f} s") from None
                time.sleep(0.2)
        log(f"{name} serves http://127.0.0.1:{port} (log: {work}/{name}.log)")
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        server_log.close()


@contextlib.contextmanager
def database() -> Iterator[str]:
    """A PostgreSQL database of the run's own, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"lading_interop_{secrets.token_hex(6)}"
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def admin_session(keystone_url: str = KEYSTONE_URL) -> session.Session:
    """Keystone's admin, scoped to the admin project."""
    return session.Session(
        auth=v3.Password(
            auth_url=keystone_url,
            username=ADMIN_USER,
            password=ADMIN_PASSWORD,
            project_name=ADMIN_PROJECT,
            user_domain_name="Default",
            project_domain_name="Default",
        )
    )


@contextlib.contextmanager
def run_region(keystone_url: str = KEYSTONE_URL) -> Iterator[str]:
    """A Keystone region of the run's own, where its nodes are the image services.

    The catalogue is Keystone's, shared by every run on the machine: with one region, a
    second ``make interop`` moved the first's endpoints to its own nodes midway (the first's
    clients then found the wrong lading). The region's endpoints and the region go after
    the run; identity stays in RegionOne."""
    admin = admin_session(keystone_url)
    region = f"{RUN_REGION_PREFIX}{secrets.token_hex(4)}"
    body = {"region": {"id": region, "description": "make interop (interop/run.py)"}}
    admin.post(f"{keystone_url}/regions", json=body)
    try:
        yield region
    finally:
        try:
            listed = admin.get(f"{keystone_url}/endpoints", params={"region_id": region})
            for endpoint in listed.json()["endpoints"]:
                admin.delete(f"{keystone_url}/endpoints/{endpoint['id']}")
            admin.delete(f"{keystone_url}/regions/{region}")
        except ksa_exceptions.ClientException as exc:  # the run's own outcome matters more
            log(f"region {region} left in Keystone: {exc}")


def register(
    url: str,
    keystone_url: str = KEYSTONE_URL,
    service_type: str = "image",
    region: str = REGION,
) -> str:
    """Make lading the catalogue's ``service_type`` service with ``url`` on its three
    interfaces in ``region``: the service made once, its endpoints there made or their URL
    updated (the port changes). Returns the service's id."""
    admin = admin_session(keystone_url)
    found = admin.get(f"{keystone_url}/services", params={"type": service_type})
    services = found.json()["services"]
    if services:
        service_id = str(services[0]["id"])
    else:
        body = {"service": {"type": service_type, "name": SERVICE_NAME, "enabled": True}}
        service_id = admin.post(f"{keystone_url}/services", json=body).json()["service"]["id"]
    listed = admin.get(f"{keystone_url}/endpoints", params={"service_id": service_id})
    endpoints = listed.json()["endpoints"]
    for interface in INTERFACES:
        mine = [e for e in endpoints if e["interface"] == interface and e["region_id"] == region]
        if mine:
            for extra in mine[1:]:  # one endpoint per interface, so Tempest's choice is ours
                admin.delete(f"{keystone_url}/endpoints/{extra['id']}")
            if mine[0]["url"] != url:
                admin.patch(
                    f"{keystone_url}/endpoints/{mine[0]['id']}", json={"endpoint": {"url": url}}
                )
        else:
            body = {
                "endpoint": {
                    "service_id": service_id,
                    "interface": interface,
                    "region_id": region,
                    "url": url,
                }
            }
            admin.post(f"{keystone_url}/endpoints", json=body)
    log(f"Keystone's catalogue: {service_type} service {service_id} at {url} in {region}")
    return service_id


def tempest_config(work: Path, web_port: int, format_enforcement: bool, region: str) -> Path:
    template = (HERE / "tempest.conf.in").read_text()
    values = {
        "keystone_url": KEYSTONE_URL,
        "region": REGION,
        "image_region": region,
        "admin_username": ADMIN_USER,
        "admin_password": ADMIN_PASSWORD,
        "admin_project_name": ADMIN_PROJECT,
        "http_image": f"http://127.0.0.1:{web_port}/cirros-uec.tar.gz",
        "http_qcow2_image": f"http://127.0.0.1:{web_port}/cirros-disk.qcow2",
        "log_file": str(work / "tempest.log"),
        "lock_path": str(work / "locks"),
        "format_enforcement": str(format_enforcement).lower(),
        "remote_service_type": REMOTE_SERVICE_TYPE,
    }
    path = work / "tempest.conf"
    path.write_text(template.format(**values))
    return path


def skip_list(path: Path = TEMPEST_SKIP_LIST) -> list[tuple[re.Pattern[str], str]]:
    """A skip list's entries, read as stestr reads them: a regex, then "#" and a reason."""
    entries = []
    for line in path.read_text().splitlines():
        pattern, _, reason = line.partition("#")
        if pattern.strip():
            entries.append((re.compile(pattern.strip()), reason.strip()))
    return entries


def left_out(tests: list[str], entries: list[tuple[re.Pattern[str], str]]) -> dict[str, int]:
    """How many of ``tests`` a skip list leaves out, by the reason's first word (before ":")."""
    counts: dict[str, int] = {}
    for test in tests:
        for pattern, reason in entries:
            if pattern.search(test):
                kind = reason.split(":")[0]
                counts[kind] = counts.get(kind, 0) + 1
                break
    return counts


def unmatched(tests: list[str], entries: list[tuple[re.Pattern[str], str]]) -> list[str]:
    """A skip list's patterns that match none of ``tests``: left behind by a new release."""
    return [pattern.pattern for pattern, _ in entries if not any(map(pattern.search, tests))]


def listed(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """The test ids a ``tempest run --list-tests`` or ``stestr list`` prints; none when it
    fails (the run said what went wrong; the counts are all it costs)."""
    found = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if found.returncode != 0:
        return []
    # Tempest and stestr print other lines too (stestr's "{...}" for a worker's tests)
    return [word for word in found.stdout.split() if re.match(r"^[A-Za-z_]\w*\.", word)]


COUNTS = re.compile(r"^ - (Passed|Skipped|Failed|Expected Fail|Unexpected Success): (\d+)$")


@dataclasses.dataclass
class Outcome:
    """One suite's run: its exit status, the counts it printed, what its skip list left out."""

    name: str
    skip_list: Path
    status: int = 1
    counts: dict[str, int] = dataclasses.field(default_factory=dict)
    left_out: dict[str, int] = dataclasses.field(default_factory=dict)
    unmatched: list[str] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0

    @property
    def passed(self) -> int:
        return self.counts.get("Passed", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("Failed", 0) + self.counts.get("Unexpected Success", 0)

    @property
    def skipped(self) -> int:
        return self.counts.get("Skipped", 0)

    @property
    def ok(self) -> bool:
        # A run that printed no counts ran nothing, whatever its status says.
        return self.status == 0 and bool(self.counts)


def run_suite(
    outcome: Outcome,
    command: list[str],
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> None:
    """Run a stestr-based suite (Tempest is one), echoing its output; fills in ``outcome``."""
    log("running: " + " ".join(command))
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )

    def stop() -> None:  # a hung run must not hold CI: the runner and its workers go
        log(f"{outcome.name} still running after {timeout:.0f} s: stopped")
        os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            found = COUNTS.match(line.rstrip("\n"))
            if found:
                outcome.counts[found.group(1)] = int(found.group(2))
        outcome.status = process.wait()
    finally:
        timer.cancel()
        outcome.elapsed = time.monotonic() - started


def tempest_suite(
    tempest: str,
    work: Path,
    region: str,
    web_port: int,
    format_enforcement: bool,
    concurrency: int,
    timeout: float,
) -> Outcome:
    outcome = Outcome("Tempest", TEMPEST_SKIP_LIST)
    workspace = work / "workspace"
    workspace.mkdir()
    config = tempest_config(work, web_port, format_enforcement, region)
    base = [tempest, "run", "--config-file", str(config), "--regex", TEMPEST_TESTS]
    run_suite(
        outcome,
        [*base, "--exclude-list", str(TEMPEST_SKIP_LIST), "--concurrency", str(concurrency)],
        workspace,
        timeout,
    )
    # Listing needs the test repository that the run made.
    tests = [t for t in listed([*base, "--list-tests"], workspace) if t.startswith("tempest.")]
    outcome.left_out = left_out(tests, skip_list(TEMPEST_SKIP_LIST))
    outcome.unmatched = unmatched(tests, skip_list(TEMPEST_SKIP_LIST)) if tests else []
    return outcome


def clouds(region: str, keystone_url: str = KEYSTONE_URL) -> dict[str, Any]:
    """clouds.yaml for openstacksdk's functional tests: the operator (Keystone's admin), two
    members of other projects (the demo cloud and its alternate) and the system admin, all
    finding the image service in ``region``."""

    def cloud(user: str, password: str, scope: dict[str, str]) -> dict[str, object]:
        auth = {"auth_url": keystone_url, "username": user, "password": password}
        auth |= {"user_domain_name": "Default", **scope}
        return {
            "auth": auth,
            "region_name": region,
            "identity_api_version": "3",
            "image_api_version": "2",
            "interface": "public",
        }

    def project(name: str) -> dict[str, str]:
        return {"project_name": name, "project_domain_name": "Default"}

    return {
        "clouds": {
            SDK_CLOUDS["operator"]: cloud(ADMIN_USER, ADMIN_PASSWORD, project(ADMIN_PROJECT)),
            SDK_CLOUDS["system_admin"]: cloud(ADMIN_USER, ADMIN_PASSWORD, {"system_scope": "all"}),
            SDK_CLOUDS["demo"]: cloud(*MEMBER, project(MEMBER_PROJECT)),
            SDK_CLOUDS["demo_alt"]: cloud(*MEMBER_ALT, project(MEMBER_ALT_PROJECT)),
        }
    }


def sdk_environment(work: Path, region: str) -> dict[str, str]:
    """The environment of openstacksdk's functional tests: its clouds.yaml and nothing of the
    caller's OpenStack settings (a developer's OS_AUTH_URL would pick another cloud)."""
    config = work / "clouds.yaml"
    # JSON is YAML; the file name tells openstacksdk which of the two to read it as.
    config.write_text(json.dumps(clouds(region), indent=2))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OS_", "OPENSTACKSDK_"))
    }
    return env | {
        "OS_CLIENT_CONFIG_FILE": str(config),
        "OS_CLIENT_SECURE_FILE": str(work / "secure.yaml"),  # absent: no secrets merged in
        "OS_CLOUD": SDK_CLOUDS["operator"],  # read when the tests' base module is imported
        "OPENSTACKSDK_OPERATOR_CLOUD": SDK_CLOUDS["operator"],
        "OPENSTACKSDK_SYSTEM_ADMIN_CLOUD": SDK_CLOUDS["system_admin"],
        "OPENSTACKSDK_DEMO_CLOUD": SDK_CLOUDS["demo"],
        "OPENSTACKSDK_DEMO_CLOUD_ALT": SDK_CLOUDS["demo_alt"],
        # Every test's setUp picks an image to boot; no test here boots one, but it must exist.
        "OPENSTACKSDK_IMAGE": SDK_IMAGE,
        "OPENSTACKSDK_FUNC_TEST_TIMEOUT": str(SDK_WAIT),
        # The sdk's default is its unit tests' 5 s; its own tox.ini gives functional ones 600.
        "OS_TEST_TIMEOUT": str(SDK_TEST_TIMEOUT),
        "OS_LOG_CAPTURE": "true",  # the sdk's debug log attached to a failure, not printed
    }


def seed_image(url: str, admin: session.Session) -> None:
    """The public image that openstacksdk's tests pick in their setUp (``OPENSTACKSDK_IMAGE``),
    made once the Tempest run, whose listing tests count images, is over."""
    created = admin.post(
        f"{url}/v2/images",
        json={
            "name": SDK_IMAGE,
            "disk_format": "qcow2",
            "container_format": "bare",
            "visibility": "public",
        },
    )
    image_id = created.json()["id"]
    admin.put(
        f"{url}/v2/images/{image_id}/file",
        data=qcow2_image(64 * 1024 * 1024),
        headers={"Content-Type": "application/octet-stream"},
    )


def sdk_suite(
    python: str, url: str, work: Path, region: str, concurrency: int, timeout: float
) -> Outcome:
    outcome = Outcome("openstacksdk", SDK_SKIP_LIST)
    try:
        seed_image(url, admin_session())
    except ksa_exceptions.ClientException as exc:  # every test's set-up would fail on it
        log(f"the image for openstacksdk's tests could not be made: {exc}")
        return outcome
    workspace = work / "openstacksdk"
    workspace.mkdir()
    # TestImage uploads the CONTRIBUTING.rst of the sdk's source tree, read from the current
    # directory; the wheel has none, so the run's directory holds one.
    (workspace / "CONTRIBUTING.rst").write_text("This is not an image.\n" * 64)
    # interop/openstacksdk/ picks the image tests out of the wheel's functional tests.
    stestr = [python, "-m", "stestr", "--test-path", str(SDK_TESTS), "--top-dir", str(SDK_TESTS)]
    env = sdk_environment(work, region)
    run_suite(
        outcome,
        [
            *stestr,
            "run",
            "--exclude-list",
            str(SDK_SKIP_LIST),
            "--concurrency",
            str(concurrency),
        ],
        workspace,
        timeout,
        env,
    )
    tests = listed([*stestr, "list"], workspace, env)
    outcome.left_out = left_out(tests, skip_list(SDK_SKIP_LIST))
    outcome.unmatched = unmatched(tests, skip_list(SDK_SKIP_LIST)) if tests else []
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tempest", help="Tempest's command, in its own venv")
    parser.add_argument(
        "--openstacksdk",
        metavar="PYTHON",
        help="the Python of a venv with openstacksdk, oslotest and stestr (its tests run)",
    )
    parser.add_argument("--concurrency", type=int, default=2, help="Tempest's workers (2)")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds the Tempest run may take (900)"
    )
    parser.add_argument("--sdk-concurrency", type=int, default=2, help="openstacksdk's workers (2)")
    parser.add_argument(
        "--sdk-timeout",
        type=float,
        default=600.0,
        help="seconds the openstacksdk run may take (600)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--no-format-enforcement",
        dest="format_enforcement",
        action="store_false",
        help="tell Tempest that image formats are not enforced (it then runs its listing "
        "tests, which upload random bytes as every format)",
    )
    args = parser.parse_args()
    if not (args.tempest or args.openstacksdk):
        parser.error("name --tempest, --openstacksdk or both")
    # The suites run in directories of their own.
    tempest = str(Path(args.tempest).absolute()) if args.tempest else None
    sdk_python = str(Path(args.openstacksdk).absolute()) if args.openstacksdk else None

    subprocess.run([str(ROOT / "scripts" / "services.sh"), "start"], check=True)
    work = Path(tempfile.mkdtemp(prefix="lading-interop-"))
    outcomes: list[Outcome] = []
    try:
        images = work / "images"
        images.mkdir()
        (images / "cirros-uec.tar.gz").write_bytes(secrets.token_bytes(256 * 1024))
        (images / "cirros-disk.qcow2").write_bytes(qcow2_image(64 * 1024 * 1024))
        with contextlib.ExitStack() as running:
            web_port = running.enter_context(web_server(images))
            database_url = running.enter_context(database())
            config = work / "lading.toml"
            port, remote_port = free_port(), free_port()
            config.write_text(lading_config(work, port, web_port, database_url))
            # Two nodes on one database and the same stores, as behind a load balancer:
            # Tempest's cross-worker tests stage on one and import or delete on the other.
            running.enter_context(lading(work, config, port, "lading"))
            running.enter_context(lading(work, config, remote_port, "lading-remote"))
            url = f"http://127.0.0.1:{port}"
            region = running.enter_context(run_region())
            register(url, region=region)
            remote_url = f"http://127.0.0.1:{remote_port}"
            register(remote_url, service_type=REMOTE_SERVICE_TYPE, region=region)
            if tempest:
                outcomes.append(
                    tempest_suite(
                        tempest,
                        work,
                        region,
                        web_port,
                        args.format_enforcement,
                        args.concurrency,
                        args.timeout,
                    )
                )
            if sdk_python:  # after Tempest: the image it seeds would be in Tempest's listings
                outcomes.append(
                    sdk_suite(sdk_python, url, work, region, args.sdk_concurrency, args.sdk_timeout)
                )
        if not all(outcome.ok for outcome in outcomes):  # before the directory goes
            for name in ("lading", "lading-remote"):
                lines = (work / f"{name}.log").read_text(errors="replace").splitlines()
                log(f"the end of {name}'s log:\n" + "\n".join(lines[-40:]))
        for outcome in outcomes:
            if outcome.status == 0 and not outcome.counts:
                log(f"{outcome.name} printed no counts")
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(outcome.left_out.items()))
            log(
                f"{outcome.name} took {outcome.elapsed:.0f} s; exit status {outcome.status}; "
                f"{outcome.passed} passed, {outcome.failed} failed, {outcome.skipped} skipped; "
                f"left out by interop/{outcome.skip_list.name}: "
                f"{sum(outcome.left_out.values())} ({kinds})"
            )
            for pattern in outcome.unmatched:
                log(f"interop/{outcome.skip_list.name} names no test with {pattern}")
        passed = sum(outcome.passed for outcome in outcomes)
        failed = sum(outcome.failed for outcome in outcomes)
        skipped = sum(outcome.skipped for outcome in outcomes)
        # The last line, in the form CI reads: both suites together.
        print(f"interop: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
        return 0 if all(outcome.ok for outcome in outcomes) else 1
    finally:
        if args.keep or os.environ.get("LADING_INTEROP_KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
