"""``lading upload`` over tus against a live server, through a relay that cuts the
connection: retried from the server's offset within one run, resumed by the next run
after the command was killed, never resumed for a file that changed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from lading.cli.unfinished import Unfinished, UnfinishedUploads
from tests.clients.conftest import LADING, Lading, running_lading
from tests.clients.support import get_image
from tests.clients.test_lading_cli import lading, ok, random_file
from tests.faults import Relay, relay_to

pytestmark = pytest.mark.clients
MiB = 1024 * 1024
WAIT = 60.0  # seconds, bounded loops on a shared machine
OFFSETS = re.compile(rb"upload-offset: (\d+)", re.IGNORECASE)


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as file:
        while piece := file.read(4 * MiB):
            digest.update(piece)
    return digest.hexdigest()


def state_of(tmp_path: Path) -> dict[str, str]:
    """The environment that keeps the command's state file in the test's folder."""
    return {"XDG_STATE_HOME": str(tmp_path / "state")}


def records(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "state" / "lading" / "uploads.json"
    return json.loads(path.read_text())["uploads"] if path.exists() else []


def through(relay: Relay) -> str:
    return f"http://127.0.0.1:{relay.port}"


def port_of(server: Lading) -> int:
    return int(server.url.rsplit(":", 1)[1])


def assert_same_bytes(api: httpx.Client, artifact_id: str, source: Path, sha256: str) -> None:
    image = get_image(api, artifact_id)
    assert image["status"] == "active", image
    assert image["size"] == source.stat().st_size
    assert image["checksum"] == md5_of(source)
    assert image["os_hash_algo"] == "sha256" and image["os_hash_value"] == sha256


def wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"waited {WAIT} s for {what}"
        time.sleep(0.02)


def killed_upload(server: Lading, relay: Relay, source: Path, tmp_path: Path, cut: int) -> None:
    """Run ``lading upload`` through the relay, cut the relay after ``cut`` bytes, and kill
    the command while it waits to try again: what a dead laptop leaves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LADING_")}
    env |= {"LADING_URL": through(relay), "LADING_TOKEN": server.token, **state_of(tmp_path),
            "LADING_CLIENT_CONFIG": "/nonexistent/client.toml"}  # fmt: skip
    relay.cut_after(cut)
    command = [str(LADING), "upload", str(source), "--chunk-size", "8MiB", "--progress", "none"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(relay.sent) >= cut, "the relay to be cut")
        assert process.poll() is None, "the command ended on its own"
        time.sleep(0.2)  # it is retrying now, after its backoff
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(WAIT)
    relay.restore()
    assert len(records(tmp_path)) == 1


def test_a_connection_cut_mid_chunk_is_retried_from_the_servers_offset(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    source = tmp_path / "disk.img"
    sha256 = random_file(source, 40 * MiB)
    with relay_to(port_of(lading_server)) as relay:
        relay.cut_after(20 * MiB)  # in the middle of the second chunk of 16 MiB

        def come_back() -> None:
            wait_for(lambda: len(relay.sent) >= 20 * MiB, "the cut")
            time.sleep(1.0)
            relay.restore()

        back = threading.Thread(target=come_back, daemon=True)
        back.start()
        args = ["upload", str(source), "--chunk-size", "16MiB", "--progress", "none"]
        result = lading(through(relay), *args, token=lading_server.token, env=state_of(tmp_path))
        back.join(WAIT)
        artifact_id = ok(result).strip()
        offsets = [int(found) for found in OFFSETS.findall(relay.sent)]
    assert_same_bytes(api, artifact_id, source, sha256)
    patched = sorted(set(offsets))
    # Resumed where the server stopped (it keeps what arrived of a cut body), not at 16 MiB.
    assert patched[:2] == [0, 16 * MiB] and 16 * MiB < patched[2] < 20 * MiB, patched
    assert records(tmp_path) == []  # a finished upload is forgotten


def test_a_killed_upload_resumes_when_the_command_runs_again(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    source = tmp_path / "disk.img"
    size = 48 * MiB
    sha256 = random_file(source, size)
    with relay_to(port_of(lading_server)) as relay:
        killed_upload(lading_server, relay, source, tmp_path, cut=28 * MiB)
        (earlier,) = records(tmp_path)
        sent_before = len(relay.sent)
        args = ["upload", str(source), "--chunk-size", "8MiB", "--progress", "none"]
        result = lading(through(relay), *args, token=lading_server.token, env=state_of(tmp_path))
        artifact_id = ok(result).strip()
        resent = len(relay.sent) - sent_before
    resumed = re.search(r"resuming the upload of .* from byte (\d+) of (\d+)", result.stderr)
    assert resumed, result.stderr
    offset = int(resumed[1])
    assert 16 * MiB <= offset < 28 * MiB and int(resumed[2]) == size
    assert artifact_id == earlier["artifact"]  # the same artifact, filled
    assert size - offset <= resent < size - offset + MiB  # the rest, and a few headers
    assert_same_bytes(api, artifact_id, source, sha256)
    assert records(tmp_path) == []


def test_a_file_changed_since_its_upload_began_starts_over(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    source = tmp_path / "disk.img"
    random_file(source, 24 * MiB)
    args = ["upload", str(source), "--chunk-size", "8MiB", "--progress", "none"]
    with relay_to(port_of(lading_server)) as relay:
        killed_upload(lading_server, relay, source, tmp_path, cut=12 * MiB)
        (earlier,) = records(tmp_path)
        sha256 = random_file(source, 24 * MiB)  # the same size, other bytes, a later time
        refused = lading(through(relay), *args, "--resume", token=lading_server.token,
                         env=state_of(tmp_path))  # fmt: skip
        assert refused.returncode == 2, refused.stderr
        assert "changed since its upload began" in refused.stderr
        result = lading(through(relay), *args, token=lading_server.token, env=state_of(tmp_path))
        artifact_id = ok(result).strip()
    assert "changed since its upload began: starting over" in result.stderr
    assert artifact_id != earlier["artifact"]
    assert_same_bytes(api, artifact_id, source, sha256)
    assert api.get(f"/v2/images/{earlier['artifact']}").status_code == 404
    assert records(tmp_path) == []


def test_no_resume_starts_over_and_drops_what_the_earlier_attempt_left(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    source = tmp_path / "disk.img"
    sha256 = random_file(source, 24 * MiB)
    with relay_to(port_of(lading_server)) as relay:
        killed_upload(lading_server, relay, source, tmp_path, cut=12 * MiB)
        (earlier,) = records(tmp_path)
        args = ["upload", str(source), "--no-resume", "--progress", "none"]
        result = lading(through(relay), *args, token=lading_server.token, env=state_of(tmp_path))
        artifact_id = ok(result).strip()
    assert "resuming" not in result.stderr
    assert artifact_id != earlier["artifact"]
    assert_same_bytes(api, artifact_id, source, sha256)
    gone = api.get(f"/v2/images/{earlier['artifact']}")
    assert gone.status_code == 404  # the queued artifact of the attempt dropped
    upload = api.head(urlsplit(str(earlier["url"])).path, headers={"tus-resumable": "1.0.0"})
    assert upload.status_code in (404, 410)  # and its upload terminated


def test_an_upload_to_a_named_store_goes_in_one_request(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    """A resumable upload's bytes go to the server's default store: an upload that names
    a store goes in one PUT, which names it, and cannot be resumed."""
    source = tmp_path / "disk.img"
    sha256 = random_file(source, 3 * MiB)
    args = ["upload", str(source), "--store", "default", "--progress", "none"]
    refused = lading(lading_server, *args, "--resume", env=state_of(tmp_path))
    assert refused.returncode == 2 and "--store is given" in refused.stderr
    with relay_to(port_of(lading_server)) as relay:
        result = lading(through(relay), *args, token=lading_server.token, env=state_of(tmp_path))
        artifact_id = ok(result).strip()
        assert b"/uploads/" not in relay.sent
        assert f"PUT /v2/images/{artifact_id}/file ".encode() in relay.sent
    assert_same_bytes(api, artifact_id, source, sha256)
    assert records(tmp_path) == []


def test_an_upload_that_finished_unheard_is_not_sent_again(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    """The command died after the last byte went, before the answer came: run again, it
    finds the artifact active and prints it, sending nothing."""
    source = tmp_path / "disk.img"
    sha256 = random_file(source, 2 * MiB)
    args = ["upload", str(source), "--progress", "none"]
    artifact_id = ok(lading(lading_server, *args, env=state_of(tmp_path))).strip()
    kept = UnfinishedUploads(tmp_path / "state" / "lading" / "uploads.json")
    kept.keep(
        Unfinished.of(lading_server.url, source, f"{lading_server.url}/uploads/x", artifact_id)
    )
    again = lading(lading_server, *args, env=state_of(tmp_path))
    assert ok(again).strip() == artifact_id and "had finished" in again.stderr
    assert_same_bytes(api, artifact_id, source, sha256)
    assert records(tmp_path) == []


def test_an_upload_resumes_across_a_server_restart(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """The server goes down mid-upload (the command with it) and comes back, on the same
    data: the next run resumes from what the first server stored."""
    source = tmp_path / "disk.img"
    size = 32 * MiB
    sha256 = random_file(source, size)
    root = tmp_path / "server"
    root.mkdir()
    with running_lading(root, pytestconfig) as first:
        relay = Relay(port_of(first))
        try:
            killed_upload(first, relay, source, tmp_path, cut=20 * MiB)
        except BaseException:
            relay.close()
            raise
    try:
        with running_lading(root, pytestconfig) as second:
            relay.retarget(port_of(second))
            args = ["upload", str(source), "--chunk-size", "8MiB", "--progress", "none"]
            result = lading(through(relay), *args, token=first.token, env=state_of(tmp_path))
            artifact_id = ok(result).strip()
            assert re.search(r"resuming the upload of .* from byte [1-9]", result.stderr)
            with httpx.Client(base_url=second.url, headers={"x-auth-token": second.token}) as api:
                assert_same_bytes(api, artifact_id, source, sha256)
    finally:
        relay.close()
