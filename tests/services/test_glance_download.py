"""glance-download's own rules: a request's method checked at once (region, image id,
interface, and a Keystone token to read the other region with, sealed in the task), and
the remote's data checked against the digests the other region gave (those the upload
does not compute itself, such as sha512, at the end, before the data is kept)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lading.errors import BadRequest
from lading.services.access import Caller
from lading.services.glance_download import TOKEN, GlanceDownload, RemoteImage
from lading.services.roles import MEMBER
from lading.services.sealing import Sealer
from lading.settings import Settings

pytestmark = pytest.mark.anyio
IMAGE = "01234567-89ab-cdef-0123-456789abcdef"
DATA = b"remote image bytes"
WITH_TOKEN = Caller("A", frozenset({MEMBER}), keystone_token="gAAAA-keystone")


@pytest.fixture
def sealer(tmp_path: Path) -> Sealer:
    return Sealer(Settings(data_dir=tmp_path, secret_key="s" * 32))


@pytest.fixture
def download(tmp_path: Path, sealer: Sealer) -> GlanceDownload:
    # Parsing and checking need no Keystone: describing the remote image does.
    return GlanceDownload(Settings(data_dir=tmp_path), None, sealer)  # type: ignore[arg-type]


def remote(algo: str | None, value: str | None, size: int = len(DATA)) -> RemoteImage:
    md5 = hashlib.md5(DATA, usedforsecurity=False).hexdigest()
    return RemoteImage("https://x/file", size, "raw", "bare", md5, algo, value, {})


def test_the_method_becomes_a_task_input_with_the_token_sealed(
    download: GlanceDownload, sealer: Sealer
) -> None:
    method = {"glance_region": "RegionTwo", "glance_image_id": IMAGE}
    task_input = download.parse(WITH_TOKEN, method)
    assert {key: task_input[key] for key in method} == method
    assert task_input["glance_service_interface"] == "public"
    assert "gAAAA-keystone" not in str(task_input)
    assert sealer.open(task_input[TOKEN]) == {"token": "gAAAA-keystone"}


@pytest.mark.parametrize(
    ("method", "complaint"),
    [
        ({"glance_image_id": IMAGE}, "'glance_region' needs to be set"),
        ({"glance_region": "R"}, "'glance_image_id' needs to be set"),
        ({"glance_region": "", "glance_image_id": IMAGE}, "glance_region must be"),
        ({"glance_region": 7, "glance_image_id": IMAGE}, "glance_region must be"),
        ({"glance_region": "R", "glance_image_id": IMAGE, "glance_service_interface": "x" * 256},
         "glance_service_interface must be"),
        ({"glance_region": "R", "glance_image_id": "../etc"}, "does not look like a UUID"),
    ],
)  # fmt: skip
def test_a_malformed_method_is_refused_at_once(
    download: GlanceDownload, method: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(BadRequest, match=complaint):
        download.parse(WITH_TOKEN, method)


def test_without_a_keystone_token_there_is_nothing_to_read_with(download: GlanceDownload) -> None:
    method = {"glance_region": "R", "glance_image_id": IMAGE}
    with pytest.raises(BadRequest, match="Keystone token"):
        download.parse(Caller.with_role("A", MEMBER), method)


async def chunks() -> AsyncIterator[bytes]:
    for start in range(0, len(DATA), 5):
        yield DATA[start : start + 5]


async def received(image: RemoteImage) -> bytes:
    return b"".join([chunk async for chunk in GlanceDownload.checked(chunks(), image)])


async def test_a_sha512_the_upload_does_not_compute_is_checked_at_the_end() -> None:
    sha512 = hashlib.sha512(DATA).hexdigest()
    assert await received(remote("sha512", sha512.upper())) == DATA
    with pytest.raises(BadRequest, match="not " + "0" * 128):
        await received(remote("sha512", "0" * 128))
    with pytest.raises(BadRequest, match="announced"):
        await received(remote("sha512", sha512, size=len(DATA) + 1))


async def test_a_sha256_is_the_uploads_to_check() -> None:
    sha256 = hashlib.sha256(DATA).hexdigest()
    expected = GlanceDownload.expected(remote("sha256", sha256))
    assert (expected.md5, expected.sha256) == (remote(None, None).checksum, sha256)
    assert GlanceDownload.expected(remote("sha512", "0" * 128)).sha256 is None
    assert await received(remote("sha256", "0" * 64)) == DATA  # passed on, checked later
