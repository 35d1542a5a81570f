"""A store in an S3 bucket: AWS, MinIO, Ceph RGW, Swift's s3api, any S3-compatible endpoint.

Built on obstore (Rust's object_store). On this project's 2-core machine, against Swift's
s3api, it uploaded 256 MiB at ~270 MB/s where aiobotocore managed ~160 MB/s (downloads
~290 against ~260). Large objects go up as multipart uploads of ``part_size``, several
parts in flight. obstore reports a missing object as FileNotFoundError. With ``redirect``
on, downloads are handed off to presigned URLs.

A multipart upload cut by a crash stays in the bucket, unseen and billed, until it is
aborted. obstore cannot list those, so the sweep lists and aborts them with botocore,
AWS's own client, which it runs in a worker thread (a sweep is rare and small).
"""

from __future__ import annotations

import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterator,
    Sequence,
)
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
import botocore.config
import botocore.session
import obstore
from botocore.exceptions import BotoCoreError, ClientError
from obstore.exceptions import BaseError, NotFoundError

from lading.errors import ObjectNotFound, StoreError
from lading.stores.base import Part, Store, StoredObject

if TYPE_CHECKING:  # only in obstore's type stubs
    from obstore import GetOptions

PARTS_IN_FLIGHT = 4
# S3's bounds on a multipart upload's parts (copied ones too): each but the last at least
# MIN_PART bytes, each at most MAX_COPY, at most MAX_PARTS of them (AWS takes 10,000;
# Swift's s3api, max_upload_part_num, 1,000 by default: the lower is kept).
MIN_PART = 5 * 1024 * 1024
MAX_COPY = 5 * 1024 * 1024 * 1024
MAX_PARTS = 1000


class S3Store(Store):
    def __init__(
        self,
        name: str,
        *,
        endpoint_url: str | None,
        region: str,
        bucket: str,
        prefix: str,
        access_key: str | None,
        secret_key: str | None,
        path_style: bool,
        part_size: int,
        chunk_size: int,
        redirect: bool = False,
        redirect_expiry: int = 60,
        join_parts: bool = True,
        description: str = "",
    ) -> None:
        super().__init__(name, description)
        self._join_parts = join_parts
        self._bucket_name, self._prefix = bucket, prefix.strip("/")
        self._part_size = part_size
        self._chunk_size = chunk_size
        self._redirect_expiry = timedelta(seconds=redirect_expiry) if redirect else None
        # obstore joins the prefix and the key as path segments, with one slash.
        self._url_base = f"s3://{bucket}/" + (f"{prefix.strip('/')}/" if prefix.strip("/") else "")
        options: dict[str, Any] = {"region": region}
        if endpoint_url:
            options["endpoint"] = endpoint_url
        if access_key and secret_key:
            options |= {"access_key_id": access_key, "secret_access_key": secret_key}
        self._bucket = obstore.store.S3Store(
            bucket,
            prefix=prefix or None,
            virtual_hosted_style_request=not path_style,
            client_options={"allow_http": bool(endpoint_url and endpoint_url.startswith("http:"))},
            **options,
        )
        self._sweeper_options: dict[str, Any] = {
            "region_name": region,
            "endpoint_url": endpoint_url,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
            "config": botocore.config.Config(
                s3={"addressing_style": "path" if path_style else "virtual"}
            ),
        }
        # Made on first use (a sweep, delete_partial), in its worker thread: botocore loads
        # its service models from disk, which neither start-up nor the event loop should
        # wait for. It makes its clients' methods at run time: no static type to give.
        self._sweeper: Any = None

    async def check(self) -> None:
        with sdk_errors(self.name, "cannot reach its bucket"):
            await obstore.list_with_delimiter_async(self._bucket)

    async def put(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        size = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal size
            async for chunk in chunks:
                size += len(chunk)
                yield chunk

        with sdk_errors(self.name, f"failed to write {key!r}"):
            await obstore.put_async(
                self._bucket,
                key,
                counted(),
                chunk_size=self._part_size,
                max_concurrency=PARTS_IN_FLIGHT,
            )
        return StoredObject(key, size)

    async def open(self, key: str, start: int = 0, end: int | None = None) -> AsyncGenerator[bytes]:
        if end is not None and end <= start:
            return
        options: GetOptions = {}
        if end is not None:
            options["range"] = (start, end)
        elif start:
            options["range"] = {"offset": start}
        with sdk_errors(self.name, f"failed to read {key!r}", missing=key):
            result = await obstore.get_async(self._bucket, key, options=options or None)
            async for chunk in result.stream(min_chunk_size=self._chunk_size):
                yield bytes(chunk)

    async def stat(self, key: str) -> StoredObject:
        with sdk_errors(self.name, f"failed to look at {key!r}", missing=key):
            meta = await obstore.head_async(self._bucket, key)
        return StoredObject(key, int(meta["size"]))

    def location_url(self, key: str) -> str:
        return self._url_base + key

    def joins(self, parts: Sequence[Part]) -> bool:
        """Within S3's bounds on parts (a cut PATCH leaves a short one: not joined)."""
        sizes = [part.size for part in parts]
        return (
            self._join_parts
            and 0 < len(parts) <= MAX_PARTS
            and all(size >= MIN_PART for size in sizes[:-1])
            and all(size <= MAX_COPY for size in sizes)
        )

    async def assemble(self, key: str, parts: Sequence[Part], target: str) -> StoredObject:
        """A multipart upload of ``target`` whose parts S3 copies from the part objects
        (UploadPartCopy: no byte through lading); the result stands alone."""
        sizes = [part.size for part in parts]
        sources = [self._full(self.part_key(key, part.number)) for part in parts]
        with sdk_errors(self.name, f"could not join the parts of {key!r} as {target!r}"):
            await anyio.to_thread.run_sync(self._copy_parts, sources, self._full(target))
        return StoredObject(target, sum(sizes))

    def _full(self, key: str) -> str:
        return f"{self._prefix}/{key}" if self._prefix else key

    def _copy_parts(self, sources: list[str], target: str) -> None:
        client, bucket = self._client(), self._bucket_name
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=target)["UploadId"]
        try:
            done = []
            for number, source in enumerate(sources, 1):
                copied = client.upload_part_copy(
                    Bucket=bucket, Key=target, UploadId=upload_id, PartNumber=number,
                    CopySource={"Bucket": bucket, "Key": source},
                )  # fmt: skip
                done.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            client.complete_multipart_upload(
                Bucket=bucket, Key=target, UploadId=upload_id, MultipartUpload={"Parts": done}
            )
        except BaseException:
            with contextlib.suppress(BotoCoreError, ClientError):  # else the sweep aborts it
                client.abort_multipart_upload(Bucket=bucket, Key=target, UploadId=upload_id)
            raise

    async def redirect_url(self, key: str) -> str | None:
        if self._redirect_expiry is None:
            return None
        with sdk_errors(self.name, f"failed to sign {key!r}"):  # local: no request sent
            return await obstore.sign_async(self._bucket, "GET", key, self._redirect_expiry)

    async def delete(self, key: str) -> None:
        with (
            contextlib.suppress(ObjectNotFound),
            sdk_errors(self.name, f"failed to delete {key!r}", missing=key),
        ):
            await obstore.delete_async(self._bucket, key)

    async def delete_partial(self, key: str) -> None:
        """Abort the multipart uploads of ``key``: those of a process that died mid-upload."""
        full = self._full(key)
        # The listing is by prefix: not another key that starts alike.
        await self._abort_uploads(full, lambda upload: upload["Key"] == full)

    async def sweep(self, older_than: float) -> int:
        """Abort the multipart uploads under the prefix started over ``older_than`` ago."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
        prefix = f"{self._prefix}/" if self._prefix else ""
        return await self._abort_uploads(prefix, lambda upload: upload["Initiated"] < cutoff)

    async def _abort_uploads(self, prefix: str, wanted: Callable[[dict[str, Any]], bool]) -> int:
        """Abort the multipart uploads under ``prefix`` that are ``wanted``; how many."""
        with sdk_errors(self.name, "could not abort its multipart uploads"):
            return await anyio.to_thread.run_sync(self._abort_listed, prefix, wanted)

    def _client(self) -> Any:
        """botocore's client, made on first use in a worker thread (see __init__)."""
        if self._sweeper is None:
            self._sweeper = botocore.session.get_session().create_client(
                "s3", **self._sweeper_options
            )
        return self._sweeper

    def _abort_listed(self, prefix: str, wanted: Callable[[dict[str, Any]], bool]) -> int:
        aborted = 0
        pages = self._client().get_paginator("list_multipart_uploads")
        for page in pages.paginate(Bucket=self._bucket_name, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if wanted(upload):
                    self._client().abort_multipart_upload(
                        Bucket=self._bucket_name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        return aborted


@contextlib.contextmanager
def sdk_errors(store: str, doing: str, missing: str | None = None) -> Iterator[None]:
    """The one place obstore's and botocore's errors become lading's, the cause kept:
    ObjectNotFound for the ``missing`` key, when a missing object is the caller's to
    know of (obstore reports one as FileNotFoundError, or NotFoundError), StoreError
    saying what the store was ``doing`` otherwise."""
    try:
        yield
    except (FileNotFoundError, NotFoundError) as exc:
        if missing is None:
            raise StoreError(f"store {store!r} {doing}: {exc}") from exc
        raise ObjectNotFound(f"no object {missing!r} in store {store!r}") from None
    except (BaseError, OSError, BotoCoreError, ClientError) as exc:
        raise StoreError(f"store {store!r} {doing}: {exc}") from exc
