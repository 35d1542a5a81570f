"""Swift side of bench/transfer.py (``--store swift``): scratch containers, direct clients.

The containers live on the single-node Swift that ``scripts/services.sh start`` runs on
127.0.0.1:8080 (tempauth, account ``test:tester``). ``--store s3`` uses them too: an S3
bucket there is a Swift container.

The direct client is python-swiftclient (not a dependency of lading;
``.venv/bin/pip install python-swiftclient``), uploading Static Large Objects with lading's
segment size into the same ``<container>_segments`` container lading uses, with its own
default of concurrent segment uploads, as an operator would run it.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from lading.settings import Settings, SwiftStoreSettings

SWIFT_URL = "http://127.0.0.1:8080"  # tempauth and the S3 API on the same proxy
AUTH_URL = f"{SWIFT_URL}/auth/v1.0"
SWIFT_USER, SWIFT_KEY = "test:tester", "testing"
LOGIN_ATTEMPTS = 5
# What lading's Swift store uses by default, so that the direct client cuts the same SLO.
SEGMENT_SIZE: int = SwiftStoreSettings.model_fields["segment_size"].default
READ_CHUNK: int = Settings.model_fields["chunk_size"].default

Upload = Callable[[Path, int], float]  # (file, its size) -> seconds
Download = Callable[[str, int], float]  # (key, its size) -> seconds


@dataclass(frozen=True)
class Swift:
    """An authenticated session on the Swift API of the test account."""

    storage_url: str
    token: str

    @classmethod
    def login(cls) -> Swift:
        headers = {"X-Auth-User": SWIFT_USER, "X-Auth-Key": SWIFT_KEY}
        for attempt in range(LOGIN_ATTEMPTS):
            try:
                response = httpx.get(AUTH_URL, headers=headers, timeout=10.0)
            except httpx.TransportError as exc:
                raise RuntimeError(f"no Swift on {SWIFT_URL}: scripts/services.sh start") from exc
            # tempauth answers 503 when memcached is slow to answer it (a loaded machine)
            if response.status_code != 503 or attempt == LOGIN_ATTEMPTS - 1:
                break
            time.sleep(1.0)
        response.raise_for_status()
        return cls(response.headers["X-Storage-Url"], response.headers["X-Auth-Token"])

    def request(self, method: str, path: str, **params: str) -> httpx.Response:
        url = f"{self.storage_url}/{quote(path)}"
        headers = {"X-Auth-Token": self.token}
        return httpx.request(method, url, params=params, headers=headers, timeout=60.0)

    def names(self, container: str) -> list[str]:
        """Every object in ``container`` (none if it does not exist), page by page."""
        names: list[str] = []
        while True:
            marker = names[-1] if names else ""
            response = self.request("GET", container, format="json", marker=marker)
            if response.status_code == 404:
                return names
            response.raise_for_status()
            page = [entry["name"] for entry in response.json()]
            if not page:
                return names
            names += page

    def remove(self, container: str) -> None:
        """Delete ``container`` and everything in it; nothing if it does not exist."""
        for name in self.names(container):
            status = self.request("DELETE", f"{container}/{name}").status_code
            if status not in (204, 404):
                raise RuntimeError(f"DELETE {container}/{name} answered {status}")
        for _ in range(20):  # the listing may lag behind the deletes: 409 until it catches up
            status = self.request("DELETE", container).status_code
            if status in (204, 404):
                return
            time.sleep(0.5)
        raise RuntimeError(f"DELETE {container} still answers {status}")


# The direct client that also hashes what it sends, as lading does (transfer.py).
HASHING_REFERENCE = "swiftclient"


@contextmanager
def scratch_container(segments_suffix: str) -> Iterator[str]:
    """A new, empty container; on exit, it is removed with ``<it><segments_suffix>``."""
    swift = Swift.login()
    container = f"lading-bench-{secrets.token_hex(4)}"
    status = swift.request("PUT", container).status_code
    if status != 201:  # 202: it existed already
        raise RuntimeError(f"creating container {container} answered {status}, not 201")
    try:
        yield container
    finally:
        # Objects first (large ones are manifests), then their segments.
        swift = Swift.login()  # the token may have expired during a long run
        for name in (container, f"{container}{segments_suffix}"):
            swift.remove(name)


@contextmanager
def scratch() -> Iterator[str]:
    """A new, empty container, removed on exit with ``<container>_segments`` (lading's)."""
    with scratch_container("_segments") as container:
        yield container


def lading_stores(container: str) -> str:
    """``LADING_STORES``: ``container`` as lading's only store, with the store's defaults."""
    store = {
        "type": "swift",
        "auth_url": AUTH_URL,
        "user": SWIFT_USER,
        "key": SWIFT_KEY,
        "container": container,
    }
    return json.dumps({"default": store})


class DirectClients:
    """The container straight through the Swift API with python-swiftclient, timed.

    Same shape as ``_s3.DirectClients``: ``uploads`` and ``downloads`` by client name
    (none when python-swiftclient is not installed); an upload is checked and deleted
    right after it is timed; a download reads an object lading stored and checks its size.
    """

    def __init__(self, container: str) -> None:
        self.container = container
        self.uploads: dict[str, Upload] = {}
        self.downloads: dict[str, Download] = {}
        try:
            from swiftclient.client import Connection
            from swiftclient.service import SwiftService
        except ImportError:
            return
        self.connection: Any = Connection(AUTH_URL, SWIFT_USER, SWIFT_KEY)
        options = {"auth": AUTH_URL, "user": SWIFT_USER, "key": SWIFT_KEY, "auth_version": "1"}
        self.service: Any = SwiftService(options)
        self.uploads["swiftclient"] = self.swiftclient_put
        self.downloads["swiftclient"] = self.swiftclient_get

    def keys(self) -> set[str]:
        return set(Swift.login().names(self.container))

    def swiftclient_put(self, path: Path, size: int) -> float:
        from swiftclient.service import SwiftUploadObject

        key = "direct-swiftclient"
        upload = SwiftUploadObject(str(path), object_name=key)
        options = {"segment_size": SEGMENT_SIZE, "use_slo": True, "checksum": True}
        started = time.perf_counter()
        for result in self.service.upload(self.container, [upload], options=options):
            if not result["success"]:
                raise RuntimeError(f"swiftclient upload failed: {result.get('error')}")
        seconds = time.perf_counter() - started
        stored = int(self.connection.head_object(self.container, key)["content-length"])
        self.connection.delete_object(self.container, key, query_string="multipart-manifest=delete")
        if stored != size:
            raise RuntimeError(f"swiftclient uploaded {stored} bytes, not {size}")
        return seconds

    def swiftclient_get(self, key: str, size: int) -> float:
        started, got = time.perf_counter(), 0
        _, body = self.connection.get_object(self.container, key, resp_chunk_size=READ_CHUNK)
        for chunk in body:
            got += len(chunk)
        seconds = time.perf_counter() - started
        if got != size:
            raise RuntimeError(f"swiftclient downloaded {got} bytes, not {size}")
        return seconds
