"""The glance CLI speaking Glance v1 (``--os-image-api-version 1``), as every release up
to 4.13 still can: create from a file, by copy-from and at an external location, list with
a property filter, show, update with --purge-props, download, delete; and what v2 sees of
the same images."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import WEB_DATA
from tests.clients.support import (
    assert_active_with,
    random_bytes,
    run_glance,
    settled,
    table_rows,
    unique,
)
from tests.http_origin import Origin

pytestmark = pytest.mark.clients
IMAGE = ["--disk-format", "raw", "--container-format", "bare"]


def glance_v1(server_url: str, token: str, home: Path, *args: str) -> str:
    # stdin a terminal: with it closed, v1's image-update fails on sys.stdin being None
    result: subprocess.CompletedProcess[str] = run_glance(
        server_url, token, home, *args, api_version="1", stdin_terminal=True
    )
    assert result.returncode == 0, f"glance failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def shown(output: str) -> dict[str, str]:
    return {row[0]: row[1] for row in table_rows(output)[1:] if len(row) == 2}


def test_the_v1_cli_end_to_end(
    server_url: str, api_token: str, api: httpx.Client, web_origin: Origin, tmp_path: Path
) -> None:
    def glance(*args: str) -> str:
        return glance_v1(server_url, api_token, tmp_path, *args)

    data = random_bytes(1024 * 1024 + 11)
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    name, flavour = unique("v1"), unique("flavour")
    created = shown(glance("image-create", "--name", name, *IMAGE, "--property",
                           f"flavour={flavour}", "--property", "os=cirros",
                           "--file", str(source)))  # fmt: skip
    image_id = created["id"]
    assert created["status"] == "active" and created["checksum"] == hashlib.md5(data).hexdigest()
    as_v2 = api.get(f"/v2/images/{image_id}").json()  # the same image on the other face
    assert_active_with(as_v2, data)
    assert as_v2["flavour"] == flavour and as_v2["visibility"] == "private"
    listed = glance("image-list", "--property-filter", f"flavour={flavour}")
    assert [row[0] for row in table_rows(listed)[1:]] == [image_id]
    details = shown(glance("image-show", image_id))
    assert details["Property 'os'"] == "cirros" and details["size"] == str(len(data))
    # The CLI sends x-glance-registry-purge-props: false unless --purge-props: it merges.
    glance("image-update", "--property", "extra=1", image_id)
    merged = api.get(f"/v2/images/{image_id}").json()
    assert merged["extra"] == "1" and merged["os"] == "cirros"
    glance("image-update", "--property", "kernel=none", "--purge-props", image_id)
    properties = api.get(f"/v2/images/{image_id}").json()
    assert properties["kernel"] == "none" and "os" not in properties and "flavour" not in properties
    target = tmp_path / "downloaded.raw"
    glance("image-download", "--file", str(target), image_id)
    assert target.read_bytes() == data
    copied = shown(glance("image-create", "--name", unique("copied"), *IMAGE,
                          "--copy-from", web_origin.url()))  # fmt: skip
    assert_active_with(settled(api, copied["id"]), WEB_DATA)
    located = shown(glance("image-create", "--name", unique("located"), *IMAGE,
                           "--location", web_origin.url()))  # fmt: skip
    assert located["status"] == "active" and located["size"] == str(len(WEB_DATA))
    assert "location" not in located  # never shown
    fetched = tmp_path / "located.raw"
    glance("image-download", "--file", str(fetched), located["id"])
    assert fetched.read_bytes() == WEB_DATA  # read from the origin, never copied
    # v1's Amazon rule: a kernel's disk format fills its container format.
    kernel = shown(glance("image-create", "--name", unique("kernel"), "--disk-format", "aki"))
    assert kernel["container_format"] == "aki" and kernel["status"] == "queued"
    glance("image-delete", image_id)
    assert api.get(f"/v2/images/{image_id}").status_code == 404
