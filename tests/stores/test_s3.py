"""What only the S3 store does: multipart uploads, and what a failed one leaves."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import botocore.config
import botocore.session
import pytest

from lading.errors import StoreError
from lading.stores.base import Part
from lading.stores.s3 import S3Store
from tests.object_servers import Bucket, container_keys

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


@pytest.fixture
def store(s3_bucket: Bucket, tmp_path: Path) -> S3Store:
    return S3Store(
        "s3", endpoint_url=s3_bucket.endpoint_url, region="us-east-1", bucket=s3_bucket.name,
        prefix=tmp_path.name, access_key=s3_bucket.access_key, secret_key=s3_bucket.secret_key,
        path_style=True, part_size=5 * MiB, chunk_size=MiB,
    )  # fmt: skip


def leftovers(bucket: Bucket) -> list[str]:
    """Multipart parts still kept: Swift's s3api holds them in '<bucket>+segments'."""
    return container_keys(f"{bucket.name}+segments")


async def test_a_large_object_goes_up_in_parts(store: S3Store, s3_bucket: Bucket) -> None:
    data = os.urandom(12 * MiB)

    async def chunks() -> AsyncIterator[bytes]:
        for offset in range(0, len(data), MiB):
            yield data[offset : offset + MiB]

    assert (await store.put("big", chunks())).size == len(data)
    assert len([key for key in leftovers(s3_bucket) if "/big/" in key]) == 3  # parts seen
    assert (
        b"".join([c async for c in store.open("big", 5 * MiB - 3, 5 * MiB + 3)])
        == data[5 * MiB - 3 : 5 * MiB + 3]
    )
    await store.delete("big")
    assert [key for key in leftovers(s3_bucket) if "/big/" in key] == []  # parts go too


async def test_a_failed_multipart_upload_leaves_no_parts(store: S3Store, s3_bucket: Bucket) -> None:
    async def failing() -> AsyncIterator[bytes]:
        for _ in range(12):  # two parts' worth go up before the failure
            yield os.urandom(MiB)
        raise RuntimeError("the client went away")

    with pytest.raises(RuntimeError):
        await store.put("broken", failing())
    assert [key for key in leftovers(s3_bucket) if "broken" in key] == []


async def test_wrong_credentials_are_a_clear_error(s3_bucket: Bucket) -> None:
    store = S3Store(
        "s3", endpoint_url=s3_bucket.endpoint_url, region="us-east-1", bucket=s3_bucket.name,
        prefix="", access_key=s3_bucket.access_key, secret_key="wrong", path_style=True,
        part_size=5 * MiB, chunk_size=MiB,
    )  # fmt: skip
    with pytest.raises(StoreError, match="cannot reach its bucket"):
        await store.check()

    async def data() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(StoreError):
        await store.put("refused", data())


async def test_the_sweep_aborts_stale_multipart_uploads_under_its_prefix(
    store: S3Store, s3_bucket: Bucket, tmp_path: Path
) -> None:
    """What a process killed mid-upload leaves: a started multipart upload with a part."""
    # Any, as in the store: botocore makes its clients' methods from the service model.
    client: Any = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=s3_bucket.endpoint_url,
        aws_access_key_id=s3_bucket.access_key, aws_secret_access_key=s3_bucket.secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    started = {}
    for key in (f"{tmp_path.name}/ab/crashed", "another-prefix/ab/crashed"):
        upload = client.create_multipart_upload(Bucket=s3_bucket.name, Key=key)
        client.upload_part(Bucket=s3_bucket.name, Key=key, UploadId=upload["UploadId"],
                           PartNumber=1, Body=os.urandom(MiB))  # fmt: skip
        started[key] = upload["UploadId"]
    assert await store.sweep(older_than=3600) == 0  # too recent: maybe still under way
    await anyio.sleep(1.1)  # S3 tells the start time in whole seconds
    assert await store.sweep(older_than=0) == 1
    remaining = client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", [])
    assert [upload["Key"] for upload in remaining] == ["another-prefix/ab/crashed"]
    client.abort_multipart_upload(Bucket=s3_bucket.name, Key="another-prefix/ab/crashed",
                                  UploadId=started["another-prefix/ab/crashed"])  # fmt: skip


async def test_delete_partial_aborts_the_multipart_uploads_of_its_key_only(
    store: S3Store, s3_bucket: Bucket, tmp_path: Path
) -> None:
    """What a process killed mid-upload leaves, removed at once by recovery, not by the
    sweep: the multipart upload of that key, and of no other (one that starts alike)."""
    # Any, as in the store: botocore makes its clients' methods from the service model.
    client: Any = botocore.session.get_session().create_client(
        "s3", region_name="us-east-1", endpoint_url=s3_bucket.endpoint_url,
        aws_access_key_id=s3_bucket.access_key, aws_secret_access_key=s3_bucket.secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    started = {}
    for key in (f"{tmp_path.name}/ab/crashed", f"{tmp_path.name}/ab/crashed-too"):
        upload = client.create_multipart_upload(Bucket=s3_bucket.name, Key=key)
        client.upload_part(Bucket=s3_bucket.name, Key=key, UploadId=upload["UploadId"],
                           PartNumber=1, Body=os.urandom(MiB))  # fmt: skip
        started[key] = upload["UploadId"]
    await store.delete_partial("ab/crashed")
    remaining = client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", [])
    assert [upload["Key"] for upload in remaining] == [f"{tmp_path.name}/ab/crashed-too"]
    client.abort_multipart_upload(Bucket=s3_bucket.name, Key=f"{tmp_path.name}/ab/crashed-too",
                                  UploadId=started[f"{tmp_path.name}/ab/crashed-too"])  # fmt: skip


async def test_parts_are_joined_by_s3_itself_and_the_object_outlives_them(
    store: S3Store,
) -> None:
    data = os.urandom(11 * MiB + 7)
    cuts = [0, 5 * MiB, 10 * MiB + 3, len(data)]  # every part but the last at least 5 MiB
    parts = []
    for number, (start, end) in enumerate(itertools.pairwise(cuts)):
        await store.put_part("tus/ab/up", number, start, one(data[start:end]))
        parts.append(Part(number, start, end - start))
    assert store.joins(parts)
    joined = await store.assemble("tus/ab/up", parts, "image")
    assert joined.size == len(data)
    await store.delete_parts("tus/ab/up", len(parts))  # the upload's parts go after
    assert b"".join([chunk async for chunk in store.open("image")]) == data
    # A short part before the last (a cut PATCH) is beyond S3's part copies: the caller
    # copies the bytes itself.
    short = [Part(0, 0, MiB), Part(1, MiB, 5 * MiB)]
    assert not store.joins(short)
    # Nor where the settings say the endpoint's own copy is no gain (join_parts).
    copying = S3Store(
        "s3", endpoint_url=None, region="us-east-1", bucket="b", prefix="", access_key=None,
        secret_key=None, path_style=True, part_size=5 * MiB, chunk_size=MiB, join_parts=False,
    )  # fmt: skip
    assert not copying.joins(parts)
    await store.delete("image")


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data
