"""The object-store server the tests run against: Swift and its S3 API (scripts/services.sh)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from lading.settings import S3StoreSettings, SwiftStoreSettings
from tests.services_required import unavailable

SWIFT_URL = os.environ.get("LADING_TEST_SWIFT_URL", "http://127.0.0.1:8080")
SWIFT_USER, SWIFT_KEY = "test:tester", "testing"  # tempauth; also the S3 access/secret keys


@dataclass(frozen=True)
class Bucket:
    """A bucket of this test session's own on Swift's S3 API."""

    endpoint_url: str
    name: str
    access_key: str = SWIFT_USER
    secret_key: str = SWIFT_KEY


def swift_session() -> tuple[str, str]:
    """A tempauth token and the account's storage URL."""
    try:
        reply = httpx.get(
            f"{SWIFT_URL}/auth/v1.0",
            headers={"X-Auth-User": SWIFT_USER, "X-Auth-Key": SWIFT_KEY},
            timeout=10,
        )
    except httpx.TransportError as exc:
        unavailable(f"Swift is not reachable at {SWIFT_URL}: {exc}")
    reply.raise_for_status()
    return reply.headers["x-auth-token"], reply.headers["x-storage-url"]


def session_bucket() -> Iterator[Bucket]:
    """Make a bucket for this test session, and remove it (and what is left in it) after."""
    name = f"lading-test-{uuid.uuid4().hex[:12]}"  # an S3 bucket is a Swift container
    with session_containers(name, f"{name}+segments"):
        yield Bucket(SWIFT_URL, name)


@contextlib.contextmanager
def session_containers(*names: str) -> Iterator[None]:
    """Swift containers for this session; emptied and removed afterwards."""
    token, storage_url = swift_session()
    headers = {"X-Auth-Token": token}
    for name in names:
        httpx.put(f"{storage_url}/{name}", headers=headers).raise_for_status()
    yield
    with httpx.Client(headers=headers) as client:  # one connection for thousands of deletes
        for name in names:
            for key in client.get(f"{storage_url}/{name}").text.split():
                client.delete(f"{storage_url}/{name}/{key}")
            client.delete(f"{storage_url}/{name}")


def container_keys(name: str) -> list[str]:
    token, storage_url = swift_session()
    listing = httpx.get(f"{storage_url}/{name}", headers={"X-Auth-Token": token})
    return [] if listing.status_code == 404 else listing.text.split()


# Store settings for a test's own scratch prefix on the session's bucket or container.
def s3_store(request: pytest.FixtureRequest, prefix: str) -> S3StoreSettings:
    bucket: Bucket = request.getfixturevalue("s3_bucket")
    return S3StoreSettings(
        type="s3", endpoint_url=bucket.endpoint_url, bucket=bucket.name, prefix=prefix,
        access_key=bucket.access_key, secret_key=bucket.secret_key, path_style=True,
        part_size=5 * 1024 * 1024,
    )  # fmt: skip


def swift_store(request: pytest.FixtureRequest, prefix: str) -> SwiftStoreSettings:
    container: str = request.getfixturevalue("swift_container")
    return SwiftStoreSettings(
        type="swift", auth_url=f"{SWIFT_URL}/auth/v1.0", user=SWIFT_USER, key=SWIFT_KEY,
        container=container, prefix=f"{prefix}/", segment_size=5 * 1024 * 1024,
    )  # fmt: skip
