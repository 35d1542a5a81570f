"""A lading process killed with SIGKILL in the middle of an upload and of an import: a new
process on the same data recovers both within the configured times, and nothing is left
``saving`` or ``importing``."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.conftest import LADING, create_token, free_port, wait_healthy
from tests.clients.support import assert_active_with, create_image, settled, unique
from tests.http_origin import Origin, serving

pytestmark = pytest.mark.clients
SLOW = os.urandom(3 * 1024 * 1024)  # served at /slow in about 2.5 s


def start(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    """``lading serve`` in its own process group, so that SIGKILL reaches its workers too."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(LADING), "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    wait_healthy(process, f"http://127.0.0.1:{port}", log)
    return process


def kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(SLOW) as server:
        yield server


def slow_body(stop: threading.Event) -> Iterator[bytes]:
    """An upload that sends a little, then waits for the server to die."""
    yield b"x" * 1024 * 1024
    stop.wait(30)
    yield b"never sent"


def wait_for(api: httpx.Client, image_id: str, status: str) -> None:
    for _ in range(200):
        if api.get(f"/v2/images/{image_id}").json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"image {image_id} never became {status}")


def test_a_killed_server_leaves_nothing_stuck(tmp_path: Path, origin: Origin) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
    env |= {
        "LADING_DATA_DIR": str(tmp_path / "data"),
        "LADING_UPLOAD_STUCK_AFTER": "2",
        "LADING_TASK_LEASE": "2",
        "LADING_TASK_POLL_INTERVAL": "0.1",
        "LADING_FETCH": f'{{"allowed_hosts": ["127.0.0.1"], '
        f'"allowed_ports": [{origin.server_address[1]}]}}',
    }
    token = create_token(env)
    log = tmp_path / "server.log"
    first = start(env, log, port)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Auth-Token": token})
    stop = threading.Event()
    try:
        uploaded = create_image(api, unique("killed-upload"))
        imported = create_image(api, unique("killed-import"))

        def upload() -> Any:
            try:
                return api.put(f"/v2/images/{uploaded['id']}/file", content=slow_body(stop),
                               headers={"content-type": "application/octet-stream"})  # fmt: skip
            except httpx.HTTPError as exc:
                return exc

        sender = threading.Thread(target=upload, daemon=True)
        sender.start()
        method = {"method": {"name": "web-download", "uri": origin.url("/slow")}}
        assert api.post(f"/v2/images/{imported['id']}/import", json=method).status_code == 202
        wait_for(api, uploaded["id"], "saving")
        time.sleep(0.5)  # the import task is fetching by now
        assert api.get(f"/v2/images/{imported['id']}").json()["status"] == "importing"
        kill(first)
        stop.set()
        second = start(env, log, port)
        try:
            started = time.monotonic()
            wait_for(api, uploaded["id"], "queued")  # the upload died with its server
            assert_active_with(settled(api, imported["id"]), SLOW)
            assert time.monotonic() - started < 20
            (task,) = api.get(f"/v2/images/{imported['id']}/tasks").json()["tasks"]
            assert task["status"] == "success"
        finally:
            second.terminate()
            second.wait(10)
    finally:
        stop.set()
        api.close()
        if first.poll() is None:
            kill(first)


PARTIAL = 64 * 1024 * 1024  # what the killed upload had sent: the partial file's size
RECOVERED_WITHIN = 30.0  # seconds from the restart, on default settings


def partial_files(data_dir: Path) -> list[Path]:
    """The filesystem store's temporary files: writes in progress, or cut off."""
    return sorted((data_dir / "stores" / "default" / ".tmp").glob("*"))


def test_a_restarted_server_recovers_a_killed_upload_at_once(tmp_path: Path) -> None:
    """On default settings (upload_stuck_after 300 s, upload_heartbeat 30 s): the upload
    of a server killed with SIGKILL is queued again, and its partial file gone, within
    RECOVERED_WITHIN of the start of the next server, which knows its predecessor's
    process is gone."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
    env |= {"LADING_DATA_DIR": str(tmp_path / "data")}
    token = create_token(env)
    log = tmp_path / "server.log"
    first = start(env, log, port)
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-Auth-Token": token})
    stop = threading.Event()

    def partial_body() -> Iterator[bytes]:
        chunk = os.urandom(1024 * 1024)
        for _ in range(PARTIAL // len(chunk)):
            yield chunk
        stop.wait(60)
        yield b"never sent"

    try:
        image = create_image(api, unique("killed-upload"))

        def upload() -> Any:
            try:
                return api.put(f"/v2/images/{image['id']}/file", content=partial_body(),
                               headers={"content-type": "application/octet-stream"})  # fmt: skip
            except httpx.HTTPError as exc:
                return exc

        threading.Thread(target=upload, daemon=True).start()
        written = 0
        for _ in range(400):  # most of the partial body written (the rest is on its way)
            partial = partial_files(tmp_path / "data")
            written = partial[0].stat().st_size if partial else 0
            if written >= PARTIAL - 4 * 1024 * 1024:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the upload wrote only {written} bytes: {partial}")
        kill(first)
        stop.set()
        started = time.monotonic()
        second = start(env, log, port)
        answering = time.monotonic() - started
        try:
            while time.monotonic() - started < RECOVERED_WITHIN:
                status = api.get(f"/v2/images/{image['id']}").json()["status"]
                if status == "queued" and not partial_files(tmp_path / "data"):
                    break
                time.sleep(0.05)
            recovered = time.monotonic() - started
            assert status == "queued", f"still {status} {recovered:.1f} s after the restart"
            assert partial_files(tmp_path / "data") == []
            print(f"restart to first answer {answering:.1f} s; to the upload queued and its "
                  f"{written / 2**20:.0f} MiB partial file gone {recovered:.1f} s")  # fmt: skip
            # And the image takes an upload again.
            again = api.put(f"/v2/images/{image['id']}/file", content=b"whole",
                            headers={"content-type": "application/octet-stream"})  # fmt: skip
            assert again.status_code == 204
        finally:
            second.terminate()
            second.wait(10)
    finally:
        stop.set()
        api.close()
        if first.poll() is None:
            kill(first)


def test_a_live_server_s_slow_upload_is_not_taken_for_dead(tmp_path: Path) -> None:
    """Two servers on one catalogue, beating every third of a 1 s heartbeat: an upload to
    the first that pauses for four heartbeats completes, since its process keeps beating
    while no bytes come (only upload_stuck_after bounds a pause)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
    env |= {"LADING_DATA_DIR": str(tmp_path / "data"), "LADING_UPLOAD_HEARTBEAT": "1"}
    token = create_token(env)
    log = tmp_path / "server.log"
    ports = free_port(), free_port()
    servers = [start(env, log, port) for port in ports]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports[0]}", timeout=30,
                          headers={"X-Auth-Token": token}) as api:  # fmt: skip
            image = create_image(api, unique("slow-upload"))

            def pausing_body() -> Iterator[bytes]:
                yield b"x" * 1024 * 1024
                time.sleep(4)
                yield b"y" * 1024

            answer = api.put(f"/v2/images/{image['id']}/file", content=pausing_body(),
                             headers={"content-type": "application/octet-stream"})  # fmt: skip
            assert answer.status_code == 204, answer.text
            assert_active_with(api.get(f"/v2/images/{image['id']}").json(),
                               b"x" * 1024 * 1024 + b"y" * 1024)  # fmt: skip
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
