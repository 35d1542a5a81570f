"""Tempest's image API tests against lading and a real Keystone: what ``make interop`` runs.

It starts the loopback services (scripts/services.sh), a web server for the images Tempest
imports and registers by URL, and two lading nodes sharing a temporary data directory and
a PostgreSQL database of the run's own, with Keystone tokens, two stores (a filesystem and
Swift) and the http store; registers them as the catalogue's ``image`` service and its
``image_remote`` (Tempest's cross-worker tests) in a region of the run's own; writes
tempest.conf from interop/tempest.conf.in; runs ``tempest run --regex
'^tempest\\.api\\.image'`` with the skip list interop/skip-list.txt on at most two workers;
prints the counts, and exits
non-zero when a test failed. lading, its database and the web server go whatever happens;
the services are left running.

Run it with lading's virtualenv (it needs keystoneauth1, which lading uses) and name
Tempest's own: ``python interop/run.py --tempest .venv-interop/bin/tempest``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
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

from keystoneauth1 import session
from keystoneauth1.identity import v3

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# scripts/services.sh's Keystone, on the port that script is told to use
KEYSTONE_URL = f"http://127.0.0.1:{os.environ.get('LADING_KEYSTONE_PORT', '5000')}/v3"
ADMIN_USER, ADMIN_PASSWORD, ADMIN_PROJECT = "admin", "keystone-admin", "admin"
REGION = "RegionOne"
SERVICE_NAME = "glance"  # as docs/openstack.md says: Cinder finds image:glance by default
REMOTE_SERVICE_TYPE = "image_remote"  # Tempest's alternate_image_endpoint: a second node
INTERFACES = ("public", "internal", "admin")
REGEX = r"^tempest\.api\.image"
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
    """A lading node serving ``config`` on ``port``, its log in ``work/<name>.log``."""
    server_log = (work / f"{name}.log").open("wb")
    command = [str(Path(sys.executable).parent / "lading"), "serve", "--config", str(config)]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
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


def admin_session(keystone_url: str) -> session.Session:
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
def own_region(keystone_url: str = KEYSTONE_URL) -> Iterator[str]:
    """A region of the run's own, its endpoints and itself deleted afterwards. Runs at once
    on one Keystone (engineers sharing a machine) each find their own lading there: in
    RegionOne, the last one registered moved every run's endpoints to its nodes."""
    admin = admin_session(keystone_url)
    name = f"lading-interop-{secrets.token_hex(4)}"
    admin.post(f"{keystone_url}/regions", json={"region": {"id": name}})
    try:
        yield name
    finally:
        found = admin.get(f"{keystone_url}/endpoints", params={"region_id": name})
        for endpoint in found.json()["endpoints"]:
            admin.delete(f"{keystone_url}/endpoints/{endpoint['id']}", raise_exc=False)
        admin.delete(f"{keystone_url}/regions/{name}", raise_exc=False)


def register(
    url: str, keystone_url: str = KEYSTONE_URL, service_type: str = "image", region: str = REGION
) -> str:
    """Make lading the catalogue's ``service_type`` service with ``url`` on its three
    interfaces in ``region``: made once, its endpoints' URL updated on later runs (the
    port changes). Returns the service's id."""
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


def tempest_config(
    work: Path, web_port: int, format_enforcement: bool, image_region: str = REGION
) -> Path:
    template = (HERE / "tempest.conf.in").read_text()
    values = {
        "keystone_url": KEYSTONE_URL,
        "region": REGION,
        "image_region": image_region,
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


def skip_list() -> list[tuple[re.Pattern[str], str]]:
    """The skip list's entries, read as stestr reads them: a regex, then "#" and a reason."""
    entries = []
    for line in (HERE / "skip-list.txt").read_text().splitlines():
        pattern, _, reason = line.partition("#")
        if pattern.strip():
            entries.append((re.compile(pattern.strip()), reason.strip()))
    return entries


def excluded(tempest: str, workspace: Path, config: Path) -> dict[str, int]:
    """How many of the image tests the skip list leaves out, by the reason's first word."""
    listed = subprocess.run(
        [tempest, "run", "--config-file", str(config), "--regex", REGEX, "--list-tests"],
        cwd=workspace,
        capture_output=True,
        text=True,
    )
    if listed.returncode != 0:  # the run said what went wrong; the counts are all it costs
        return {}
    listing = listed.stdout.split()
    entries = skip_list()
    counts: dict[str, int] = {}
    for test in listing:
        if not test.startswith("tempest."):
            continue
        for pattern, reason in entries:
            if pattern.search(test):
                kind = reason.split(":")[0]
                counts[kind] = counts.get(kind, 0) + 1
                break
    return counts


COUNTS = re.compile(r"^ - (Passed|Skipped|Failed|Expected Fail|Unexpected Success): (\d+)$")


def run_tempest(
    tempest: str, workspace: Path, config: Path, concurrency: int, timeout: float
) -> tuple[int, dict[str, int]]:
    command = [
        tempest,
        "run",
        "--config-file",
        str(config),
        "--regex",
        REGEX,
        "--exclude-list",
        str(HERE / "skip-list.txt"),
        "--concurrency",
        str(concurrency),
    ]
    log("running: " + " ".join(command))
    counts: dict[str, int] = {}
    process = subprocess.Popen(
        command,
        cwd=workspace,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )

    def stop() -> None:  # a hung run must not hold CI: Tempest and its workers go
        log(f"Tempest still running after {timeout:.0f} s: stopped")
        os.killpg(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            found = COUNTS.match(line.rstrip("\n"))
            if found:
                counts[found.group(1)] = int(found.group(2))
        return process.wait(), counts
    finally:
        timer.cancel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tempest", required=True, help="Tempest's command, in its own venv")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds the Tempest run may take (900)"
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
    tempest = str(Path(args.tempest).absolute())  # Tempest runs in a directory of its own

    subprocess.run([str(ROOT / "scripts" / "services.sh"), "start"], check=True)
    work = Path(tempfile.mkdtemp(prefix="lading-interop-"))
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
            region = running.enter_context(own_region())
            register(f"http://127.0.0.1:{port}", region=region)
            register(
                f"http://127.0.0.1:{remote_port}", service_type=REMOTE_SERVICE_TYPE, region=region
            )
            started = time.monotonic()
            workspace = work / "workspace"
            workspace.mkdir()
            tempest_conf = tempest_config(work, web_port, args.format_enforcement, region)
            status, counts = run_tempest(
                tempest, workspace, tempest_conf, args.concurrency, args.timeout
            )
            elapsed = time.monotonic() - started
            # Listing needs the test repository that the run made.
            skipped_by_list = excluded(tempest, workspace, tempest_conf)
        passed = counts.get("Passed", 0)
        failed = counts.get("Failed", 0) + counts.get("Unexpected Success", 0)
        skipped = counts.get("Skipped", 0)
        if status != 0:  # the servers' side of what failed, before the directory goes
            for name in ("lading", "lading-remote"):
                lines = (work / f"{name}.log").read_text(errors="replace").splitlines()
                log(f"the end of {name}'s log:\n" + "\n".join(lines[-40:]))
        if status == 0 and not counts:
            log("Tempest printed no counts")
            status = 1
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped_by_list.items()))
        log(f"Tempest took {elapsed:.0f} s; exit status {status}")
        log(f"left out by interop/skip-list.txt: {sum(skipped_by_list.values())} ({kinds})")
        # The last line, in the form CI reads.
        print(f"interop: {passed} passed, {failed} failed, {skipped} skipped", flush=True)
        return 0 if status == 0 else 1
    finally:
        if args.keep or os.environ.get("LADING_INTEROP_KEEP"):
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
