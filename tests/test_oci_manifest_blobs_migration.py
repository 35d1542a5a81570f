"""Manifests kept before garbage collection existed get their record of the blobs they
name from the migration: collection then keeps what they name (config and layers, not a
foreign layer), and an index names no blob."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from lading.db.engine import Database
from tests.conftest import unmigrated_database
from tests.services_required import SERVICES

CONFIG, LAYER, FOREIGN = ("sha256:" + c * 64 for c in "abc")
IMAGE = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG,
               "size": 2},
    "layers": [
        {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": LAYER, "size": 3},
        {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar",
         "digest": FOREIGN, "size": 4},
    ],
}).encode()  # fmt: skip
INDEX = json.dumps({"schemaVersion": 2, "manifests": []}).encode()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=SERVICES)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with unmigrated_database(request.param, tmp_path, "ocigc") as url:
        yield url


def test_kept_manifests_name_their_blobs_after_the_migration(empty_url: str) -> None:
    database = Database(empty_url)
    database.upgrade("0014")
    moment = datetime(2026, 12, 1)
    with database.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO oci_repositories (name, visibility, created_at) "
                 "VALUES ('team/app', 'private', :at)"), {"at": moment},
        )  # fmt: skip
        for digest, media_type, content in (
            ("sha256:" + "1" * 64, "application/vnd.oci.image.manifest.v1+json", IMAGE),
            ("sha256:" + "2" * 64, "application/vnd.oci.image.index.v1+json", INDEX),
        ):
            connection.execute(
                text("INSERT INTO oci_manifests (repository, digest, media_type, content, "
                     "size, created_at) VALUES ('team/app', :digest, :type, :content, "
                     ":size, :at)"),
                {"digest": digest, "type": media_type, "content": content,
                 "size": len(content), "at": moment},
            )  # fmt: skip
    database.upgrade()
    with database.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT manifest, digest FROM oci_manifest_blobs ORDER BY digest")
        ).all()
    assert [tuple(row) for row in rows] == [("sha256:" + "1" * 64, CONFIG),
                                            ("sha256:" + "1" * 64, LAYER)]  # fmt: skip
    database.dispose()
