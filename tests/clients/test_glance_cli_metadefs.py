"""The real ``glance`` CLI's md-* commands (python-glanceclient validates every answer
against the /v2/schemas/metadefs/* documents) against a live lading."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.clients.support import run_glance, unique

pytestmark = pytest.mark.clients

Glance = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def glance(server_url: str, api_token: str, tmp_path: Path) -> Glance:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_glance(server_url, api_token, tmp_path, *args)

    return run


def succeed(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"glance failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_md_commands(glance: Glance, api: httpx.Client, tmp_path: Path) -> None:
    name = unique("cli-ns")
    succeed(glance("md-namespace-create", name, "--visibility", "public",
                   "--display-name", "CLI", "--description", "made by glance"))  # fmt: skip
    assert name in succeed(glance("md-namespace-list"))
    definition = {"title": "Cores", "type": "integer", "minimum": 1}
    succeed(glance("md-property-create", name, "--name", "cores", "--title", "Cores",
                   "--type", "integer", "--schema", json.dumps(definition)))  # fmt: skip
    assert "cores" in succeed(glance("md-property-list", name))
    obj = {"properties": {"cores": definition}, "required": ["cores"]}
    succeed(glance("md-object-create", name, "--name", "CPU", "--schema", json.dumps(obj)))
    assert "CPU" in succeed(glance("md-object-list", name))
    succeed(glance("md-tag-create", name, "--name", "gpu"))
    assert "gpu" in succeed(glance("md-tag-list", name))
    succeed(glance("md-resource-type-associate", name, "--name", "OS::Glance::Image",
                   "--prefix", "hw_"))  # fmt: skip
    assert "OS::Glance::Image" in succeed(glance("md-namespace-resource-type-list", name))
    assert "OS::Glance::Image" in succeed(glance("md-resource-type-list"))
    shown = succeed(glance("md-namespace-show", name, "--resource-type", "OS::Glance::Image"))
    assert "hw_cores" in shown and "made by glance" in shown
    succeed(glance("md-namespace-update", name, "--protected", "True"))
    assert glance("md-namespace-delete", name).returncode != 0  # protected: 403
    succeed(glance("md-namespace-update", name, "--protected", "False"))
    succeed(glance("md-namespace-delete", name))
    assert api.get(f"/v2/metadefs/namespaces/{name}").status_code == 404
