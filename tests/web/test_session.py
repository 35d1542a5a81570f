"""Signing in and out, what a session allows, and the refusal of cross-site requests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from lading.web.session import COOKIE
from tests.portal import call
from tests.web.conftest import AS_SCRIPT, BASE, SAME_ORIGIN, Site


def test_pages_need_signing_in_and_come_back_after(site: Site) -> None:
    page = site.browser.get("/ui/tasks/x?a=1", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/ui/sign-in?next=%2Fui%2Ftasks%2Fx%3Fa%3D1"
    form = site.browser.get(page.headers["location"])
    assert form.status_code == 200
    assert 'name="next" value="/ui/tasks/x?a=1"' in form.text
    assert '<label for="token">' in form.text and 'id="token"' in form.text

    signed = site.browser.post(
        "/ui/sign-in", data={"token": site.tokens["member"], "next": "/ui/upload"},
        headers=SAME_ORIGIN, follow_redirects=False,
    )  # fmt: skip
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/upload"
    listing = site.browser.get("/ui/")
    assert listing.status_code == 200 and "Project <strong>A</strong>" in listing.text


def test_the_cookie_is_kept_from_scripts_and_other_sites(site: Site) -> None:
    cookie = site.sign_in("member").headers["set-cookie"]
    attributes = {part.strip().partition("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{COOKIE}={site.tokens['member']};")
    assert {"httponly", "path", "samesite"} <= attributes and "secure" not in attributes
    assert "Path=/ui" in cookie and "SameSite=strict" in cookie


def test_the_cookie_is_secure_over_https(sqlite_settings: Settings) -> None:
    app = create_app(sqlite_settings)
    with TestClient(app, base_url="https://lading.test") as browser:
        token = call(browser, app.state.services.identities.create, "A", "member").token
        signed = browser.post(
            "/ui/sign-in", data={"token": token}, headers={"origin": "https://lading.test"},
            follow_redirects=False,
        )  # fmt: skip
        assert "secure" in signed.headers["set-cookie"].lower()


def test_a_bad_token_does_not_sign_in(site: Site) -> None:
    refused = site.browser.post("/ui/sign-in", data={"token": "lt_nonsense"}, headers=SAME_ORIGIN)
    assert refused.status_code == 401
    assert "the token is unknown" in refused.text and 'role="alert"' in refused.text
    assert "set-cookie" not in refused.headers
    empty = site.browser.post("/ui/sign-in", data={"token": " "}, headers=SAME_ORIGIN)
    assert empty.status_code == 400 and "Enter a token" in empty.text
    assert site.browser.get("/ui/", follow_redirects=False).status_code == 303


def test_sign_in_goes_only_to_the_ui(site: Site) -> None:
    for target in ("https://evil.example/", "//evil.example/ui/", "/v2/images", "/ui\\x"):
        signed = site.browser.post(
            "/ui/sign-in", data={"token": site.tokens["member"], "next": target},
            headers=SAME_ORIGIN, follow_redirects=False,
        )  # fmt: skip
        assert signed.headers["location"] == "/ui/", target


def test_signing_out_forgets_the_token(site: Site) -> None:
    site.sign_in("member")
    out = site.browser.post("/ui/sign-out", headers=SAME_ORIGIN, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/sign-in"
    assert f'{COOKIE}=""' in out.headers["set-cookie"] and "Max-Age=0" in out.headers["set-cookie"]
    assert site.browser.get("/ui/", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_the_session(site: Site) -> None:
    site.sign_in("member")
    app = site.browser.app
    call(site.browser, app.state.services.identities.revoke, site.tokens["member"])  # type: ignore[attr-defined]
    page = site.browser.get("/ui/", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].endswith("&why=ended")
    assert "Max-Age=0" in page.headers["set-cookie"]
    assert "Your session ended" in site.browser.get(page.headers["location"]).text


@pytest.mark.parametrize(
    "headers",
    [{}, {"origin": "https://evil.example"}, {"origin": "null"},
     {"referer": "https://evil.example/ui/"}, {"origin": "http://lading.test:8080"}],
    ids=["none", "other-site", "null", "other-referer", "other-port"],
)  # fmt: skip
def test_changes_from_other_sites_are_refused(site: Site, headers: dict[str, str]) -> None:
    site.sign_in("member")
    image = site.image("member")
    deleting = site.browser.post(
        f"/ui/artifacts/{image['id']}/delete", data={"confirm": image["id"]}, headers=headers
    )
    assert deleting.status_code == 403 and "did not come from lading" in deleting.text
    creating = site.browser.post(
        "/ui/api/artifacts", data={"name": "x"}, headers={**headers, "accept": "application/json"}
    )
    assert creating.status_code == 403 and creating.json()["error"]["code"] == "forbidden"
    signing_in = site.browser.post(
        "/ui/sign-in", data={"token": site.tokens["admin"]}, headers=headers
    )
    assert signing_in.status_code == 403
    assert site.browser.get(f"/v2/images/{image['id']}", headers=site.api("member")).is_success


def test_a_referer_of_this_server_will_do(site: Site) -> None:
    site.sign_in("member")
    image = site.image("member")
    deleting = site.browser.post(
        f"/ui/artifacts/{image['id']}/delete", data={"confirm": image["id"]},
        headers={"referer": f"{BASE}/ui/artifacts/{image['id']}/delete"}, follow_redirects=False,
    )  # fmt: skip
    assert deleting.status_code == 303


def test_the_public_endpoint_is_an_origin_too(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", public_endpoint="https://images.example.org")
    with TestClient(create_app(settings), base_url=BASE) as browser:
        created = browser.post(
            "/ui/api/artifacts", data={"name": "x"},
            headers={"origin": "https://images.example.org", "accept": "application/json"},
        )  # fmt: skip
        assert created.status_code == 201


def test_scripts_get_json_errors_not_pages(site: Site) -> None:
    anonymous = site.browser.post("/ui/api/artifacts", data={"name": "x"}, headers=AS_SCRIPT)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["message"] == "sign in first: this needs a token"
    polled = site.browser.get("/ui/api/tasks/nope", headers=AS_SCRIPT)
    assert polled.status_code == 401 and polled.headers["content-type"] == "application/json"
    site.sign_in("member")
    missing = site.browser.get("/ui/api/tasks/nope", headers=AS_SCRIPT)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "itemNotFound"


def test_errors_are_pages_with_their_status(site: Site) -> None:
    site.sign_in("member")
    unknown = site.browser.get("/ui/no/such/page")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("text/html")
    assert "<h1>404 Not Found</h1>" in unknown.text
    bad = site.browser.get("/ui/?sort=colour")
    assert bad.status_code == 400 and "sort must be one of" in bad.text
    site.browser.cookies.clear()
    anonymous = site.browser.post("/ui/upload", headers=SAME_ORIGIN)
    assert anonymous.status_code == 401 and 'href="/ui/sign-in"' in anonymous.text


LOOPBACK = "http://127.0.0.1:9292"
REBOUND = "http://rebound.example"


@pytest.fixture
def open_browser(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(sqlite_settings), base_url=LOOPBACK) as browser:
        yield browser


def test_an_open_server_needs_no_sign_in(open_browser: TestClient) -> None:
    listing = open_browser.get("/ui/")
    assert listing.status_code == 200 and "This server runs open" in listing.text
    assert "Sign out" not in listing.text
    form = open_browser.get("/ui/sign-in?next=/ui/upload", follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == "/ui/upload"
    # Open or not, what changes must come from the UI's pages.
    as_script = {"origin": LOOPBACK, "accept": "application/json"}
    created = open_browser.post("/ui/api/artifacts", data={"name": "x"}, headers=as_script)
    assert created.status_code == 201
    refused = open_browser.post(
        "/ui/api/artifacts", data={"name": "x"}, headers={"origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    # A name made to point at this loopback server (DNS rebinding) is not its own: no
    # setting names it, so its requests are not answered (lading.sites).
    rebound = open_browser.post(
        f"{REBOUND}/ui/api/artifacts", data={"name": "x"},
        headers={"origin": REBOUND, "accept": "application/json"},
    )  # fmt: skip
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "badRequest"


def test_browsers_at_the_root_go_to_the_ui(open_browser: TestClient) -> None:
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    browsing = open_browser.get("/", headers=html, follow_redirects=False)
    assert browsing.status_code == 303 and browsing.headers["location"] == "/ui/"
    assert open_browser.get("/", headers={"accept": "application/json"}).status_code == 300
    assert open_browser.get("/").status_code == 300
    assert open_browser.get("/ui", follow_redirects=False).headers["location"].endswith("/ui/")
    stylesheet = open_browser.get("/ui/static/lading.css")
    assert stylesheet.status_code == 200 and stylesheet.headers["content-type"].startswith(
        "text/css"
    )


def test_pages_are_never_framed_nor_cached(site: Site) -> None:
    site.sign_in("member")
    for response in (site.browser.get("/ui/"), site.browser.get("/ui/no/such/page")):
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"


def test_metrics_name_the_ui_and_its_routes(open_browser: TestClient) -> None:
    open_browser.get("/ui/static/lading.js")
    open_browser.get("/ui/artifacts/00000000-0000-0000-0000-000000000000")
    metrics = open_browser.get("/metrics").text
    for route, status in (("/ui/static/{path}", 200), ("/ui/artifacts/{artifact_id}", 404)):
        labels = f'face="web",method="GET",route="{route}",status="{status}"'
        assert f"lading_http_requests_total{{{labels}}}" in metrics, route


def test_with_a_public_endpoint_only_its_origin_is_own(sqlite_settings: Settings) -> None:
    """Behind a proxy the Host header is whatever the client sent: it vouches for nothing."""
    settings = sqlite_settings.model_copy(update={"public_endpoint": "https://images.example"})
    with TestClient(create_app(settings), base_url=BASE) as browser:
        forged = browser.post("/ui/api/artifacts", data={"name": "x"}, headers=AS_SCRIPT)
        assert forged.status_code == 403
        public = {"origin": "https://images.example", "accept": "application/json"}
        created = browser.post("/ui/api/artifacts", data={"name": "x"}, headers=public)
        assert created.status_code == 201
