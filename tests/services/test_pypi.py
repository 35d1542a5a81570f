"""The Python package index's rules at the service (``lading.services.pypi``): a wheel's
metadata read from a store with no local file (a bounded temporary copy), a store failing
mid-upload leaving no bytes and no name, two indexes of one name space apart, pages
kept only while their serial holds, and the byte quota decided before the bytes and again
in the transaction that records the file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from lading.db.engine import Database
from lading.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    QuotaExceeded,
    StoreFull,
    Unauthorized,
)
from lading.services import Services
from lading.services.access import Caller
from lading.services.pypi import UploadForm
from lading.services.roles import MEMBER
from lading.settings import QuotaLimits, QuotaSettings, Settings
from lading.stores.registry import StoreRegistry
from tests.clock import MovableClock
from tests.python_dists import Dist, metadata, wheel
from tests.stores.faulty import FaultyStore

pytestmark = pytest.mark.anyio

OWNER = Caller.with_role("A", MEMBER)
OTHER = Caller.with_role("B", MEMBER)


async def body(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 100):  # in pieces, as a network brings it
        yield data[start : start + 100]


async def upload(
    services: Services, caller: Caller | None, dist: Dist, index: str = "main"
) -> None:
    form = UploadForm.of(dist.fields())
    await services.pypi.upload(caller, index, form, dist.filename, body(dist.data))


async def test_a_wheels_metadata_is_read_from_a_store_without_local_files(
    services: Services, store: FaultyStore
) -> None:
    assert store.local_path("anything") is None  # so the wheel is copied to a temporary file
    dist = wheel("demo", "1.0", requires_python=">=3.9")
    await upload(services, OWNER, dist)
    expected = metadata("demo", "1.0", ">=3.9").encode()
    found = await services.pypi.core_metadata(None, "main", "demo", dist.filename)
    assert found == expected
    page = await services.pypi.project(None, "main", "Demo")
    (file,) = page.files
    assert file.requires_python == ">=3.9" and file.size == len(dist.data)


async def test_a_store_failing_mid_upload_keeps_no_bytes_and_no_name(
    services: Services, store: FaultyStore
) -> None:
    store.failing_puts = True
    with pytest.raises(StoreFull):
        await upload(services, OWNER, wheel("demo", "1.0"))
    store.failing_puts = False
    assert not store.objects
    with pytest.raises(NotFound):
        await services.pypi.project(OWNER, "main", "demo")
    await upload(services, OTHER, wheel("demo", "1.0"))  # the name was never taken


async def test_a_name_is_owned_in_its_index_alone(services: Services, admin: Caller) -> None:
    await services.pypi.put_index(admin, "other", "B", "public", [])
    await upload(services, OWNER, wheel("demo", "1.0"), "main")
    with pytest.raises(Forbidden):
        await upload(services, OTHER, wheel("demo", "2.0"), "main")
    await upload(services, OTHER, wheel("demo", "2.0"), "other")  # its own name there
    with pytest.raises(Forbidden):
        await upload(services, OTHER, wheel("dem0", "1.0"), "main")  # looks like A's


async def test_anonymous_callers_upload_nothing(services: Services) -> None:
    with pytest.raises(Unauthorized):
        await upload(services, None, wheel("demo", "1.0"))


async def test_a_page_is_kept_while_its_serial_holds(services: Services) -> None:
    await upload(services, OWNER, wheel("demo", "1.0"))
    first = await services.pypi.project(None, "main", "demo")
    assert await services.pypi.project(None, "main", "demo") is first  # kept
    await services.pypi.yank(OWNER, "main", "demo", "1.0", True, "broken")
    second = await services.pypi.project(None, "main", "demo")
    assert second.serial == first.serial + 1 and second.files[0].yanked_reason == "broken"
    with pytest.raises(BadRequest):
        await services.pypi.yank(OWNER, "main", "demo", "not a version", True)


async def test_a_long_upload_keeps_its_bytes_from_recovery(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    """An upload that outlasts ``upload_stuck_after`` while its bytes keep coming touches
    its pending blob: recovery, run meanwhile, leaves it be."""
    settings = Settings(data_dir=tmp_path, upload_stuck_after=1.0)
    services = Services.build(
        settings, database, StoreRegistry({"default": store}, "default"), clock
    )
    dist = wheel("slow", "1.0")
    swept: list[int] = []

    async def slow() -> AsyncIterator[bytes]:
        for number, start in enumerate(range(0, len(dist.data), 32)):
            await anyio.sleep(0.02)
            clock.move(seconds=0.05)  # the catalogue's clock runs on, faster than ours
            if number == 25:  # 1.75 s after the upload began by the catalogue's clock
                swept.append(await services.recovery.run())
            yield dist.data[start : start + 32]

    form = UploadForm.of(dist.fields())
    await services.pypi.upload(OWNER, "main", form, dist.filename, slow())
    assert swept == [0]
    page = await services.pypi.project(OWNER, "main", "slow")
    assert [file.filename for file in page.files] == [dist.filename]


def quota_services(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock, limit: int
) -> Services:
    quota = QuotaSettings(projects={"A": QuotaLimits(bytes=limit)})
    settings = Settings(data_dir=tmp_path, upload_stuck_after=60, quota=quota)
    return Services.build(settings, database, StoreRegistry({"default": store}, "default"), clock)


async def test_a_file_the_request_says_is_too_large_is_refused_before_its_bytes(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    dist = wheel("demo", "1.0")
    services = quota_services(tmp_path, database, store, clock, len(dist.data) // 2)
    read: list[bytes] = []

    async def watched() -> AsyncIterator[bytes]:
        async for chunk in body(dist.data):
            read.append(chunk)
            yield chunk

    form = UploadForm.of(dist.fields())
    with pytest.raises(QuotaExceeded, match=f"adding {len(dist.data)} bytes to the 0 bytes"):
        await services.pypi.upload(OWNER, "main", form, dist.filename, watched(), len(dist.data))
    assert read == [] and not store.objects  # not a byte read, no blob reserved
    # Without a size told, it is refused as it passes the room, before it all comes.
    with pytest.raises(QuotaExceeded, match="adding more than"):
        await services.pypi.upload(OWNER, "main", form, dist.filename, watched())
    assert 0 < len(b"".join(read)) < len(dist.data) and not store.objects


async def test_the_transaction_recording_a_file_decides_the_quota(
    tmp_path: Path, database: Database, store: FaultyStore, clock: MovableClock
) -> None:
    """Two uploads that each fit the room left when they began: the one that commits last
    finds the room taken and keeps nothing."""
    first, second = wheel("demo", "1.0"), wheel("other", "1.0")
    limit = len(first.data) + len(second.data) // 2
    services = quota_services(tmp_path, database, store, clock, limit)

    async def racing() -> AsyncIterator[bytes]:
        async for chunk in body(second.data):
            yield chunk
        await upload(services, OWNER, first)  # meanwhile: it takes most of the room

    form = UploadForm.of(second.fields())
    with pytest.raises(QuotaExceeded, match=f"quota of {limit} bytes"):
        await services.pypi.upload(OWNER, "main", form, second.filename, racing())
    with pytest.raises(NotFound):
        await services.pypi.project(OWNER, "main", "other")  # no name taken
    assert len(store.objects) == 1  # the first file's bytes alone
    assert [
        file.filename for file in (await services.pypi.project(OWNER, "main", "demo")).files
    ] == [first.filename]


async def test_a_name_deleted_while_an_upload_of_it_streams_is_refused_at_its_commit(
    services: Services, store: FaultyStore
) -> None:
    """The upload began before the name was used and deleted (its early check found
    nothing): the transaction that records it finds the name burned, and keeps nothing."""
    dist = wheel("demo", "1.0")

    async def racing() -> AsyncIterator[bytes]:
        async for chunk in body(dist.data):
            yield chunk
        await upload(services, OWNER, dist)  # meanwhile: uploaded, then deleted
        await services.pypi.delete(OWNER, "main", "demo", filename=dist.filename)

    form = UploadForm.of(dist.fields())
    with pytest.raises(BadRequest, match="This filename has already been used"):
        await services.pypi.upload(OWNER, "main", form, dist.filename, racing())
    assert (await services.pypi.project(OWNER, "main", "demo")).files == []
    assert not store.objects
