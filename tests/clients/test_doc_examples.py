"""The curl examples of the face pages, run verbatim (every ``sh`` block under "Examples",
in order, in one bash) against a live ``lading serve``, as a reader would paste them; and
the first upload and download of the index page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import Lading, create_visor_key, running_lading
from tests.http_origin import Origin
from tests.osm_packages import package
from tests.services_required import unavailable

pytestmark = pytest.mark.clients
DOCS = Path(__file__).parents[2] / "docs"
PAGES = ["api-glance-v1.md", "api-visor.md", "api-pnda.md", "api-click.md", "api-osm.md",
         "uploads.md"]  # fmt: skip


def examples(page: str, section: str = "Examples") -> str:
    text = (DOCS / page).read_text()
    section = text.partition(f"\n## {section}\n")[2].partition("\n## ")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert blocks, f"{page} has no examples"
    return "\n".join(blocks)


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_run_as_written(
    page: str, lading_server: Lading, web_origin: Origin, tmp_path: Path
) -> None:
    if not (shutil.which("curl") and shutil.which("jq")):
        unavailable("the examples need curl and jq (apt-get install curl jq)")
    env = {**os.environ, "LADING": lading_server.url, "TOKEN": lading_server.token,
           "IMAGE_URL": web_origin.url(),
           "PACKAGE_URL": web_origin.url("/ping_vnfd.tar.gz")}  # fmt: skip
    if page == "api-visor.md":  # VISoR's clients sign with a key pair the operator made
        env["ACCESS_KEY"], env["SECRET_KEY"] = create_visor_key(lading_server.env)
    served = web_origin.data
    if page == "api-osm.md":  # the origin serves the package for a while (only it fetches)
        web_origin.data = package(version="2.0")
    try:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-x", "-c", examples(page)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        web_origin.data = served
    assert result.returncode == 0, f"{page}:\n{result.stderr[-4000:]}\n{result.stdout[-2000:]}"


def test_pndas_own_examples_run_verbatim(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """PNDA's documented commands, byte for byte: http://host:8888 reaches lading through
    a .curlrc, lading answers that name, and lets requests without a token write, as PNDA
    did."""
    if not shutil.which("curl"):
        unavailable("the examples need curl (apt-get install curl)")
    settings = {"LADING_PNDA": '{"anonymous": "write"}', "LADING_ALLOWED_HOSTS": '["host"]'}
    with running_lading(tmp_path / "server", pytestconfig, settings) as server:
        port = server.url.rpartition(":")[2]
        (tmp_path / ".curlrc").write_text(f"connect-to = host:8888:127.0.0.1:{port}\n")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", examples("api-pnda.md", "PNDA's own examples")],
            cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path)}, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        # curl without -f succeeds on any answer: what the commands printed tells.
        printed = result.stdout
        for expected in ('"name":"my-package","version":"1.0.0"',  # the upload
                         '"latest_versions":[{"version":"1.0.0","file":"my-package-1.0.0.tar.gz"}]',
                         "a PNDA application\n",  # the download
                         '"file":"my-package-1.0.0.tar.gz"'):  # the delete  # fmt: skip
            assert expected in printed, printed
            printed = printed.partition(expected)[2]
        assert httpx.get(f"{server.url}/packages").json() == []


def test_first_upload_and_download_run_verbatim(
    server_url: str, api_token: str, tmp_path: Path
) -> None:
    """The index page's commands, byte for byte, as a reader pastes them after ``make run``:
    http://127.0.0.1:9292 reaches the session's server through a .curlrc, which also sends
    its token (``make run`` serves open, with no token; this server has one)."""
    if not (shutil.which("curl") and shutil.which("jq")):
        unavailable("the examples need curl and jq (apt-get install curl jq)")
    port = server_url.rpartition(":")[2]
    (tmp_path / ".curlrc").write_text(
        f'connect-to = 127.0.0.1:9292:127.0.0.1:{port}\nheader = "X-Auth-Token: {api_token}"\n'
    )
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-x", "-c", examples("index.md", "First upload and download")],
        cwd=tmp_path, env={**os.environ, "HOME": str(tmp_path), "CURL_HOME": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{result.stderr[-4000:]}\n{result.stdout[-2000:]}"
    digest = result.stdout.splitlines()[-2:]  # os_hash_value, then what sha256sum says
    assert digest[0] == digest[1].split()[0], result.stdout
