"""Hostile Range and If-Range headers on every download endpoint: overlapping, reversed,
a thousand ranges, positions past 2**64 and of thousands of digits, malformed units,
odd If-Range values. The answer is 416 or a bounded one (the whole data, or at most
``MAX_RANGE_SPECS`` parts of it), never a 5xx, and what it holds is the data's bytes and
only those (a file inside an OSM package is a range of the stored archive: no byte of
its neighbours may leak)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.http.ranges import MAX_RANGE_SPECS
from tests.api.seeds import seed_click, seed_images, seed_osm, seed_pnda, world_settings
from tests.portal import call
from tests.raw_asgi import HOST, RawAnswer, send

PART_HEAD = 200  # bytes a multipart/byteranges part may add (boundary, type, range)
HUGE = str(2**64)
RANGES = [
    "bytes=0-100,50-150,100-200", "bytes=0-0,0-0,0-0", "bytes=10-20,0-5,15-30,-5,3-",
    ",".join(["bytes=0-0"] + ["0-0"] * 999),  # a thousand times the same byte
    "bytes=" + ",".join(f"{n}-{n}" for n in range(0, 2000, 2)),  # a thousand ranges
    "bytes=" + ",".join(f"{n}-{n}" for n in range(0, 200, 2)),  # a hundred: all served
    "bytes=" + ",".join(f"{n}-" for n in range(100)),  # a hundred, all overlapping
    "bytes=100-50", "bytes=5-1,0-1", "bytes=-0", "bytes=0-", "bytes=-1",
    f"bytes={HUGE}-", f"bytes=0-{HUGE}", f"bytes=-{HUGE}", f"bytes={HUGE}-{2**65}",
    "bytes=" + "9" * 10000 + "-", "bytes=1-" + "9" * 5000, "bytes=-" + "9" * 5000,
    "items=0-1", "bytes 0-1", "bytes=0-1;q=1", "bytes=0--1", "bytes=+0-1", "bytes=0-1,,",
    "bytes=,", "=0-1", "bytes=0x10-0x20", "bytes=1e3-", "BYTES=0-1", " bytes = 0-1 ",
    "bytes=0-1\x00", "bytes=" + "0-1," * 20000,
]  # fmt: skip
IF_RANGE = ['"', 'W/"{etag}"', "*", "", "x" * 10000, "Thu, 01 Jan 1970 00:00:00 GMT",
            '"{etag}"', "{etag}", '"{etag}", "{etag}"', "\x00"]  # fmt: skip


@pytest.fixture(scope="module")
def downloads(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, bytes]]]:
    """One app, read only by these tests, with something to download on every face:
    each endpoint's path and the bytes it serves whole."""
    root = tmp_path_factory.mktemp("ranges")
    settings = world_settings(root / "data", root / "catalogue.db")
    with TestClient(create_app(settings), base_url=f"http://{HOST.decode()}") as client:
        identities = client.app.state.services.identities  # type: ignore[attr-defined]
        token = call(client, identities.create, "ranges", "admin").token
        client.headers.update({"x-auth-token": token})
        image = seed_images(client)["image_id"][1]  # active, 4 KiB
        pnda, click, osm = seed_pnda(client, 0), seed_click(client, 0), seed_osm(client, 0)
        address = "/".join(click[part][0] for part in ("name", "version", "file"))
        inside = next(path for path in osm["path"] if path.endswith(".cfg"))
        package = osm["id"][0]
        paths = [f"/v2/images/{image}/file", f"/v1/images/{image}", f"/visor/images/{image}",
                 f"/ui/artifacts/{image}/download", f"/packages/{pnda['file'][0]}",
                 f"/click/download/public/{address}", f"/click/download/private/{address}",
                 f"/api/package/{package}/files/{inside}", f"/api/export/{package}"]  # fmt: skip
        whole = {}
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.text)
            whole[path] = answer.content
        yield client, whole


def get(client: TestClient, path: str, headers: list[tuple[bytes, bytes]]) -> RawAnswer:
    token = client.headers["x-auth-token"].encode()
    return send(client, "GET", path.encode(), [(b"x-auth-token", token), *headers])


def check(answer: RawAnswer, data: bytes) -> str | None:
    """What is wrong with the answer to a hostile range request, if anything."""
    if answer.status == 416:
        return None if answer.body == b"" else "a 416 with a body"
    if answer.status == 200:
        return None if answer.body == data else "200 but not the whole data"
    if answer.status != 206:
        return f"status {answer.status}"
    content_type = answer.header("content-type") or ""
    if not content_type.startswith("multipart/byteranges"):
        found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", answer.header("content-range") or "")
        if found is None:
            return "206 without a Content-Range"
        first, last, size = map(int, found.groups())
        ok = size == len(data) and answer.body == data[first : last + 1]
        return None if ok else "206 with other bytes than its Content-Range says"
    parts = re.findall(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)\r\n\r\n", answer.body)
    if not 1 < len(parts) <= MAX_RANGE_SPECS:
        return f"{len(parts)} parts"
    if len(answer.body) > sum(int(b) - int(a) + 1 for a, b, _ in parts) + PART_HEAD * len(parts):
        return "a multipart answer larger than its parts"
    for first, last, _ in parts:
        head = b"Content-Range: bytes %s-%s/%d\r\n\r\n" % (first, last, len(data))
        start = answer.body.index(head) + len(head)
        if (
            answer.body[start : start + int(last) - int(first) + 1]
            != data[int(first) : int(last) + 1]
        ):
            return f"part {first!r}-{last!r} holds other bytes"
    return None


@pytest.mark.heavy  # every hostile range on every face
def test_hostile_ranges_get_416_or_a_bounded_answer(
    downloads: tuple[TestClient, dict[str, bytes]],
) -> None:
    client, whole = downloads
    wrong = []
    for path, data in whole.items():
        etag = (client.get(path).headers.get("etag") or "").strip('"')
        for value in RANGES:
            answer = get(client, path, [(b"range", value.encode("latin-1"))])
            if problem := check(answer, data):
                wrong.append(f"{path}: Range {value[:60]!r}: {problem}")
        for value in IF_RANGE:
            header = value.format(etag=etag).encode("latin-1")
            answer = get(client, path, [(b"range", b"bytes=1-2"), (b"if-range", header)])
            if problem := check(answer, data):
                wrong.append(f"{path}: If-Range {header[:60]!r}: {problem}")
            if answer.status == 206 and header != f'"{etag}"'.encode():
                wrong.append(f"{path}: If-Range {header[:60]!r}: honoured, though not current")
    assert len(whole) == 9 and not wrong, "\n".join(wrong)


def test_a_file_inside_a_package_never_shows_its_neighbours(
    downloads: tuple[TestClient, dict[str, bytes]],
) -> None:
    client, whole = downloads
    path = next(path for path in whole if "/files/" in path)
    data = whole[path]
    size = len(data)
    for value in ("bytes=0-999999", f"bytes=-{size + 512}", f"bytes={size}-",
                  f"bytes={size - 1}-{size + 511}", f"bytes=0-0,{size}-"):  # fmt: skip
        answer = get(client, path, [(b"range", value.encode())])
        assert answer.status in (206, 416), (value, answer.status)
        assert check(answer, data) is None, value
        assert len(answer.body) <= len(data), value
