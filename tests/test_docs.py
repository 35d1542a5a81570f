"""The docs keep up with the code: every setting and every /v2 route is documented."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from starlette.routing import Route

from lading.api.click import ROUTES as CLICK_ROUTES
from lading.api.glance_v1.images import ROUTES as V1_ROUTES
from lading.api.glance_v2.images import ROUTES
from lading.api.osm import ROUTES as OSM_ROUTES
from lading.api.pnda import ROUTES as PNDA_ROUTES
from lading.api.visor.images import ROUTES as VISOR_ROUTES
from lading.settings import (
    FetchSettings,
    FilesystemStoreSettings,
    HttpStoreSettings,
    PndaSettings,
    PublishingSettings,
    QuotaSettings,
    S3StoreSettings,
    Settings,
    SigningClient,
    SigningSettings,
    SwiftStoreSettings,
)

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONFIGURATION = DOCS / "configuration.md"
GLANCE_V2 = DOCS / "api-glance-v2.md"
# The tables inside settings, with the setting whose paragraph documents their keys.
TABLES = [("quota", QuotaSettings), ("fetch", FetchSettings), ("signing", SigningSettings),
          ("signing", SigningClient), ("pnda", PndaSettings),
          ("published_by_default", PublishingSettings)]  # fmt: skip
FACES = [("/v1", V1_ROUTES, DOCS / "api-glance-v1.md"),
         ("/visor", VISOR_ROUTES, DOCS / "api-visor.md"),
         ("", PNDA_ROUTES, DOCS / "api-pnda.md"),
         ("/click", CLICK_ROUTES, DOCS / "api-click.md"),
         ("/api", OSM_ROUTES, DOCS / "api-osm.md")]  # fmt: skip


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_setting_is_documented(name: str) -> None:
    assert f"`LADING_{name.upper()}`" in CONFIGURATION.read_text()


@pytest.mark.parametrize(
    ("setting", "key"), [(setting, key) for setting, model in TABLES for key in model.model_fields]
)
def test_table_key_is_documented(setting: str, key: str) -> None:
    # In a code span (`key`, `[quota.key.NAME]`) of the setting's own paragraph.
    paragraph = CONFIGURATION.read_text().partition(f"\n**`{setting}`**")[2]
    assert re.search(rf"`[^`\n]*\b{key}\b[^`\n]*`", paragraph.partition("\n\n**`")[0])


@pytest.mark.parametrize(
    "name",
    sorted(
        FilesystemStoreSettings.model_fields
        | S3StoreSettings.model_fields
        | SwiftStoreSettings.model_fields
        | HttpStoreSettings.model_fields
    ),
)
def test_store_setting_is_documented(name: str) -> None:
    assert f"`LADING_STORES__<NAME>__{name.upper()}`" in CONFIGURATION.read_text()


@pytest.mark.parametrize(
    "path", sorted({route.path for route in ROUTES if isinstance(route, Route)})
)
def test_route_is_documented(path: str) -> None:
    assert f"/v2{path}" in GLANCE_V2.read_text()


PARAMETER = re.compile(r"\{\w+(:\w+)?\}")


@pytest.mark.parametrize(
    ("request_line", "page"),
    [(f"{method} {prefix}{PARAMETER.sub('{id}', route.path)}", page)
     for prefix, routes, page in FACES for route in routes if isinstance(route, Route)
     for method in sorted(route.methods or ()) if method != "HEAD" or "{" in route.path],
)  # fmt: skip
def test_face_request_is_documented(request_line: str, page: Path) -> None:
    assert f"`{request_line}`" in PARAMETER.sub("{id}", page.read_text())


def test_example_configuration_is_valid() -> None:
    blocks = re.findall(r"```toml\n(.*?)```", CONFIGURATION.read_text(), re.DOTALL)
    assert blocks
    for block in blocks:
        # model_validate skips the environment, so only the file's text is checked.
        Settings.model_validate(tomllib.loads(block))
