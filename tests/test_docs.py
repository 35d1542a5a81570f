"""The docs keep up with the code: every setting and every /v2 route is documented, and
the example configurations are valid."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel
from starlette.routing import Route

from lading.api.click import ROUTES as CLICK_ROUTES
from lading.api.glance_v1.images import ROUTES as V1_ROUTES
from lading.api.glance_v2.images import ROUTES
from lading.api.oci.routes import ROUTES as OCI_ROUTES
from lading.api.osm import ROUTES as OSM_ROUTES
from lading.api.pnda import ROUTES as PNDA_ROUTES
from lading.api.tus import ROUTES as TUS_ROUTES
from lading.api.visor.images import ROUTES as VISOR_ROUTES
from lading.settings import (
    CorsSettings,
    FetchSettings,
    FilesystemStoreSettings,
    HttpStoreSettings,
    ImageConversionSettings,
    ImageFormatSettings,
    OciSettings,
    PndaSettings,
    PublishingSettings,
    QuotaSettings,
    S3StoreSettings,
    ServerSettings,
    Settings,
    SigningClient,
    SigningSettings,
    SwiftStoreSettings,
    TlsSettings,
    UploadsSettings,
)
from tests.clients.conftest import free_port
from tests.services_required import unavailable

DOCS = Path(__file__).resolve().parent.parent / "docs"
CONFIGURATION = DOCS / "configuration.md"
GLANCE_V2 = DOCS / "api-glance-v2.md"
NGINX_EXAMPLE = DOCS / "examples" / "nginx.conf"
NGINX_CACHE = "/var/cache/nginx/lading"  # the example's proxy_cache_path
# The tables inside settings, with the setting whose paragraph documents their keys.
TABLES: list[tuple[str, type[BaseModel]]] = [
    ("quota", QuotaSettings), ("fetch", FetchSettings), ("signing", SigningSettings),
          ("signing", SigningClient), ("pnda", PndaSettings),
          ("published_by_default", PublishingSettings), ("cors", CorsSettings),
          ("server", ServerSettings), ("image_format", ImageFormatSettings),
          ("image_conversion", ImageConversionSettings), ("tls", TlsSettings),
          ("oci", OciSettings), ("uploads", UploadsSettings)]  # fmt: skip
FACES = [("/v1", V1_ROUTES, DOCS / "api-glance-v1.md"),
         ("", VISOR_ROUTES, DOCS / "api-visor.md"),  # the root, where its clients call
         ("", PNDA_ROUTES, DOCS / "api-pnda.md"),
         ("/click", CLICK_ROUTES, DOCS / "api-click.md"),
         ("/api", OSM_ROUTES, DOCS / "api-osm.md"),
         ("/v2", OCI_ROUTES, DOCS / "api-oci.md"),
         ("/uploads", TUS_ROUTES, DOCS / "uploads.md")]  # fmt: skip


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


@pytest.mark.parametrize("page", ["configuration.md", "operations.md"])
def test_example_configuration_is_valid(page: str) -> None:
    blocks = re.findall(r"```toml\n(.*?)```", (DOCS / page).read_text(), re.DOTALL)
    assert blocks
    for block in blocks:
        # model_validate skips the environment, so only the file's text is checked.
        Settings.model_validate(tomllib.loads(block))


def test_nginx_example_is_valid(tmp_path: Path) -> None:
    """docs/examples/nginx.conf, as Debian's nginx.conf includes conf.d files, passes
    ``nginx -t``. The check binds the ports it listens on and creates the cache
    directory, so those move to free loopback ports and into tmp_path."""
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).exists()),
        None,
    )
    if nginx is None:
        unavailable("checking docs/examples/nginx.conf needs nginx (apt-get install nginx-light)")
    example = NGINX_EXAMPLE.read_text()
    assert NGINX_CACHE in example
    example = example.replace(NGINX_CACHE, str(tmp_path / "cache"))
    example = re.sub(r"listen \d+;", lambda _: f"listen 127.0.0.1:{free_port()};", example)
    (tmp_path / "lading.conf").write_text(example)
    temp_paths = "".join(
        f"{kind}_temp_path {tmp_path / kind}; "
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\n"
        f"http {{ access_log off; {temp_paths}include {tmp_path / 'lading.conf'}; }}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
         "-e", str(tmp_path / "error.log")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
