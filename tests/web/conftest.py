"""The web UI driven in-process: a browser's requests, cookies kept by the client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.portal import call

BASE = "http://lading.test"
SAME_ORIGIN = {"origin": BASE}
AS_SCRIPT = {**SAME_ORIGIN, "accept": "application/json"}


@dataclass
class Site:
    """The app, a browser that keeps cookies, and tokens for a few identities (made
    before anyone browses, so the server is never open)."""

    browser: TestClient
    tokens: dict[str, str]

    def sign_in(self, who: str) -> httpx2.Response:
        self.browser.cookies.clear()
        return self.browser.post(
            "/ui/sign-in", data={"token": self.tokens[who]}, headers=SAME_ORIGIN,
            follow_redirects=False,
        )  # fmt: skip

    def api(self, who: str) -> dict[str, str]:
        """Headers for the v2 API as ``who``, to set the scene behind the UI's back."""
        return {"x-auth-token": self.tokens[who]}

    def image(self, who: str, data: bytes | None = None, **fields: Any) -> dict[str, Any]:
        body = {"disk_format": "raw", "container_format": "bare", **fields}
        made = self.browser.post("/v2/images", json=body, headers=self.api(who))
        assert made.status_code == 201, made.text
        image: dict[str, Any] = made.json()
        if data is not None:
            headers = {**self.api(who), "content-type": "application/octet-stream"}
            sent = self.browser.put(f"/v2/images/{image['id']}/file", content=data, headers=headers)
            assert sent.status_code == 204, sent.text
        return image


IDENTITIES = {"admin": ("A", "admin"), "member": ("A", "member"), "reader": ("A", "reader"),
              "other": ("B", "member")}  # fmt: skip


@contextlib.contextmanager
def open_site(settings: Settings) -> Iterator[Site]:
    app = create_app(settings)
    with TestClient(app, base_url=BASE) as browser:
        identities = app.state.services.identities
        tokens = {
            name: call(browser, identities.create, project, role).token
            for name, (project, role) in IDENTITIES.items()
        }
        yield Site(browser, tokens)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'ui.db'}")


@pytest.fixture
def site(sqlite_settings: Settings) -> Iterator[Site]:
    with open_site(sqlite_settings) as opened:
        yield opened
