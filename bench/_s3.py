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
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import obstore
from obstore.store import S3Store

from _server import MiB
from _swift import SWIFT_KEY, SWIFT_URL, SWIFT_USER, Download, Upload, scratch_container
from lading.settings import S3StoreSettings, Settings
from lading.stores.s3 import PARTS_IN_FLIGHT as PARTS_IN_FLIGHT

REGION = "us-east-1"
# What lading's S3 store uses by default, so that obstore runs exactly as it does in lading.
PART_SIZE: int = S3StoreSettings.model_fields["part_size"].default
READ_CHUNK: int = Settings.model_fields["chunk_size"].default
UPLOAD_BLOCK = MiB  # the direct uploads are fed the file in blocks of this size

# The direct client that also hashes what it sends, as lading does (transfer.py).
HASHING_REFERENCE = "obstore"


@contextmanager
def scratch() -> Iterator[str]:
    """A new, empty bucket, removed on exit with ``<bucket>+segments`` (s3api's parts)."""
    with scratch_container("+segments") as bucket:
        yield bucket


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
