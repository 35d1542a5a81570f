"""Each driver turns its SDK's errors into lading's at one boundary (a context manager,
as httpx's ``map_httpcore_exceptions``), keeping the cause."""

from __future__ import annotations

import errno
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx
import obstore.exceptions
import pytest

from lading.errors import ObjectNotFound, StoreError, StoreFull
from lading.stores import filesystem, http, s3, swift_auth


def test_the_filesystem_tells_a_missing_object_a_full_disk_and_the_rest() -> None:
    with pytest.raises(ObjectNotFound, match="'k'"), filesystem.os_errors("fs", missing="k"):
        raise FileNotFoundError(errno.ENOENT, "gone")
    # No key to miss: a write whose directory went.
    with pytest.raises(StoreError) as failed, filesystem.os_errors("fs"):
        raise FileNotFoundError(errno.ENOENT, "gone")
    assert type(failed.value) is StoreError and isinstance(failed.value.__cause__, OSError)
    with pytest.raises(StoreFull) as full, filesystem.os_errors("fs"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert isinstance(full.value.__cause__, OSError)


def test_s3_tells_a_missing_object_only_where_the_caller_asked_for_one() -> None:
    with pytest.raises(ObjectNotFound), s3.sdk_errors("s3", "failed to read 'k'", missing="k"):
        raise FileNotFoundError("no such key")
    bucket = "store 's3' cannot reach its bucket"
    with (
        pytest.raises(StoreError, match=bucket) as failed,
        s3.sdk_errors("s3", "cannot reach its bucket"),
    ):
        raise obstore.exceptions.NotFoundError("no bucket")
    assert type(failed.value) is StoreError and failed.value.__cause__ is not None


@pytest.mark.parametrize("boundary", [http.http_errors, swift_auth.http_errors])
def test_httpx_errors_become_store_errors_with_their_cause(
    boundary: Callable[[str, str], AbstractContextManager[None]],
) -> None:
    with (
        pytest.raises(StoreError, match="store 'web' could not read x") as failed,
        boundary("web", "could not read x"),
    ):
        raise httpx.ConnectError("refused")
    assert isinstance(failed.value.__cause__, httpx.ConnectError)
