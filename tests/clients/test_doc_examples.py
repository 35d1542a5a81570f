"""The curl examples of the face pages, run verbatim (every ``sh`` block under "Examples",
in order, in one bash) against a live ``lading serve``, as a reader would paste them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.http_origin import Origin
from tests.services_required import unavailable

pytestmark = pytest.mark.clients
DOCS = Path(__file__).parents[2] / "docs"
PAGES = ["api-glance-v1.md", "api-visor.md"]


def examples(page: str) -> str:
    text = (DOCS / page).read_text()
    section = text.partition("\n## Examples\n")[2].partition("\n## ")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    assert blocks, f"{page} has no examples"
    return "\n".join(blocks)


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_run_as_written(
    page: str, server_url: str, api_token: str, web_origin: Origin, tmp_path: Path
) -> None:
    if not (shutil.which("curl") and shutil.which("jq")):
        unavailable("the examples need curl and jq (apt-get install curl jq)")
    env = {**os.environ, "LADING": server_url, "TOKEN": api_token,
           "IMAGE_URL": web_origin.url()}  # fmt: skip
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-x", "-c", examples(page)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{page}:\n{result.stderr[-4000:]}\n{result.stdout[-2000:]}"
