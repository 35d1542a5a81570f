"""What ``lading serve`` hands its workers and its redirect listener: a value they build
their settings from, never the environment (which it leaves as it found it)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.cli.launch import Launch, api_app, redirect_app
from lading.settings import CONFIG_FILE_VARIABLE


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, "")
    monkeypatch.delenv(CONFIG_FILE_VARIABLE)


def test_the_flags_outrank_the_file_and_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path}"\nhost = "127.0.0.2"\nport = 7000\n')
    monkeypatch.setenv("LADING_PORT", "7001")
    assert (Launch(config).settings().host, Launch(config).settings().port) == ("127.0.0.2", 7001)
    flags = Launch(config, host="127.0.0.3", port=7002)
    settings = flags.settings()
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.3", 7002, tmp_path)
    before = dict(os.environ)
    api_app(flags)
    assert dict(os.environ) == before


def test_a_launch_reaches_a_spawned_worker_and_a_fresh_interpreter(tmp_path: Path) -> None:
    launch = Launch(tmp_path / "lading.toml", tmp_path / "pr-config.json", "::1", 9443)
    assert pickle.loads(pickle.dumps(launch)) == launch  # a spawned granian worker
    assert Launch.from_argument(launch.argument()) == launch  # the redirect listener
    assert Launch.from_argument(Launch().argument()) == Launch()


def test_the_redirect_listener_sends_clients_to_the_launchs_port(tmp_path: Path) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    redirects = TestClient(redirect_app(Launch(config, port=9443)), base_url="http://localhost")
    answer = redirects.get("/v2/images?limit=1", follow_redirects=False)
    assert answer.status_code == 301
    assert answer.headers["location"] == "https://localhost:9443/v2/images?limit=1"
