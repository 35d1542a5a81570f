"""X-Accel-Redirect's pieces: the prefix setting, the URI a store gives, the headers that
reach the client, and the nginx location operations.md shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lading.errors import InvalidKey
from lading.http.accel import carried, handed_off, location_block
from lading.settings import FilesystemStoreSettings
from lading.stores.filesystem import FilesystemStore

OPERATIONS = Path(__file__).parents[2] / "docs" / "operations.md"


@pytest.mark.parametrize(
    "prefix",
    ["/", "_lading/", "/_lading", "/a/../b/", "/a/./", "/.tmp/", "/a//", "/a b/", "/a?x/",
     "/a%2e/", "http://x/", "/a/\n/", "/a/\n"],
)  # fmt: skip
def test_a_prefix_that_is_not_plain_segments_is_refused(prefix: str) -> None:
    with pytest.raises(ValidationError):
        FilesystemStoreSettings(accel_redirect=prefix)


def test_a_plain_prefix_is_taken() -> None:
    assert FilesystemStoreSettings(accel_redirect="/_lading_store/a-1/").accel_redirect


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "a/../../etc", ".tmp/x", "/etc/passwd", "a//b", "a/./b", "%2e%2e/x",
            "a\\b", ""],
)  # fmt: skip
def test_a_hostile_key_gives_no_uri(tmp_path: Path, key: str) -> None:
    store = FilesystemStore("fs", tmp_path, 4096, accel_redirect="/_lading_store/fs/")
    with pytest.raises(InvalidKey):
        store.accel_uri(key)


def test_a_store_without_the_setting_sends_its_bytes_itself(tmp_path: Path) -> None:
    assert FilesystemStore("fs", tmp_path, 4096).accel_uri("ab/cd") is None
    handing = FilesystemStore("fs", tmp_path, 4096, accel_redirect="/_s/fs/")
    assert handing.accel_uri("ab/cd") == "/_s/fs/ab/cd"


def test_only_headers_nginx_carries_are_handed_off() -> None:
    assert carried({"ETag": '"x"', "content-md5": "x", "x-image-meta-checksum": "x"})
    assert not carried({"etag": '"x"', "x-image-meta-property-colour": "green"})
    answer = handed_off(
        {"content-length": "9", "accept-ranges": "bytes", "etag": '"x"'}, "/_s/fs/ab/cd"
    )
    assert answer == {"etag": '"x"', "x-accel-redirect": "/_s/fs/ab/cd", "content-length": "0"}


def test_operations_shows_the_location_the_code_builds() -> None:
    block = location_block("/_lading_store/default/", "/var/lib/lading/stores/default")
    assert f"```nginx\n{block}```" in OPERATIONS.read_text()
