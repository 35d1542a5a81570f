"""Locations in VISoR's stores, read as objects of the lading store their scheme leads to:
the bucket, directory or container must be the store's, the object under its prefix;
credentials in the URL never kept; lading's own objects never claimable."""

from __future__ import annotations

from pathlib import Path

import pytest

from lading.errors import BadRequest
from lading.services.visor_locations import scheme_of, stored_key
from lading.settings import Settings

OWN = "ab/" + "0" * 32  # the shape of a key lading makes for data it stores


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    stores = {
        "s3": {"type": "s3", "bucket": "images", "prefix": "visor/"},
        "disk": {"type": "filesystem", "path": str(tmp_path / "disk")},
        "swift": {"type": "swift", "auth_url": "http://x/auth/v1.0", "user": "u", "key": "k",
                  "container": "glance"},
        "web": {"type": "http"},
    }  # fmt: skip
    return Settings(data_dir=tmp_path, stores=stores, default_store="disk")


def test_only_visors_schemes_lead_to_a_store() -> None:
    assert [scheme_of(url) for url in ("S3://b/k", "walrus://h/b/k", "file:///x", "hdfs://h/")] == [
        "s3", "walrus", "file", "hdfs",
    ]  # fmt: skip
    assert [scheme_of(url) for url in ("https://h/k", "s3:b/k", "ftp://h/k", "")] == [None] * 4


@pytest.mark.parametrize(
    ("store", "url", "key"),
    [
        ("s3", "s3://images/visor/a/b.img", "a/b.img"),  # as lading shows its own
        ("s3", "walrus://access:secret@host:8773/images/visor/a%20b.img", "a b.img"),  # as VISoR
        ("swift", "cumulus://glance/dir/x.img", "dir/x.img"),
    ],
)
def test_a_location_names_a_key_in_its_store(
    settings: Settings, store: str, url: str, key: str
) -> None:
    assert stored_key(settings, store, url) == key


def test_a_file_location_is_a_path_inside_the_stores_directory(settings: Settings) -> None:
    root = settings.store_path("disk")
    assert stored_key(settings, "disk", f"file://{root}/sub/x.img") == "sub/x.img"
    for url in (f"file://{root}/../x.img", "file://relative/x.img", "file:///etc/passwd"):
        with pytest.raises(BadRequest):
            stored_key(settings, "disk", url)


@pytest.mark.parametrize(
    ("store", "url", "complaint"),
    [
        ("s3", "s3://other/visor/x.img", "is the bucket 'images'"),
        ("s3", "s3://images/elsewhere/x.img", "under 'visor'"),
        ("s3", "s3://images/visor/", "names no object"),
        ("s3", f"s3://images/visor/{OWN}", "lading's own object"),
        ("swift", "s3://other/x.img", "is the container 'glance'"),
        ("web", "s3://images/x.img", r"http\(s\) URLs only"),
    ],
)
def test_a_location_outside_its_store_is_refused(
    settings: Settings, store: str, url: str, complaint: str
) -> None:
    with pytest.raises(BadRequest, match=complaint):
        stored_key(settings, store, url)


def test_a_refusal_never_shows_the_urls_credentials(settings: Settings) -> None:
    with pytest.raises(BadRequest) as refused:
        stored_key(settings, "s3", "walrus://AKIA:topsecret@host/other/x.img")
    assert "topsecret" not in str(refused.value) and "AKIA" not in str(refused.value)
