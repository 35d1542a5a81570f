"""docs/examples/nginx.conf in front of a lading that trusts it: the access log shows the
client's address, which nginx passes in X-Forwarded-For, and what the client forges in
those headers does not count."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.clients.cluster import find_nginx, running_front
from tests.clients.conftest import free_port, running_lading
from tests.clients.support import unique

pytestmark = pytest.mark.clients

CLIENT_ADDRESS = "127.0.0.5"  # the client: loopback, but not nginx's address (127.0.0.1)


def access_clients(log: Path, path: str) -> list[str]:
    lines = log.read_text(errors="replace").splitlines()
    return [
        line.split(" lading.access: ", 1)[1].split(" ", 1)[0]
        for line in lines
        if " lading.access: " in line and f'"{path}"' in line
    ]


def test_the_access_log_shows_the_client_behind_the_example_nginx(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("needs nginx (apt-get install nginx-light)")
    settings = {"LADING_SERVER__TRUSTED_PROXIES": '["127.0.0.1"]'}
    with running_lading(tmp_path / "lading", pytestconfig, settings) as lading:
        node = lading.url.removeprefix("http://")
        with running_front(nginx, tmp_path / "nginx", [node], "10m", free_port()) as front:
            transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
            headers = {"X-Auth-Token": lading.token}
            with httpx.Client(base_url=front.url, transport=transport, headers=headers) as api:
                path = f"/v2/images/{unique('absent')}"
                forged = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"}
                assert api.get(path, headers=forged).status_code == 404
                created = api.post(
                    "/v2/images", json={"name": unique("proxied"), "disk_format": "raw",
                                        "container_format": "bare"},
                    headers=forged,
                )  # fmt: skip
                assert created.status_code == 201, created.text
                # nginx's $scheme replaced the forged one: the client came over http. (The
                # example passes $host, without the port: public_endpoint names it.)
                assert created.headers["location"].startswith("http://127.0.0.1")
        # Straight to lading from 127.0.0.1, which it trusts: the header counts.
        with httpx.Client(base_url=lading.url, headers=headers) as direct:
            direct.get(path, headers={"X-Forwarded-For": "203.0.113.77"})
        deadline = time.monotonic() + 5
        while len(access_clients(lading_log(tmp_path), path)) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert access_clients(lading_log(tmp_path), path) == [CLIENT_ADDRESS, "203.0.113.77"]


def lading_log(tmp_path: Path) -> Path:
    return tmp_path / "lading" / "server.log"
