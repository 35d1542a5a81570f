"""`lading serve --pnda-config pr-config.json`: a PNDA deployment's own file, and the
PNDA face serving its repository from the directory the file names, with two workers
(each reads the file itself); a file it cannot read is one line and exit 1."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import LADING, running_lading

pytestmark = pytest.mark.clients
FILE = "spark-batch-example-app-1.0.23.tar.gz"


def test_serve_with_pnda_config(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    packages = tmp_path / "packages"
    config = tmp_path / "pr-config.json"
    config.write_text(json.dumps({"FsRepository": {"location": {"path": str(packages)}}}))
    data = os.urandom(3 * 1024 * 1024 + 5)
    arguments = ("--pnda-config", str(config))
    with running_lading(tmp_path, pytestconfig, workers=2, arguments=arguments) as server:
        headers = {"X-Auth-Token": server.token}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            put = client.put(f"/packages/{FILE}", content=data)
            assert put.status_code == 200, put.text
            for _ in range(4):  # either worker: both serve from the file's store
                listed = client.get("/packages").json()
                assert listed == [
                    {
                        "name": "spark-batch-example-app",
                        "latest_versions": [{"version": "1.0.23", "file": FILE}],
                    }
                ]
                assert client.get(f"/packages/{FILE}").content == data
    stored = [path for path in packages.rglob("*") if path.is_file()]
    assert sum(path.stat().st_size for path in stored) == len(data)


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{nope", "not JSON"), ('{"HdfsRepository": {}}', "unknown repository kind")],
)
def test_serve_with_a_file_it_cannot_read(tmp_path: Path, text: str, problem: str) -> None:
    config = tmp_path / "pr-config.json"
    config.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LADING_")}
    env["LADING_DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [str(LADING), "serve", "--port", "0", "--pnda-config", str(config)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: {config}: {problem}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
