"""S3 side of bench/transfer.py (``--store s3``): a scratch bucket and the direct clients.

The bucket lives on the single-node Swift that ``scripts/services.sh start`` runs on
127.0.0.1:8080, with its S3 API (s3api). A bucket is a Swift container, made and removed
with the Swift API, together with ``<bucket>+segments``, where s3api keeps the parts of
multipart uploads.

The direct clients talk to the same S3 API from the benchmark process, to be measured
next to lading: obstore configured as lading's S3 store is (same part size, parts in
flight and read chunk size), and boto3 with the same part size and concurrency when it
is importable (it is not a dependency of lading; ``.venv/bin/pip install boto3``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import obstore
from obstore.store import S3Store

from _server import MiB
from lading.settings import S3StoreSettings, Settings
from lading.stores.s3 import PARTS_IN_FLIGHT as PARTS_IN_FLIGHT

SWIFT_URL = "http://127.0.0.1:8080"  # tempauth and the S3 API on the same proxy
SWIFT_USER, SWIFT_KEY = "test:tester", "testing"
REGION = "us-east-1"
# What lading's S3 store uses by default, so that obstore runs exactly as it does in lading.
PART_SIZE: int = S3StoreSettings.model_fields["part_size"].default
READ_CHUNK: int = Settings.model_fields["chunk_size"].default
UPLOAD_BLOCK = MiB  # the direct uploads are fed the file in blocks of this size

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
        try:
            response = httpx.get(f"{SWIFT_URL}/auth/v1.0", headers=headers, timeout=10.0)
        except httpx.TransportError as exc:
            raise RuntimeError(f"no Swift on {SWIFT_URL}: scripts/services.sh start") from exc
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


@contextmanager
def scratch_bucket() -> Iterator[str]:
    """A new, empty bucket; on exit, it is removed with its segments container."""
    swift = Swift.login()
    bucket = f"lading-bench-{secrets.token_hex(4)}"
    status = swift.request("PUT", bucket).status_code
    if status != 201:  # 202: it existed already
        raise RuntimeError(f"creating bucket {bucket} answered {status}, not 201")
    try:
        yield bucket
    finally:
        # The bucket with its objects (multipart ones are manifests), then their parts.
        swift = Swift.login()  # the token may have expired during a long run
        for container in (bucket, f"{bucket}+segments"):
            swift.remove(container)


def lading_stores(bucket: str) -> str:
    """``LADING_STORES``: ``bucket`` as lading's only store, with the store's defaults."""
    store = {
        "type": "s3",
        "endpoint_url": SWIFT_URL,
        "bucket": bucket,
        "access_key": SWIFT_USER,
        "secret_key": SWIFT_KEY,
        "path_style": True,
    }
    return json.dumps({"default": store})


class DirectClients:
    """The bucket straight through its S3 API, timed; lading is idle meanwhile.

    ``uploads`` and ``downloads`` map a client's name to a transfer; an upload is
    checked and deleted right after it is timed, so that the bucket holds only lading's
    objects; a download reads an object lading stored, whole, and checks its size.
    """

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.store = S3Store(
            bucket,
            endpoint=SWIFT_URL,
            region=REGION,
            access_key_id=SWIFT_USER,
            secret_access_key=SWIFT_KEY,
            virtual_hosted_style_request=False,
            client_options={"allow_http": True},
        )
        self.uploads: dict[str, Upload] = {}
        self.downloads: dict[str, Download] = {}
        self.boto3: Any = boto3_client()  # untyped, and None when not installed
        if self.boto3 is not None:  # first, so that obstore runs right before lading
            self.uploads["boto3"], self.downloads["boto3"] = self.boto3_put, self.boto3_get
        self.uploads["obstore"], self.downloads["obstore"] = self.obstore_put, self.obstore_get

    def keys(self) -> set[str]:
        return {meta["path"] for batch in obstore.list(self.store) for meta in batch}

    def _uploaded(self, key: str, size: int, client: str) -> None:
        stored = obstore.head(self.store, key)["size"]
        obstore.delete(self.store, key)
        if stored != size:
            raise RuntimeError(f"{client} uploaded {stored} bytes, not {size}")

    def _downloaded(self, got: int, size: int, client: str) -> None:
        if got != size:
            raise RuntimeError(f"{client} downloaded {got} bytes, not {size}")

    def obstore_put(self, path: Path, size: int) -> float:
        async def blocks() -> AsyncIterator[bytes]:
            with path.open("rb") as file:
                while block := file.read(UPLOAD_BLOCK):
                    yield block

        async def timed() -> float:
            started = time.perf_counter()
            await obstore.put_async(
                self.store,
                "direct-obstore",
                blocks(),
                chunk_size=PART_SIZE,
                max_concurrency=PARTS_IN_FLIGHT,
            )
            return time.perf_counter() - started

        seconds = asyncio.run(timed())
        self._uploaded("direct-obstore", size, "obstore")
        return seconds

    def obstore_get(self, key: str, size: int) -> float:
        async def timed() -> tuple[float, int]:
            started, got = time.perf_counter(), 0
            result = await obstore.get_async(self.store, key)
            async for chunk in result.stream(min_chunk_size=READ_CHUNK):
                got += len(chunk)
            return time.perf_counter() - started, got

        seconds, got = asyncio.run(timed())
        self._downloaded(got, size, "obstore")
        return seconds

    def boto3_put(self, path: Path, size: int) -> float:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=PART_SIZE,
            multipart_chunksize=PART_SIZE,
            max_concurrency=PARTS_IN_FLIGHT,
        )
        started = time.perf_counter()
        self.boto3.upload_file(str(path), self.bucket, "direct-boto3", Config=config)
        seconds = time.perf_counter() - started
        self._uploaded("direct-boto3", size, "boto3")
        return seconds

    def boto3_get(self, key: str, size: int) -> float:
        started, got = time.perf_counter(), 0
        body = self.boto3.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in body.iter_chunks(READ_CHUNK):
            got += len(chunk)
        seconds = time.perf_counter() - started
        self._downloaded(got, size, "boto3")
        return seconds


def boto3_client() -> Any | None:
    """A boto3 S3 client on the bucket's endpoint, or None when boto3 is not installed."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        return None
    return boto3.client(
        "s3",
        endpoint_url=SWIFT_URL,
        region_name=REGION,
        aws_access_key_id=SWIFT_USER,
        aws_secret_access_key=SWIFT_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )
