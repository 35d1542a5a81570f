"""Operations on a live ``lading serve``: Prometheus metrics after a known sequence of
requests, JSON access logs carrying the request id, and what the server says at start."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.clients.conftest import Lading, running_lading

pytestmark = pytest.mark.clients


def samples(server: Lading) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:  # fmt: skip
    return found.get((name, frozenset(labels.items())), 0.0)


def known_sequence(server: Lading) -> tuple[str, bytes]:
    """Create an image, upload 1 MiB, download it twice, ask for a missing one."""
    data = bytes(range(256)) * 4096
    with httpx.Client(base_url=server.url, headers={"X-Auth-Token": server.token}) as client:
        image = client.post("/v2/images", json={"name": "m", "disk_format": "raw",
                                                "container_format": "bare"}).json()  # fmt: skip
        octets = {"content-type": "application/octet-stream"}
        client.put(f"/v2/images/{image['id']}/file", content=data, headers=octets)
        for _ in range(2):
            assert client.get(f"/v2/images/{image['id']}/file").content == data
        assert client.get("/v2/images/00000000-0000-0000-0000-000000000000").status_code == 404
        assert client.get("/no/such/route").status_code == 404
        assert httpx.get(f"{server.url}/v2/images").status_code == 401
        refused = httpx.get(f"{server.url}/v2/images", headers={"X-Auth-Token": "lt_wrong"})
        assert refused.status_code == 401  # answered before routing, labelled all the same
        for odd in ("FOO1", "Z" * 40):  # methods a client makes up: one label for them all
            assert client.request(odd, "/v2/images").status_code == 405
        assert client.get("/versions").status_code in (200, 300)
    return image["id"], data


def test_metrics_count_a_known_sequence(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    with running_lading(tmp_path, pytestconfig) as server:
        _, data = known_sequence(server)
        found = samples(server)
    file_route = "/v2/images/{image_id}/file"
    assert value(found, "lading_http_requests_total", face="glance_v2", route="/v2/images",
                 method="POST", status="201") == 1  # fmt: skip
    assert value(found, "lading_http_requests_total", face="glance_v2", route=file_route,
                 method="PUT", status="204") == 1  # fmt: skip
    assert value(found, "lading_http_requests_total", face="glance_v2", route=file_route,
                 method="GET", status="200") == 2  # fmt: skip
    assert value(found, "lading_http_requests_total", face="glance_v2",
                 route="/v2/images/{image_id}", method="GET", status="404") == 1  # fmt: skip
    assert value(found, "lading_http_requests_total", face="other", route="unmatched",
                 method="GET", status="404") == 1  # fmt: skip
    assert value(found, "lading_http_requests_total", face="glance_v2", route="/v2/images",
                 method="GET", status="401") == 2  # fmt: skip
    assert value(found, "lading_http_requests_total", face="glance_v2", route="/v2/images",
                 method="other", status="405") == 2  # fmt: skip
    assert value(found, "lading_http_requests_total", face="other", route="/versions",
                 method="GET", status="300") + value(
        found, "lading_http_requests_total", face="other", route="/versions", method="GET",
        status="200") == 1  # fmt: skip
    assert value(found, "lading_http_request_duration_seconds_count", face="glance_v2",
                 route=file_route, method="GET") == 2  # fmt: skip
    assert value(found, "lading_http_received_bytes_total", face="glance_v2") >= len(data)
    assert value(found, "lading_http_sent_bytes_total", face="glance_v2") >= 2 * len(data)
    assert value(found, "lading_uploads_in_flight") == 0
    assert value(found, "lading_tasks", status="pending") == 0
    for reason in ("delayed_delete", "retention"):  # both figures told, at 0 here
        assert ("lading_reclaimable_bytes", frozenset({("reason", reason)})) in found
        assert value(found, "lading_reclaimable_bytes", reason=reason) == 0


def test_metrics_add_up_over_workers(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    with running_lading(tmp_path, pytestconfig, workers=2) as server:
        with httpx.Client(base_url=server.url, headers={"X-Auth-Token": server.token}) as client:
            for _ in range(20):  # new connections: the workers share them out
                with httpx.Client(base_url=server.url, headers=client.headers) as fresh:
                    assert fresh.get("/v2/images").status_code == 200
        found = samples(server)
    assert value(found, "lading_http_requests_total", face="glance_v2", route="/v2/images",
                 method="GET", status="200") == 20  # fmt: skip


def test_a_path_cannot_forge_an_access_line(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    with running_lading(tmp_path, pytestconfig) as server:
        httpx.get(f"{server.url}/v2/images%0a2026-11-21 FORGED 200")
        time.sleep(0.5)
    log = (tmp_path / "server.log").read_text()
    assert not any(line.startswith("2026-11-21 FORGED") for line in log.splitlines())
    assert "FORGED" in log


def test_json_access_logs_and_start_up_lines(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    settings = {"LADING_LOG_FORMAT": "json"}
    with running_lading(tmp_path, pytestconfig, settings) as server:
        answer = httpx.get(f"{server.url}/v2/images", headers={"X-Auth-Token": server.token})
        request_id = answer.headers["x-openstack-request-id"]
        log = tmp_path / "server.log"
        for _ in range(50):
            if request_id in log.read_text():
                break
            time.sleep(0.1)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (access,) = [line for line in lines if line.get("request_id") == request_id]
    assert access["logger"] == "lading.access" and access["status"] == 200
    assert (access["method"], access["path"], access["route"]) == ("GET", "/v2/images",
                                                                  "/v2/images")  # fmt: skip
    messages = [line["message"] for line in lines]
    assert any(message.startswith("catalogue: sqlite:///") for message in messages)
    assert any(message.startswith("store default (default): filesystem /")
               for message in messages)  # fmt: skip


def test_the_address_given_to_serve_is_the_one_answered(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """``--host`` wins over the host setting for the workers too: they answer requests
    naming the address bound, not the setting's (lading.sites)."""
    settings = {"LADING_HOST": "10.9.9.9"}
    arguments = ("--host", "127.0.0.1")
    with running_lading(tmp_path, pytestconfig, settings, arguments=arguments) as server:
        assert httpx.get(f"{server.url}/versions", timeout=10).status_code == 200
        named = httpx.get(f"{server.url}/versions", headers={"host": "10.9.9.9"}, timeout=10)
        assert named.status_code == 400 and "10.9.9.9" in named.text
