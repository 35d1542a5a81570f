"""Plain ``curl`` against a live lading: uploads, ranges, resumption and validators."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients.support import (
    MiB,
    assert_active_with,
    create_image,
    get_image,
    random_bytes,
    unique,
)

pytestmark = pytest.mark.clients

TIMEOUT = 60.0


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # of the final response, names lowercased
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class Curl:
    """Runs curl with its answer's status, headers and body saved to files in ``workdir``.

    Every request carries ``X-Auth-Token: token`` unless ``token`` is None.
    """

    executable: str
    workdir: Path
    token: str | None

    def __call__(self, *args: str, output: Path | None = None, stdin: bytes = b"") -> Reply:
        if output is None:  # curl leaves an old file alone when the answer has no body
            output = self.workdir / "body"
            output.unlink(missing_ok=True)
        head = self.workdir / "headers"
        options = ["-sS", "--max-time", str(TIMEOUT), "-D", str(head), "-o", str(output)]
        if self.token is not None:
            options += ["-H", f"X-Auth-Token: {self.token}"]
        result = subprocess.run(
            [self.executable, *options, "-w", "%{http_code}", *args],
            input=stdin,
            capture_output=True,
            timeout=TIMEOUT + 5,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        body = output.read_bytes() if output.exists() else b""
        return Reply(int(result.stdout), final_headers(head.read_text("latin-1")), body)


def final_headers(dump: str) -> dict[str, str]:
    """The headers of the last response in a ``curl -D`` dump (after any 100 Continue)."""
    blocks = [block for block in dump.replace("\r\n", "\n").split("\n\n") if block.strip()]
    _status, *lines = blocks[-1].splitlines()
    pairs = (line.split(":", 1) for line in lines)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def parse_byteranges(body: bytes, boundary: str) -> list[tuple[str, bytes]]:
    """The (Content-Range, data) of each part of a multipart/byteranges body (RFC 9110 14.6)."""
    parts = (b"\r\n" + body).split(b"\r\n--" + boundary.encode())
    preamble, *sections, epilogue = parts
    assert preamble == b"", preamble
    assert epilogue.startswith(b"--"), epilogue[:20]
    ranges: list[tuple[str, bytes]] = []
    for section in sections:
        head, separator, data = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        assert separator, section[:200]
        fields = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n"))
        headers = {name.lower(): value for name, value in fields.items()}
        assert headers["content-type"] == "application/octet-stream"
        ranges.append((headers["content-range"], data))
    return ranges


@pytest.fixture(scope="module")
def curl_executable() -> str:
    path = shutil.which("curl")
    if path is None:
        pytest.fail("curl is not installed; the curl client tests need it on PATH")
    return path


@pytest.fixture
def curl(curl_executable: str, tmp_path: Path, api_token: str) -> Curl:
    return Curl(curl_executable, tmp_path, api_token)


@pytest.fixture(scope="module")
def stored(api: httpx.Client) -> tuple[dict[str, Any], bytes]:
    """An active image (and its bytes) that the download tests only read."""
    data = random_bytes(MiB + 4321)
    return create_image(api, unique("curl-stored"), data), data


def file_url(server_url: str, image: dict[str, Any]) -> str:
    return f"{server_url}/v2/images/{image['id']}/file"


def test_upload_with_content_length(
    curl: Curl, server_url: str, api: httpx.Client, tmp_path: Path
) -> None:
    data = random_bytes(3 * MiB + 5)  # big enough that curl sends Expect: 100-continue
    source = tmp_path / "disk.raw"
    source.write_bytes(data)
    image = create_image(api, unique("curl-put"))
    reply = curl(
        "-T",
        str(source),
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        file_url(server_url, image),
    )
    assert reply.status == 204, reply.body
    assert_active_with(get_image(api, image["id"]), data)
    assert api.get(f"/v2/images/{image['id']}/file").content == data


def test_upload_chunked_from_stdin(curl: Curl, server_url: str, api: httpx.Client) -> None:
    data = random_bytes(2 * MiB + 99)
    image = create_image(api, unique("curl-chunked"))
    reply = curl(
        "-T",
        "-",
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "-H",
        "Transfer-Encoding: chunked",
        file_url(server_url, image),
        stdin=data,
    )
    assert reply.status == 204, reply.body
    assert_active_with(get_image(api, image["id"]), data)
    assert api.get(f"/v2/images/{image['id']}/file").content == data


def test_download_whole(curl: Curl, server_url: str, stored: tuple[dict[str, Any], bytes]) -> None:
    image, data = stored
    reply = curl(file_url(server_url, image))
    assert reply.status == 200
    assert reply.body == data
    assert reply.headers["content-type"] == "application/octet-stream"
    assert reply.headers["content-length"] == str(len(data))
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["etag"]
    # Optional, but if sent it must be the hex md5 the Glance clients compare against.
    assert reply.headers.get("content-md5", image["checksum"]) == image["checksum"]


@pytest.mark.parametrize("ranges", [None, "0-9", "0-9,20-29"])
def test_head(
    curl: Curl, server_url: str, stored: tuple[dict[str, Any], bytes], ranges: str | None
) -> None:
    """HEAD answers with the headers GET would send (curl -I reads no body for HEAD)."""
    image, data = stored
    url = file_url(server_url, image)
    range_args = ["-r", ranges] if ranges else []
    get, head = curl(*range_args, url), curl("-I", *range_args, url)
    assert head.status == get.status
    for name in ("content-length", "content-range", "etag", "accept-ranges", "last-modified"):
        assert head.headers.get(name) == get.headers.get(name), name
    if ranges is None:
        assert head.headers["content-length"] == str(len(data))


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("100-199", 100, 200), ("-100", -100, None), ("1048000-", 1048000, None)],
)
def test_download_one_range(
    curl: Curl,
    server_url: str,
    stored: tuple[dict[str, Any], bytes],
    spec: str,
    start: int,
    end: int | None,
) -> None:
    image, data = stored
    expected = data[start:end]
    first = start % len(data)
    reply = curl("-r", spec, file_url(server_url, image))
    assert reply.status == 206
    assert reply.body == expected
    assert reply.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )
    assert reply.headers["content-length"] == str(len(expected))
    assert reply.headers["content-type"] == "application/octet-stream"
    assert "content-md5" not in reply.headers  # it would describe the whole image


def test_download_several_ranges(
    curl: Curl, server_url: str, stored: tuple[dict[str, Any], bytes]
) -> None:
    image, data = stored
    reply = curl("-r", "0-9,20-29", file_url(server_url, image))
    assert reply.status == 206
    media_type, _, parameter = reply.headers["content-type"].partition(";")
    assert media_type == "multipart/byteranges"
    name, _, boundary = parameter.strip().partition("=")
    assert name == "boundary" and boundary
    assert reply.headers["content-length"] == str(len(reply.body))
    assert parse_byteranges(reply.body, boundary.strip('"')) == [
        (f"bytes 0-9/{len(data)}", data[0:10]),
        (f"bytes 20-29/{len(data)}", data[20:30]),
    ]


def test_resume_partial_download(
    curl: Curl, server_url: str, stored: tuple[dict[str, Any], bytes], tmp_path: Path
) -> None:
    image, data = stored
    partial = tmp_path / "partial.raw"
    half = len(data) // 2
    partial.write_bytes(data[:half])
    reply = curl("-C", "-", file_url(server_url, image), output=partial)
    assert reply.status == 206
    assert reply.headers["content-range"] == f"bytes {half}-{len(data) - 1}/{len(data)}"
    assert partial.read_bytes() == data


def test_if_none_match(curl: Curl, server_url: str, stored: tuple[dict[str, Any], bytes]) -> None:
    image, data = stored
    url = file_url(server_url, image)
    etag = curl(url).headers["etag"]
    unchanged = curl("-H", f"If-None-Match: {etag}", url)
    assert unchanged.status == 304
    assert unchanged.body == b""
    assert unchanged.headers["etag"] == etag
    changed = curl("-H", 'If-None-Match: "something-else"', url)
    assert changed.status == 200
    assert changed.body == data


def test_range_beyond_the_end(
    curl: Curl, server_url: str, stored: tuple[dict[str, Any], bytes]
) -> None:
    image, data = stored
    reply = curl("-r", f"{len(data)}-{len(data) + 100}", file_url(server_url, image))
    assert reply.status == 416
    assert reply.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_needs_a_valid_token(
    curl: Curl, server_url: str, stored: tuple[dict[str, Any], bytes], token: str | None
) -> None:
    """Tokens exist on this server, so no token or an unknown one gets 401 and no bytes."""
    image, _data = stored
    for url in (file_url(server_url, image), f"{server_url}/v2/images/{image['id']}"):
        reply = replace(curl, token=token)(url)
        assert reply.status == 401, reply.body
        assert image["id"] not in reply.body.decode(errors="replace")
        assert json.loads(reply.body)  # a JSON error, not a stray body


def test_other_websites_are_refused_by_a_live_server(curl: Curl, server_url: str) -> None:
    """Through granian: the Host it passes on; a page's POST refused, nothing made."""
    images = f"{server_url}/v2/images"
    rebound = curl("-H", "Host: rebound.example", images)
    assert rebound.status == 400 and b"does not answer to the host" in rebound.body
    assert curl("-H", "Host: localhost:1", images).status == 200
    name = unique("curl-cross-site")
    body = json.dumps({"name": name, "disk_format": "raw", "container_format": "bare"})
    page = ["-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", body, images]
    refused = curl("-H", "Origin: https://evil.example", *page)
    assert refused.status == 403
    assert not [header for header in refused.headers if header.startswith("access-control-")]
    other_name = server_url.replace("127.0.0.1", "localhost")  # same machine, other origin
    assert curl("-H", f"Origin: {other_name}", *page).status == 403
    assert json.loads(curl(f"{images}?name={name}").body)["images"] == []
    assert curl("-H", f"Origin: {server_url}", *page).status == 201
