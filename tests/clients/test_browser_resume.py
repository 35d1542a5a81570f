"""The web UI's resumable uploads in Debian's headless Chromium, through a relay to the
session's live server: a connection dropped mid-upload is retried from the server's
offset, and after a page reload the same file chosen again resumes into the same artifact.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import Lading
from tests.clients.support import unique
from tests.clients.test_browser import WAIT, Browser, chromium, sign_in
from tests.faults import Relay, relay_to

pytestmark = pytest.mark.clients
MiB = 1024 * 1024
OFFSETS = re.compile(rb"upload-offset: (\d+)", re.IGNORECASE)


@pytest.fixture
def relayed(tmp_path: Path, lading_server: Lading) -> Iterator[tuple[Browser, Relay]]:
    """A headless Chromium on the server through a relay the test can cut."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chromium(downloads)
    try:
        with relay_to(int(lading_server.url.rsplit(":", 1)[1])) as relay:
            yield Browser(driver, downloads, f"http://127.0.0.1:{relay.port}"), relay
    finally:
        driver.quit()


def kept_upload(browser: Browser) -> dict[str, str] | None:
    """What the page keeps in localStorage of the upload under way."""
    found: dict[str, str] | None = browser.driver.execute_script(
        "for (const key of Object.keys(localStorage)) {"
        "  if (key.startsWith('lading-upload:')) return JSON.parse(localStorage.getItem(key));"
        "} return null;"
    )
    return found


def held(api: httpx.Client, upload_url: str) -> int:
    """The bytes the server holds of an upload, asked with the API's token."""
    path = "/uploads/" + upload_url.rstrip("/").rpartition("/")[2]
    answer = api.head(path, headers={"tus-resumable": "1.0.0"})
    assert answer.status_code == 200, answer.status_code
    return int(answer.headers["upload-offset"])


def held_once_cut(api: httpx.Client, upload_url: str) -> int:
    """What the server holds once it has taken what a cut PATCH brought: it answers 0
    until it has noticed the cut and kept the bytes, then the same offset from then on."""
    deadline = time.monotonic() + WAIT
    last = held(api, upload_url)
    while True:
        time.sleep(0.2)
        now = held(api, upload_url)
        if now and now == last:
            return now
        assert time.monotonic() < deadline, f"the server held {now} bytes, still moving"
        last = now


def a_file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "upload" / (unique("resumed") + ".img")
    path.parent.mkdir()
    path.write_bytes(data)
    return path, data


def start_upload(browser: Browser, path: Path) -> None:
    browser.open("/ui/upload")
    browser.wait_for("#file").send_keys(str(path))
    browser.find("form[data-upload] button[type=submit]").click()


def cut_after(relay: Relay, sent: int) -> None:
    """The relay goes down once the browser has sent ``sent`` more bytes through it
    (mid-chunk: the page sends one PATCH of the whole file here), and the test waits
    for that."""
    before = len(relay.sent)
    relay.cut_after(sent)
    deadline = time.monotonic() + WAIT
    while len(relay.sent) < before + sent:
        assert time.monotonic() < deadline, "the upload did not get that far"
        time.sleep(0.02)


def test_a_dropped_connection_is_retried_from_the_servers_offset(
    relayed: tuple[Browser, Relay], lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    browser, relay = relayed
    path, data = a_file(tmp_path, 24 * MiB)
    sign_in(browser, lading_server.token)
    browser.open("/ui/upload")
    browser.watch("[data-progress-text]", "said")
    browser.wait_for("#file").send_keys(str(path))
    browser.find("form[data-upload] button[type=submit]").click()
    cut_after(relay, 10 * MiB)  # the network goes away for two seconds, mid-chunk
    time.sleep(2.0)
    kept = kept_upload(browser)
    assert kept is not None
    cut_at = held(api, kept["url"])
    relay.restore()
    browser.wait_for("[data-progress-done] a")
    said = browser.watched("said")
    assert said[-1].startswith("100% · uploaded 24.0 MiB"), said
    assert any("trying again" in line for line in said), said
    image = api.get(f"/v2/images/{kept['artifact']}").json()
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["os_hash_value"] == hashlib.sha256(data).hexdigest()
    # The page went on from what the server held, not from the chunk's start.
    offsets = sorted({int(found) for found in OFFSETS.findall(relay.sent)})
    assert offsets == [0, cut_at] and 0 < cut_at < 10 * MiB, (offsets, cut_at)
    assert kept_upload(browser) is None  # a finished upload is forgotten


def test_after_a_reload_the_same_file_resumes_into_the_same_artifact(
    relayed: tuple[Browser, Relay], lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    browser, relay = relayed
    path, data = a_file(tmp_path, 16 * MiB)
    sign_in(browser, lading_server.token)
    start_upload(browser, path)
    cut_after(relay, 6 * MiB)
    kept = kept_upload(browser)
    assert kept is not None
    # The page goes, its upload with it. Not to a page of the relay's, which is down: a
    # refused or a reset navigation is each Chromium's own, and a reset raises here.
    browser.driver.get("about:blank")
    relay.restore()
    left_at = held_once_cut(api, kept["url"])
    browser.open("/ui/upload")
    browser.watch("[data-progress-text]", "said")
    browser.wait_for("#file").send_keys(str(path))
    browser.find("form[data-upload] button[type=submit]").click()
    browser.wait_for("[data-progress-done] a")
    said = browser.watched("said")
    assert any(line.startswith("Resuming the upload from") for line in said), said
    image = api.get(f"/v2/images/{kept['artifact']}").json()
    assert image["status"] == "active" and image["size"] == len(data)
    assert image["os_hash_value"] == hashlib.sha256(data).hexdigest()
    offsets = sorted({int(found) for found in OFFSETS.findall(relay.sent)})
    assert offsets == [0, left_at] and 0 < left_at < 6 * MiB, (offsets, left_at)
    # One artifact of that name: the second attempt made none.
    named = api.get("/v2/images", params={"name": path.name}).json()["images"]
    assert [found["id"] for found in named] == [kept["artifact"]]
