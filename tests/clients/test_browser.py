"""The web UI in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver (Selenium Manager never runs, nothing is downloaded), against the
session's live ``lading serve``.

A new user signs in with a token, uploads a file and watches the progress bar reach
100%, finds it in the list, downloads it and gets the same bytes, and deletes it after
the confirmation; an import from a URL shows its task's progress until it succeeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.clients.conftest import WEB_DATA, Lading, running_lading
from tests.clients.support import unique
from tests.http_origin import SHUTDOWN_POLL, Origin
from tests.services_required import unavailable

pytestmark = pytest.mark.clients

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 60.0  # seconds: the machine is shared and may be slow
UPLOAD_BYTES_PER_SECOND = 4 * 1024 * 1024  # throttled, so that the bar is seen moving
# Records what an element says each time it changes, for the test to read afterwards.
WATCH = """
const [element, key] = arguments;
window[key] = [element.textContent];
new MutationObserver(() => window[key].push(element.textContent))
  .observe(element, {childList: true, characterData: true, subtree: true});
"""


@dataclass
class Browser:
    driver: webdriver.Chrome
    downloads: Path
    base: str

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, selector: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def wait_for(self, selector: str, visible: bool = True) -> WebElement:
        def found(driver: webdriver.Chrome) -> WebElement | bool:
            elements = driver.find_elements(By.CSS_SELECTOR, selector)
            shown = [element for element in elements if element.is_displayed() or not visible]
            return shown[0] if shown else False

        element = WebDriverWait(self.driver, WAIT).until(found)
        assert isinstance(element, WebElement), element
        return element

    def wait_until_path(self, path: str) -> None:
        WebDriverWait(self.driver, WAIT).until(
            lambda driver: driver.current_url.partition("?")[0] == self.base + path
        )

    def wait_until_at(self, prefix: str) -> str:
        """The id at the end of the page's path, once the page is under ``prefix``."""
        WebDriverWait(self.driver, WAIT).until(
            lambda driver: driver.current_url.startswith(self.base + prefix)
        )
        return self.driver.current_url.partition("?")[0].rpartition("/")[2]

    def wait_for_text(self, text: str) -> None:
        WebDriverWait(self.driver, WAIT).until(
            lambda driver: text in driver.find_element(By.TAG_NAME, "main").text
        )

    def watch(self, selector: str, key: str) -> None:
        self.driver.execute_script(WATCH, self.find(selector), key)

    def watched(self, key: str) -> list[str]:
        seen: list[str] = self.driver.execute_script(f"return window[{key!r}];")
        return seen

    def downloaded(self, name: str) -> bytes:
        """The file the browser saved as ``name``, once it has finished saving it."""
        target = self.downloads / name
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            partial = list(self.downloads.glob("*.crdownload"))
            if target.exists() and not partial:
                return target.read_bytes()
            time.sleep(0.1)
        raise AssertionError(f"no download {name}: {sorted(self.downloads.iterdir())}")


def chromium(downloads: Path, *arguments: str) -> webdriver.Chrome:
    """Debian's headless Chromium, saving downloads in ``downloads``; skipped (or failed,
    where services are required) when it is missing or does not start."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        unavailable(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing",
            "apt-get install chromium chromium-driver (Debian's packages)",
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--window-size=1280,1024", *arguments):  # fmt: skip
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    try:
        return webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    except WebDriverException as exc:
        unavailable(f"headless Chromium does not start: {exc.msg}", "see the message")


@pytest.fixture
def browser(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """A headless Chromium on the session's server (started only once the browser is
    known to be there)."""
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = chromium(downloads)
    try:
        server: Lading = request.getfixturevalue("lading_server")
        yield Browser(driver, downloads, server.url)
    finally:
        driver.quit()


def sign_in(browser: Browser, token: str) -> None:
    """As a new user does: the UI sends them to sign in, then back to the list."""
    browser.open("/ui/")
    field = browser.wait_for("#token")
    assert browser.driver.switch_to.active_element == field  # the form is ready to type in
    field.send_keys(token, Keys.ENTER)
    browser.wait_until_path("/ui/")
    assert "Project clients" in browser.find(".who").text


def test_a_new_user_uploads_finds_downloads_and_deletes_a_file(
    browser: Browser, lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    data = os.urandom(6 * 1024 * 1024 + 123)
    name = unique("browser") + ".img"
    original = tmp_path / "upload" / name
    original.parent.mkdir()
    original.write_bytes(data)
    sign_in(browser, lading_server.token)

    # Upload: the metadata first, then the file streamed by the page, with progress.
    browser.find("nav a[href='/ui/upload']").click()
    browser.wait_for("#file").send_keys(str(original))
    browser.find("#tags").send_keys("browser-test, selenium")
    browser.find("#properties").send_keys("os_distro=cirros")
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1,
         "uploadThroughput": UPLOAD_BYTES_PER_SECOND},
    )  # fmt: skip
    browser.watch("[data-progress-text]", "uploadProgress")
    browser.find("form[data-upload] button[type=submit]").click()
    opening = browser.wait_for("[data-progress-done] a")
    browser.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )  # fmt: skip
    bar = browser.find("progress#progress-bar")
    assert bar.get_attribute("value") == "100"
    said = browser.watched("uploadProgress")
    assert said[-1].startswith("100% · uploaded 6.0 MiB"), said
    moving = [line for line in said if line[:1].isdigit() and not line.startswith("100%")]
    assert moving, said  # the bar moved on its way to 100%
    assert any("MiB/s" in line and "left" in line for line in moving), moving
    assert browser.driver.switch_to.active_element == opening  # focus goes to what is next

    # The list shows it, searched by name.
    browser.find("nav a[href='/ui/']").click()
    browser.wait_for("#q").send_keys(name, Keys.ENTER)
    # The search is a new page: the rows read are the search's, not the page before's.
    browser.wait_until_at("/ui/?q=")
    row_link = browser.wait_for("table.artifacts a[href^='/ui/artifacts/']")
    assert row_link.text == name
    row = row_link.find_element(By.XPATH, "./ancestor::tr")
    assert "active" in row.text and "browser-test" in row.text and "os_distro=cirros" in row.text
    row_link.click()

    # Its page: the digests of what was sent; the download gives the same bytes.
    artifact_id = browser.wait_until_at("/ui/artifacts/")
    page = browser.find("main").text
    assert hashlib.sha256(data).hexdigest() in page and hashlib.md5(data).hexdigest() in page
    assert f"{len(data):,} bytes" in page
    browser.find("a[href$='/download']").click()
    assert browser.downloaded(name) == data

    # Delete: the confirmation page's button has the focus; Enter confirms.
    browser.find("a.danger[href$='/delete']").click()
    button = browser.wait_for("button.danger")
    assert browser.driver.switch_to.active_element == button
    button.send_keys(Keys.ENTER)
    assert browser.wait_for("p.notice").text == "The artifact was deleted."
    assert api.get(f"/v2/images/{artifact_id}").status_code == 404
    browser.find("#q").send_keys(name, Keys.ENTER)
    browser.wait_for_text("No artifacts match.")


def test_an_import_shows_its_progress_until_it_succeeds(
    browser: Browser, lading_server: Lading, api: httpx.Client, web_origin: Origin
) -> None:
    sign_in(browser, lading_server.token)
    browser.find("nav a[href='/ui/import']").click()
    name = unique("imported")
    browser.wait_for("#url").send_keys(web_origin.url("/slow"))  # 3 MiB over ~2.5 s
    browser.find("#name").send_keys(name)
    browser.find("#url").submit()

    browser.wait_until_at("/ui/tasks/")
    browser.watch("[data-task-text]", "taskProgress")
    opening = browser.wait_for("[data-task-done] a")
    assert browser.find("[data-task-status]").text == "success"
    assert browser.find("progress#task-bar").get_attribute("value") == "100"
    said = browser.watched("taskProgress")
    assert said[-1].strip().startswith("100% · 3.0 MiB"), said
    assert any("MiB of 3.0 MiB" in line and not line.startswith("100%") for line in said), said

    opening.click()
    artifact_id = browser.wait_until_at("/ui/artifacts/")
    page = browser.find("main").text
    assert name in page and "active" in page and hashlib.sha256(WEB_DATA).hexdigest() in page
    assert api.delete(f"/v2/images/{artifact_id}").status_code == 204


ATTACK = """<!doctype html><title>another site</title><body><script>
// What any page may send anywhere without asking first: a text/plain body, a form.
const target = %(target)s;
const image = JSON.stringify({name: "planted", disk_format: "raw", container_format: "bare"});
const form = new FormData();
form.append("descriptor", new Blob(["not a package"]), "planted.tar.gz");
Promise.allSettled([
  fetch(target + "/v2/images", {method: "POST", mode: "no-cors", body: image,
                                headers: {"content-type": "text/plain"}}),
  fetch(target + "/api/upload", {method: "POST", mode: "no-cors", body: form}),
  fetch(target + "/click/uploads", {method: "POST", mode: "no-cors", body: form}),
]).then(() => { document.title = "sent"; });
</script></body>"""


class AttackPage(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def another_site() -> Iterator[tuple[str, type[AttackPage]]]:
    """Another site (another loopback port): its origin, and the handler whose ``page`` it
    serves at every path."""
    handler = type("Page", (AttackPage,), {"page": b""})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_pages_of_other_sites_cannot_act_on_an_open_server(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """A laptop's open lading, a page of another site in a real browser, and a name that
    resolves to this machine (DNS rebinding, by Chromium's own resolver rules)."""
    for folder in ("downloads", "server"):
        (tmp_path / folder).mkdir()
    driver = chromium(tmp_path / "downloads", "--host-resolver-rules=MAP rebound.example 127.0.0.1")
    try:
        with running_lading(tmp_path / "server", pytestconfig, open_server=True) as server:
            with another_site() as (origin, handler):
                handler.page = (ATTACK % {"target": json.dumps(server.url)}).encode()
                driver.get(f"{origin}/")
                WebDriverWait(driver, WAIT).until(lambda d: d.title == "sent")
            metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
            for face, route in (("glance_v2", "/v2/images"), ("osm", "/api/upload"),
                                ("click", "/click/uploads")):  # fmt: skip
                labels = f'face="{face}",method="POST",route="{route}",status="403"'
                assert f"lading_http_requests_total{{{labels}}} 1.0" in metrics, face
            assert httpx.get(f"{server.url}/v2/images", timeout=10).json()["images"] == []
            rebound = server.url.replace("127.0.0.1", "rebound.example")
            driver.get(f"{rebound}/ui/")
            assert "does not answer to the host" in driver.find_element(By.TAG_NAME, "body").text
    finally:
        driver.quit()


HORIZON = """<!doctype html><title>horizon</title><body><script>
// Horizon's direct upload: the page creates the image, then sends its data to the image
// service itself, with the user's token; here it also reads a range back.
const [target, token] = %(arguments)s;
const auth = {"x-auth-token": token};
(async () => {
  const made = await fetch(target + "/v2/images", {method: "POST",
    headers: {...auth, "content-type": "application/json"},
    body: JSON.stringify({name: "direct", disk_format: "raw", container_format: "bare"})});
  const image = await made.json();
  const sent = await fetch(target + "/v2/images/" + image.id + "/file", {method: "PUT",
    headers: {...auth, "content-type": "application/octet-stream"},
    body: new Uint8Array([1, 2, 3, 4])});
  const got = await fetch(target + "/v2/images/" + image.id + "/file",
                          {headers: {...auth, "range": "bytes=1-"}});
  window.result = {
    statuses: [made.status, sent.status, got.status],
    location: made.headers.get("location"),
    requestId: made.headers.get("x-openstack-request-id"),
    importMethods: made.headers.get("openstack-image-import-methods"),
    contentRange: got.headers.get("content-range"),
    body: Array.from(new Uint8Array(await got.arrayBuffer())),
  };
  document.title = "done";
})().catch((error) => { document.title = "failed: " + error; });
</script></body>"""


def test_a_listed_origin_uploads_straight_from_the_browser(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """CORS as Chromium enforces it: preflights, the token header, headers read back."""
    for folder in ("downloads", "server"):
        (tmp_path / folder).mkdir()
    driver = chromium(tmp_path / "downloads")
    try:
        with another_site() as (origin, handler):
            cors = {"LADING_CORS": json.dumps({"allowed_origins": [origin]})}
            with running_lading(tmp_path / "server", pytestconfig, cors) as server:
                arguments = json.dumps([server.url, server.token])
                handler.page = (HORIZON % {"arguments": arguments}).encode()
                driver.get(f"{origin}/")
                WebDriverWait(driver, WAIT).until(lambda d: d.title != "horizon")
                assert driver.title == "done", driver.title
                result = driver.execute_script("return window.result;")
        assert result["statuses"] == [201, 204, 206]
        assert result["location"].startswith(f"{server.url}/v2/images/")
        assert result["requestId"].startswith("req-") and result["importMethods"]
        assert result["contentRange"] == "bytes 1-3/4" and result["body"] == [2, 3, 4]
    finally:
        driver.quit()
