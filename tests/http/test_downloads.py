"""What a download answers (``lading.http.downloads.answer``), decided without sending
anything or touching a store: statuses, headers and the parts of the body."""

from __future__ import annotations

from datetime import datetime

from starlette.datastructures import Headers

from lading.domain import Artifact, Location, Status, Visibility
from lading.http.downloads import OCTET_STREAM, Answer, answer, redirected
from lading.http.ranges import ByteRange
from lading.services.transfers import Download

SIZE = 1000
MD5 = "0123456789abcdef0123456789abcdef"
ETAG = f'"{MD5}"'
MODIFIED = "Thu, 01 Jan 2026 00:00:00 GMT"
BOUNDARY = "b0undary"
VALIDATORS = {"etag": ETAG, "last-modified": MODIFIED, "accept-ranges": "bytes"}


def download(checksum: str | None = MD5, data: bool = True) -> Download:
    moment = datetime(2026, 1, 1)
    artifact = Artifact(id="id", owner="p", status=Status.ACTIVE, visibility=Visibility.SHARED,
                        created_at=moment, updated_at=moment)  # fmt: skip
    location = Location("fs", "ab/object", SIZE, checksum, None) if data else None
    return Download(artifact, location)  # no store: deciding reads nothing


def decide(
    method: str = "GET",
    of: Download | None = None,
    cache_control: str | None = None,
    metadata: dict[str, str] | None = None,
    **headers: str,
) -> Answer:
    request = Headers({name.replace("_", "-"): value for name, value in headers.items()})
    return answer(request, method, of or download(), cache_control, metadata or {}, BOUNDARY)


def test_the_whole_data() -> None:
    found = decide()
    assert found.status == 200 and found.whole
    assert found.headers == {**VALIDATORS, "content-type": OCTET_STREAM,
                             "content-length": str(SIZE), "content-md5": MD5}  # fmt: skip
    assert [part.range for part in found.parts] == [ByteRange(0, SIZE)]
    assert found.redirectable == VALIDATORS


def test_no_data_is_204_with_the_faces_headers_alone() -> None:
    found = decide(of=download(data=False), cache_control="no-cache", metadata={"x-a": "1"})
    assert found == Answer(204, {"x-a": "1"})


def test_a_current_copy_is_304_weak_or_any() -> None:
    for tag in (ETAG, f"W/{ETAG}", f'"other", {ETAG}', "*"):
        assert decide(if_none_match=tag) == Answer(304, VALIDATORS), tag
    assert decide(if_none_match='"other"').status == 200


def test_one_range_is_206_with_its_content_range() -> None:
    found = decide(range="bytes=10-19")
    assert found.status == 206 and not found.whole
    assert found.headers["content-range"] == f"bytes 10-19/{SIZE}"
    assert found.headers["content-length"] == "10"
    assert "content-md5" not in found.headers  # the digest is the whole data's
    assert [part.range for part in found.parts] == [ByteRange(10, 20)]
    assert found.redirectable == VALIDATORS


def test_several_ranges_are_a_multipart_body_kept_here() -> None:
    found = decide(range="bytes=0-0,-1")
    assert found.status == 206
    assert found.headers["content-type"] == f"multipart/byteranges; boundary={BOUNDARY}"
    assert found.headers["content-length"] == str(sum(part.length for part in found.parts))
    assert [part.range for part in found.parts] == [ByteRange(0, 1), ByteRange(SIZE - 1, SIZE)]
    assert found.parts[0].head.startswith(f"--{BOUNDARY}\r\n".encode())
    assert found.parts[-1].tail == f"\r\n--{BOUNDARY}--\r\n".encode()
    assert found.redirectable is None  # a store's URL answers one range only


def test_ranges_that_select_nothing_are_416() -> None:
    found = decide(range=f"bytes={SIZE}-")
    assert found == Answer(416, {**VALIDATORS, "content-range": f"bytes */{SIZE}"})


def test_if_range_holds_only_for_the_current_validator() -> None:
    assert decide(range="bytes=0-9", if_range=ETAG).status == 206
    assert decide(range="bytes=0-9", if_range=MODIFIED).status == 206
    for stale in ('"other"', f"W/{ETAG}", "Fri, 02 Jan 2026 00:00:00 GMT"):
        assert decide(range="bytes=0-9", if_range=stale).status == 200, stale


def test_head_sends_the_headers_without_a_body_nor_a_redirect() -> None:
    found = decide("HEAD", range="bytes=0-9")
    assert found.status == 206 and found.headers["content-length"] == "10"
    assert found.parts == [] and found.redirectable is None


def test_without_a_digest_there_is_no_etag_and_no_md5() -> None:
    found = decide(of=download(checksum=None), if_none_match="*")
    assert found.status == 200
    assert "etag" not in found.headers and "content-md5" not in found.headers


def test_the_faces_headers_and_cache_control() -> None:
    found = decide(cache_control="public, max-age=60", metadata={"x-image-meta-name": "n"})
    assert found.headers["x-image-meta-name"] == "n"
    assert found.headers["cache-control"] == "public, max-age=60"


def test_a_redirect_keeps_the_validators_and_is_never_cached() -> None:
    found = redirected(VALIDATORS, "https://store.example/object?sig=x")
    assert found == Answer(307, {**VALIDATORS, "location": "https://store.example/object?sig=x",
                                 "cache-control": "no-store", "content-length": "0"})  # fmt: skip
