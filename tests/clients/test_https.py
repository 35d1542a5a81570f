"""A live ``lading serve`` over HTTPS, with a certificate of the tests' own CA: curl with
``--cacert``, httpx verifying against the CA, the glance CLI with ``--os-cacert``; the
plain-HTTP redirect listener; Strict-Transport-Security; trusted proxies' headers; and the
one-line refusals of certificates and keys that cannot serve."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.certificates import ServerFiles, make_server_files, pkcs8
from tests.clients.conftest import (
    LADING,
    STARTUP_TIMEOUT,
    create_token,
    free_port,
    log_tail,
    stop,
)
from tests.clients.support import MiB, assert_active_with, random_bytes, run_glance, unique

pytestmark = pytest.mark.clients

CURL_TIMEOUT = "60"
PROXY_ADDRESS = "127.0.0.2"  # the trusted proxy: loopback, but another address
FAILURE_TIMEOUT = 60.0
HEADER_TIMEOUT = 1.0  # server.header_timeout, seconds


@dataclass(frozen=True)
class HttpsLading:
    url: str  # https://127.0.0.1:port
    plain: str  # the redirect listener, http://127.0.0.1:port
    token: str
    files: ServerFiles
    log: Path
    registry: str = ""  # the OCI registry's listener, https://127.0.0.1:port

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.files.ca)

    def client(self, **options: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, verify=self.context(), headers={"X-Auth-Token": self.token},
            timeout=30.0, **options,  # type: ignore[arg-type]
        )  # fmt: skip


def environment(root: Path, settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
    return env | {"LADING_DATA_DIR": str(root / "data"), **settings}


def wait_until(process: subprocess.Popen[bytes], log: Path, url: str, ca: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    context = ssl.create_default_context(cafile=ca)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"lading exited with {process.returncode}:\n{log_tail(log)}")
        try:
            httpx.get(url, verify=context, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not answer in {STARTUP_TIMEOUT} s:\n{log_tail(log)}")


@pytest.fixture(scope="module")
def https_lading(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpsLading]:
    root = tmp_path_factory.mktemp("lading-https")
    files = make_server_files(root / "tls")
    port, redirect_port, registry_port = free_port(), free_port(), free_port()
    env = environment(root, {
        "LADING_OCI__PORT": str(registry_port),
        "LADING_TLS__CERTIFICATE": str(files.certificate),
        "LADING_TLS__KEY": str(files.key),
        "LADING_TLS__REDIRECT_PORT": str(redirect_port),
        "LADING_SERVER__TRUSTED_PROXIES": json.dumps([PROXY_ADDRESS]),
        "LADING_SERVER__HEADER_TIMEOUT": str(HEADER_TIMEOUT),
    })  # fmt: skip
    token = create_token(env)
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(LADING), "serve", "--port", str(port)], env=env, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = HttpsLading(
        f"https://127.0.0.1:{port}", f"http://127.0.0.1:{redirect_port}", token, files, log,
        f"https://127.0.0.1:{registry_port}",
    )  # fmt: skip
    try:
        wait_until(process, log, f"{server.url}/healthcheck", files.ca)
        wait_until(process, log, f"{server.plain}/healthcheck", files.ca)
        wait_until(process, log, f"{server.registry}/v2/", files.ca)
        yield server
    finally:
        stop(process)
    assert "panicked" not in log.read_text(errors="replace"), log_tail(log)


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    command = ["curl", "--silent", "--show-error", "--max-time", CURL_TIMEOUT, *args]
    return subprocess.run(command, capture_output=True, timeout=90, check=False)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_uploads_and_downloads_with_cacert(https_lading: HttpsLading, tmp_path: Path) -> None:
    data = random_bytes(3 * MiB + 5)
    source, copy = tmp_path / "disk.img", tmp_path / "copy.img"
    source.write_bytes(data)
    ca, token = str(https_lading.files.ca), f"X-Auth-Token: {https_lading.token}"
    created = curl(
        "--cacert", ca, "-H", token, "-H", "Content-Type: application/json", "--include",
        "--data", json.dumps({"name": unique("curl"), "disk_format": "raw",
                              "container_format": "bare"}),
        f"{https_lading.url}/v2/images",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    head, _, body = created.stdout.decode().partition("\r\n\r\n")
    image = json.loads(body)
    assert f"location: {https_lading.url}/v2/images/{image['id']}" in head.lower()
    assert "strict-transport-security: max-age=31536000" in head.lower()
    upload = curl(
        "--cacert", ca, "-H", token, "-H", "Content-Type: application/octet-stream",
        "-T", str(source), "--fail", f"{https_lading.url}/v2/images/{image['id']}/file",
    )  # fmt: skip
    assert upload.returncode == 0, upload.stderr
    download = curl(
        "--cacert", ca, "-H", token, "--fail", "-o", str(copy),
        f"{https_lading.url}/v2/images/{image['id']}/file",
    )  # fmt: skip
    assert download.returncode == 0, download.stderr
    assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(data).digest()
    # Without the CA, curl refuses the server: the certificate is what is checked.
    untrusted = curl("-o", os.devnull, f"{https_lading.url}/healthcheck")
    assert untrusted.returncode == 60, untrusted.stderr  # peer certificate not verified


def test_httpx_verifies_against_the_ca(https_lading: HttpsLading) -> None:
    with https_lading.client() as api:
        versions = api.get("/")
        assert versions.headers["strict-transport-security"] == "max-age=31536000"
        hrefs = {link["href"] for v in versions.json()["versions"] for link in v["links"]}
        assert hrefs == {f"{https_lading.url}/v2/"}
        data = random_bytes(MiB)
        created = api.post(
            "/v2/images", json={"name": unique("httpx"), "disk_format": "raw",
                                "container_format": "bare"},
        )  # fmt: skip
        image = created.json()
        assert created.headers["location"] == f"{https_lading.url}/v2/images/{image['id']}"
        put = api.put(
            f"/v2/images/{image['id']}/file", content=data,
            headers={"content-type": "application/octet-stream"},
        )  # fmt: skip
        assert put.status_code == 204, put.text
        assert_active_with(api.get(f"/v2/images/{image['id']}").json(), data)
        assert api.get(f"/v2/images/{image['id']}/file").content == data
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_lading.url}/healthcheck")  # the system's CAs do not know ours


def test_glance_cli_with_os_cacert(
    https_lading: HttpsLading, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests prefers these to the CLI's own --os-cacert (psf/requests#3829): a machine
    # that sets them (as this one may) has to unset them for glance --os-cacert.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    data = random_bytes(2 * MiB + 3)
    source, copy = tmp_path / "disk.img", tmp_path / "copy.img"
    source.write_bytes(data)
    ca = str(https_lading.files.ca)
    created = run_glance(
        https_lading.url, https_lading.token, tmp_path, "--os-cacert", ca, "image-create",
        "--name", unique("glance"), "--disk-format", "raw", "--container-format", "bare",
        "--file", str(source),
    )  # fmt: skip
    assert created.returncode == 0, f"{created.stdout}\n{created.stderr}"
    image_id = next(
        line.split("|")[2].strip() for line in created.stdout.splitlines()
        if line.split("|")[1:2] and line.split("|")[1].strip() == "id"
    )  # fmt: skip
    downloaded = run_glance(
        https_lading.url, https_lading.token, tmp_path, "--os-cacert", ca, "image-download",
        "--file", str(copy), image_id,
    )  # fmt: skip
    assert downloaded.returncode == 0, downloaded.stderr
    assert copy.read_bytes() == data
    # The CA is what is checked: another one's is refused.
    other_ca = str(make_server_files(tmp_path / "other").ca)
    refused = run_glance(
        https_lading.url, https_lading.token, tmp_path, "--os-cacert", other_ca, "image-list"
    )
    assert refused.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr


def test_the_plain_listener_redirects_permanently_to_https(https_lading: HttpsLading) -> None:
    port = https_lading.url.rpartition(":")[2]
    with httpx.Client(base_url=https_lading.plain, timeout=10.0) as plain:
        got = plain.get("/v2/images?limit=1&name=a%20b")
        assert got.status_code == 301
        assert got.headers["location"] == f"https://127.0.0.1:{port}/v2/images?limit=1&name=a%20b"
        assert plain.head("/v2/images").status_code == 301
        # Other methods keep their method and body: 308, the body drained, not refused.
        put = plain.put("/v2/images/x/file", content=b"x" * MiB, headers={"Host": "localhost"})
        assert put.status_code == 308
        assert put.headers["location"] == f"https://localhost:{port}/v2/images/x/file"
        assert plain.post("/v2/images", json={}).status_code == 308
        # Only HTTPS answers carry HSTS (browsers ignore it over HTTP anyway).
        assert "strict-transport-security" not in got.headers
        # A Host this server does not answer to is taught no redirect.
        assert plain.get("/", headers={"Host": "evil.example"}).status_code == 400
    with https_lading.client(follow_redirects=True) as api:
        followed = api.get(f"{https_lading.plain}/v2/images")
        assert followed.status_code == 200
        assert str(followed.url).startswith(https_lading.url)


def test_the_plain_listener_lets_a_slow_head_go(https_lading: HttpsLading) -> None:
    """A client that never finishes its request head holds no connection for long."""
    host, _, port = https_lading.plain.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and no end of head
        started = time.monotonic()
        answer = slow.recv(1024)  # the server closes it, maybe saying 408 first
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408"), answer
        waited = time.monotonic() - started
    assert HEADER_TIMEOUT * 0.5 < waited < HEADER_TIMEOUT + 5


def access_clients(log: Path, path: str) -> list[str]:
    """The client of each access line for ``path``, oldest first."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if " lading.access: " in line and f'"{path}"' in line:
            found.append(line.split(" lading.access: ", 1)[1].split(" ", 1)[0])
    return found


def test_forwarded_for_counts_from_the_trusted_proxy_only(https_lading: HttpsLading) -> None:
    forged = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "http"}
    path = f"/v2/images/{unique('absent')}"
    with https_lading.client() as direct:  # from 127.0.0.1, not the trusted proxy
        assert direct.get(path, headers=forged).status_code == 404
    transport = httpx.HTTPTransport(verify=https_lading.context(), local_address=PROXY_ADDRESS)
    with https_lading.client(transport=transport) as proxy:
        relayed = {"X-Forwarded-For": "6.6.6.6, 203.0.113.77"}
        assert proxy.get(path, headers=relayed).status_code == 404
    deadline = time.monotonic() + 5
    while len(access_clients(https_lading.log, path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert access_clients(https_lading.log, path) == ["127.0.0.1", "203.0.113.77"]


def refusal(
    tmp_path: Path, certificate: Path, key: Path, port: int, settings: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    env = environment(tmp_path, {
        "LADING_TLS__CERTIFICATE": str(certificate), "LADING_TLS__KEY": str(key), **settings,
    })  # fmt: skip
    return subprocess.run(
        [str(LADING), "serve", "--port", str(port)], env=env, capture_output=True,
        text=True, timeout=FAILURE_TIMEOUT, check=False,
    )  # fmt: skip


def test_files_that_cannot_serve_are_one_line_naming_them(tmp_path: Path) -> None:
    files = make_server_files(tmp_path / "tls")
    other_key = tmp_path / "other.key"
    other_key.write_bytes(pkcs8(ec.generate_private_key(ec.SECP256R1())))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cases = [
        (files.certificate, tmp_path / "missing.key", f"tls.key {tmp_path / 'missing.key'}"),
        (files.certificate, other_key, f"tls.key {other_key} is not the key"),
        (garbage, files.key, f"tls.certificate {garbage} holds no PEM certificate"),
        (files.certificate, garbage, f"tls.key {garbage} holds no PEM private key"),
    ]
    port = free_port()
    cases.append((files.certificate, files.key, f"tls.redirect_port {port} is the port"))
    for certificate, key, said in cases:
        same_port = {"LADING_TLS__REDIRECT_PORT": str(port)} if "redirect" in said else {}
        result = refusal(tmp_path, certificate, key, port, same_port)
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {said}"), result.stderr
