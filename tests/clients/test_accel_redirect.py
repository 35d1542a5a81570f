"""A filesystem store's downloads handed off to a real nginx in front (X-Accel-Redirect):
lading decides access and headers, nginx sends the file and serves the Range, with the
internal location operations.md shows (``lading.http.accel.location_block``)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from lading.http.accel import location_block
from tests.clients.cluster import find_nginx, running_nginx
from tests.clients.conftest import Lading, free_port, running_lading
from tests.clients.support import unique

pytestmark = pytest.mark.clients

PREFIX = "/_lading_store/default/"
STORES = f'{{"default": {{"type": "filesystem", "accel_redirect": "{PREFIX}"}}}}'
DATA = os.urandom(3 * 1024 * 1024 + 11)
MD5 = hashlib.md5(DATA).hexdigest()


def server_config(port: int, lading: str, store: Path) -> str:
    """The front's server: lading behind it, and the store's internal location."""
    location = "".join(f"    {line}\n" for line in location_block(PREFIX, store).splitlines())
    return (
        f"server {{\n    listen 127.0.0.1:{port};\n"
        "    client_max_body_size 0;\n    proxy_request_buffering off;\n"
        '    proxy_http_version 1.1;\n    proxy_set_header Connection "";\n'
        "    proxy_set_header Host $host;\n"
        f"    location / {{ proxy_pass {lading}; proxy_buffering off; }}\n"
        f"{location}}}\n"
    )


@contextmanager
def nginx_in_front(root: Path, lading: str, store: Path) -> Iterator[str]:
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("needs nginx (apt-get install nginx-light)")
    root.mkdir(parents=True)
    port = free_port()
    included = root / "lading.conf"
    included.write_text(server_config(port, lading, store))
    url = f"http://127.0.0.1:{port}"
    with running_nginx(nginx, root, included, url):
        yield url


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[tuple[Lading, str]]:
    """lading with the handing-off store, and nginx in front of it: (lading, nginx's URL)."""
    root = tmp_path_factory.mktemp("accel")
    settings = {"LADING_STORES": STORES}
    with running_lading(root / "lading", pytestconfig, settings) as lading:
        store = root / "lading" / "data" / "stores" / "default"
        with nginx_in_front(root / "nginx", lading.url, store) as front:
            yield lading, front


def new_image(api: httpx.Client, data: bytes = DATA, **fields: str) -> str:
    body = {"name": unique("accel"), "disk_format": "raw", "container_format": "bare", **fields}
    image = api.post("/v2/images", json=body)
    assert image.status_code == 201, image.text
    image_id = str(image.json()["id"])
    put = api.put(f"/v2/images/{image_id}/file", content=data,
                  headers={"content-type": "application/octet-stream"})  # fmt: skip
    assert put.status_code == 204, put.text
    return image_id


@pytest.fixture(scope="module")
def image(served: tuple[Lading, str]) -> str:
    lading, front = served
    with httpx.Client(base_url=front, headers={"X-Auth-Token": lading.token}) as api:
        return new_image(api)


def test_lading_answers_the_headers_and_nginx_the_bytes(served: tuple[Lading, str], image: str
                                                        ) -> None:  # fmt: skip
    lading, front = served
    token = {"X-Auth-Token": lading.token}
    direct = httpx.get(f"{lading.url}/v2/images/{image}/file", headers=token)
    assert direct.status_code == 200 and direct.content == b""
    key = direct.headers["x-accel-redirect"].removeprefix(PREFIX)
    assert direct.headers["x-accel-redirect"] == PREFIX + key and "/" in key
    got = httpx.get(f"{front}/v2/images/{image}/file", headers=token)
    assert got.status_code == 200 and got.content == DATA
    headers = got.headers
    assert "x-accel-redirect" not in headers
    assert headers["content-length"] == str(len(DATA))
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-md5"] == MD5 and headers["etag"] == f'"{MD5}"'
    assert headers["last-modified"] == direct.headers["last-modified"]
    assert headers["x-openstack-request-id"].startswith("req-")
    # One of each: nginx's own Accept-Ranges, never a second one from lading.
    for name in ("accept-ranges", "etag", "last-modified", "content-length", "content-type"):
        assert len(headers.get_list(name)) == 1, (name, headers.get_list(name))
    # HEAD is lading's own answer: the same headers, no hand-off.
    head = httpx.head(f"{front}/v2/images/{image}/file", headers=token)
    assert head.status_code == 200 and head.headers["content-md5"] == MD5
    assert head.headers["content-length"] == str(len(DATA))
    assert len(head.headers.get_list("accept-ranges")) == 1


def test_ranges_and_if_range_are_served_by_nginx_as_lading_would(
    served: tuple[Lading, str], image: str
) -> None:
    lading, front = served
    url, token = f"{front}/v2/images/{image}/file", {"X-Auth-Token": lading.token}
    part = httpx.get(url, headers=token | {"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == DATA[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(DATA)}"
    suffix = httpx.get(url, headers=token | {"range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == DATA[-10:]
    several = httpx.get(url, headers=token | {"range": "bytes=0-1,10-11"})
    assert several.status_code == 206
    assert several.headers["content-type"].startswith("multipart/byteranges")
    assert DATA[0:2] in several.content and DATA[10:12] in several.content
    current = httpx.get(url, headers=token | {"range": "bytes=0-9", "if-range": f'"{MD5}"'})
    assert current.status_code == 206 and current.content == DATA[:10]
    stale = httpx.get(url, headers=token | {"range": "bytes=0-9", "if-range": '"other"'})
    assert stale.status_code == 200 and stale.content == DATA
    dated = part.headers["last-modified"]
    by_date = httpx.get(url, headers=token | {"range": "bytes=0-9", "if-range": dated})
    assert by_date.status_code == 206 and by_date.content == DATA[:10]
    # lading decides what selects nothing and what is current, before any hand-off.
    beyond = httpx.get(url, headers=token | {"range": f"bytes={len(DATA)}-"})
    assert beyond.status_code == 416 and beyond.content != DATA
    unchanged = httpx.get(url, headers=token | {"if-none-match": f'"{MD5}"'})
    assert unchanged.status_code == 304 and unchanged.content == b""


def test_refused_or_missing_downloads_never_reach_the_file(served: tuple[Lading, str]) -> None:
    lading, front = served
    token = {"X-Auth-Token": lading.token}
    with httpx.Client(base_url=front, headers=token) as api:
        image_id = new_image(api, b"secret bytes " * 1000)
        key = httpx.get(f"{lading.url}/v2/images/{image_id}/file", headers=token).headers[
            "x-accel-redirect"
        ]
        anonymous = httpx.get(f"{front}/v2/images/{image_id}/file")
        assert anonymous.status_code == 401 and b"secret bytes" not in anonymous.content
        wrong = httpx.get(f"{front}/v2/images/{image_id}/file", headers={"X-Auth-Token": "x"})
        assert wrong.status_code == 401 and b"secret bytes" not in wrong.content
        absent = api.get(f"/v2/images/{unique('none')}/file")
        assert absent.status_code == 404 and b"secret bytes" not in absent.content
        # The internal location is lading's alone: a client naming it gets nginx's 404.
        straight = httpx.get(f"{front}{key}")
        assert straight.status_code == 404 and b"secret bytes" not in straight.content
        assert api.delete(f"/v2/images/{image_id}").status_code == 204
        deleted = api.get(f"/v2/images/{image_id}/file")
        assert deleted.status_code == 404 and b"secret bytes" not in deleted.content
        assert httpx.get(f"{front}{key}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/_lading_store/default/../../../../etc/passwd",
        "/_lading_store/default/%2e%2e/%2e%2e/etc/passwd",
        "/_lading_store/../etc/passwd",
        "/v2/images/../../_lading_store/default/.tmp/",
        "/_lading_store/default/.tmp/",
        "/_lading_store/default/",
    ],
)
def test_hostile_paths_never_serve_a_file(served: tuple[Lading, str], path: str) -> None:
    lading, front = served
    answer = httpx.get(f"{front}{path}", headers={"X-Auth-Token": lading.token})
    assert answer.status_code in (400, 401, 404), (path, answer.status_code)
    assert b"root:" not in answer.content


def test_a_client_cannot_hand_a_download_off_itself(served: tuple[Lading, str], image: str
                                                    ) -> None:  # fmt: skip
    """X-Accel-Redirect is read from lading's answers only: in a request it is nothing."""
    lading, front = served
    forged = {"X-Auth-Token": lading.token, "X-Accel-Redirect": "/_lading_store/default/"}
    answer = httpx.get(f"{front}/v2/images/{image}", headers=forged)
    assert answer.status_code == 200 and answer.json()["id"] == image


def test_glance_v1_headers_come_through_nginx_or_lading_sends_the_file(
    served: tuple[Lading, str],
) -> None:
    """v1's x-image-meta-* fields are added back by the internal location; an image's
    properties (any header name) cannot be, so lading sends those files itself."""
    lading, front = served
    token = {"X-Auth-Token": lading.token}
    with httpx.Client(base_url=front, headers=token) as api:
        plain = new_image(api)
        with_property = new_image(api, colour="green")
    got = httpx.get(f"{front}/v1/images/{plain}", headers=token)
    assert got.status_code == 200 and got.content == DATA
    assert got.headers["x-image-meta-checksum"] == MD5
    assert got.headers["x-image-meta-id"] == plain
    assert got.headers["x-image-meta-is_public"] == "False"
    assert httpx.get(f"{lading.url}/v1/images/{plain}", headers=token).content == b""
    direct = httpx.get(f"{lading.url}/v1/images/{with_property}", headers=token)
    assert "x-accel-redirect" not in direct.headers and direct.content == DATA
    proxied = httpx.get(f"{front}/v1/images/{with_property}", headers=token)
    assert proxied.content == DATA
    assert proxied.headers["x-image-meta-property-colour"] == "green"
