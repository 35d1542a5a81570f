"""The documented Click clients, run as a user runs them, against a live ``lading serve``:
the Python example client from docs/examples and the curl recipe from docs/signing.md."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import SIGNING_CLIENT, SIGNING_SECRET
from tests.clients.support import random_bytes, unique

DOCS = Path(__file__).parents[2] / "docs"
TIMEOUT = 60


def test_example_client_signs_uploads_publishes_and_resumes(
    server_url: str, tmp_path: Path
) -> None:
    data = random_bytes(3 * 1024 * 1024 + 17)
    package = tmp_path / "hello_1.0.click"
    package.write_bytes(data)
    target = tmp_path / "downloaded.click"
    target.write_bytes(data[:1_000_000])  # an earlier download, cut short
    name = unique("com.example.hello")
    result = subprocess.run(
        [sys.executable, str(DOCS / "examples" / "click_client.py"), server_url,
         SIGNING_CLIENT, SIGNING_SECRET, str(package), name, "1.0", str(target)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == data
    public = f"{server_url}/click/download/public/{name}/1.0/hello_1.0.click"
    answer = httpx.head(public)
    assert answer.status_code == 200 and "public" in answer.headers["cache-control"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the recipe needs openssl")
def test_curl_recipe_from_the_docs(server_url: str, api_token: str, tmp_path: Path) -> None:
    text = (DOCS / "signing.md").read_text()
    recipe = re.search(r"<!-- signed upload with curl -->\n```sh\n(.*?)```", text, re.DOTALL)
    assert recipe is not None
    script = recipe.group(1).replace("com.example.hello", unique("com.example.hello"))
    tampered = recipe.group(1).replace("com.example.hello", unique("com.example.hello"))
    package = tmp_path / "hello.click"
    package.write_bytes(random_bytes(100_000))
    env = {**os.environ, "LADING_URL": server_url, "CLIENT": SIGNING_CLIENT,
           "SECRET": SIGNING_SECRET, "FILE": str(package)}  # fmt: skip
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    uploaded = json.loads(result.stdout)
    assert uploaded["status"] == "active" and uploaded["published"] is False
    assert uploaded["owner"] == "store" and uploaded["size"] == 100_000
    other = tmp_path / "other" / "hello.click"  # same name, other bytes than were signed
    other.parent.mkdir()
    other.write_bytes(random_bytes(100_000))
    tampered = tampered.replace('-F file=@"$FILE"', '-F file=@"$OTHER"')
    again = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", tampered],
        env={**env, "OTHER": str(other)}, capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip
    assert again.returncode != 0 and "sha256" in again.stdout
