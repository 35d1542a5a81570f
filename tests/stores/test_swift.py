"""What only the Swift store does: segments, MD5 checks by Swift, token renewal."""

from __future__ import annotations

import gc
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from lading.errors import StoreError
from lading.stores.swift import SEGMENTS_IN_FLIGHT, Segment, SwiftStore, _segments
from tests.asgi_server import running_asgi
from tests.object_servers import (
    SWIFT_KEY,
    SWIFT_URL,
    SWIFT_USER,
    container_keys,
    swift_session,
)

pytestmark = pytest.mark.anyio
SEGMENT = 100_000
REPOSITORY = Path(__file__).parents[2]


class CorruptingSwiftStore(SwiftStore):
    """Flips a byte after the MD5 is taken, as a bad link or disk would."""

    def _body(self, segment: Segment) -> Iterable[bytes]:
        first, *rest = segment.chunks
        return [bytes([first[0] ^ 1]) + first[1:], *rest]


def make(kind: type[SwiftStore], container: str, tmp_path: Path) -> SwiftStore:
    return kind(
        "swift", auth_url=f"{SWIFT_URL}/auth/v1.0", user=SWIFT_USER, key=SWIFT_KEY,
        container=container, prefix=f"{tmp_path.name}/", segment_size=SEGMENT,
        chunk_size=64 * 1024, timeout=10,
    )  # fmt: skip


@pytest.fixture
async def store(swift_container: str, tmp_path: Path) -> AsyncIterator[SwiftStore]:
    store = make(SwiftStore, swift_container, tmp_path)
    yield store
    await store.close()


def segments_of(container: str, key: str) -> list[str]:
    return [name for name in container_keys(f"{container}_segments") if f"/{key}/" in name]


async def pieces(data: bytes, size: int = 30_000) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


async def test_large_objects_are_segmented_and_deleted_whole(
    store: SwiftStore, swift_container: str
) -> None:
    data = os.urandom(3 * SEGMENT + 123)
    assert (await store.put("large", pieces(data))).size == len(data)
    assert len(segments_of(swift_container, "large")) == 4
    assert (
        b"".join([c async for c in store.open("large", SEGMENT - 5, SEGMENT + 5)])
        == data[SEGMENT - 5 : SEGMENT + 5]
    )
    await store.delete("large")
    assert segments_of(swift_container, "large") == []


async def test_a_failed_upload_leaves_no_segment(store: SwiftStore, swift_container: str) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(2 * SEGMENT + 10)  # two segments go up first
        raise RuntimeError("the client went away")

    with pytest.raises(RuntimeError):
        await store.put("broken", failing())
    assert segments_of(swift_container, "broken") == []


async def test_an_upload_holds_a_few_segments_at_most(store: SwiftStore) -> None:
    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(400):  # 40 segments, made as they are read
            yield os.urandom(SEGMENT // 10)

    tracemalloc.start()
    try:
        stored = await store.put("streamed", streamed())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert stored.size == 40 * SEGMENT
    # Two segments going up and one filling, and what sending them takes (as much again
    # and more with segments this small: 0.84 MB in all), not the 40 of them (4.6 MB).
    assert peak < 4 * (SEGMENTS_IN_FLIGHT + 1) * SEGMENT, f"{peak} bytes at the peak"


async def test_a_failed_upload_lets_its_segments_go_at_once(store: SwiftStore) -> None:
    """The failure's frames form cycles that only the cyclic collector breaks: the
    segments they reach must be empty by then, or every cut-off upload would keep up to
    three segments in memory until it runs."""

    async def cut_off() -> AsyncIterator[bytes]:
        for _ in range(25):  # 2.5 segments: two sent, one filling
            yield os.urandom(SEGMENT // 10)
        raise RuntimeError("the client went away")

    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        for _ in range(4):
            with pytest.raises(RuntimeError):
                await store.put("cut-off", cut_off())
        held = tracemalloc.get_traced_memory()[0]
        gc.collect()
        held -= tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        gc.enable()
    assert held < 4 * SEGMENT, f"{held} bytes waited for the cyclic collector"


@pytest.mark.parametrize("size", [1000, 2 * SEGMENT + 1])
async def test_swift_refuses_corrupted_bytes(
    swift_container: str, tmp_path: Path, size: int
) -> None:
    store = make(CorruptingSwiftStore, swift_container, tmp_path)
    with pytest.raises(StoreError):
        await store.put("corrupted", pieces(os.urandom(size)))
    assert segments_of(swift_container, "corrupted") == []
    await store.close()


async def test_an_expired_token_is_renewed_mid_upload(store: SwiftStore) -> None:
    data = os.urandom(2 * SEGMENT + 7)
    await store.check()  # signed in: the token below replaces a real one

    async def expiring() -> AsyncIterator[bytes]:
        yield data[:SEGMENT]
        store._token = "expired"  # Swift answers 401 to it, as to a token past its life
        yield data[SEGMENT:]

    assert (await store.put("renewed", expiring())).size == len(data)
    store._token = "expired"
    assert b"".join([c async for c in store.open("renewed")]) == data
    await store.delete("renewed")


async def test_a_wrong_key_is_a_clear_error(swift_container: str, tmp_path: Path) -> None:
    store = SwiftStore(
        "swift", auth_url=f"{SWIFT_URL}/auth/v1.0", user=SWIFT_USER, key="wrong",
        container=swift_container, prefix="", segment_size=SEGMENT, chunk_size=1024, timeout=10,
    )  # fmt: skip
    with pytest.raises(StoreError, match="was refused by"):
        await store.check()
    await store.close()


@pytest.mark.parametrize(
    ("sizes", "segments"),
    [
        ([], [(0, True)]),
        ([SEGMENT], [(SEGMENT, True)]),
        ([SEGMENT, 1], [(SEGMENT, False), (1, True)]),
        ([25_000] * 8, [(SEGMENT, False), (SEGMENT, True)]),
        ([3 * SEGMENT + 5], [(SEGMENT, False)] * 3 + [(5, True)]),
    ],
)
async def test_a_stream_is_cut_into_whole_segments(
    sizes: list[int], segments: list[tuple[int, bool]]
) -> None:
    data = os.urandom(sum(sizes))

    async def chunks() -> AsyncIterator[bytes]:
        offset = 0
        for size in sizes:
            yield data[offset : offset + size]
            offset += size

    cut = [segment async for segment in _segments(chunks(), SEGMENT)]
    assert [(segment.size, segment.last) for segment in cut] == segments
    assert [segment.number for segment in cut] == list(range(len(cut)))
    assert b"".join(chunk for segment in cut for chunk in segment.chunks) == data


@pytest.fixture(scope="module")
def keystone_v3() -> Iterator[str]:
    with running_asgi("tests.stores.keystone_v3:app", REPOSITORY, "/v3") as url:
        yield f"{url}/v3"


def keystone_store(
    container: str, keystone_v3: str, password: str = "testing", region: str | None = "RegionOne"
) -> SwiftStore:
    return SwiftStore(
        "swift", auth_url=keystone_v3, auth_version="3", user="tester", key=password,
        project="test", region=region, container=container, prefix="keystone/",
        segment_size=SEGMENT, chunk_size=64 * 1024, timeout=10,
    )  # fmt: skip


async def test_keystone_v3_signs_in_and_renews(swift_container: str, keystone_v3: str) -> None:
    store = keystone_store(swift_container, keystone_v3)
    data = os.urandom(2 * SEGMENT + 7)
    await store.check()
    assert store._storage_url.startswith(SWIFT_URL)  # the public endpoint of RegionOne
    assert (await store.put("signed-in", pieces(data))).size == len(data)
    store._token = "expired"  # renewed through Keystone on the 401
    assert b"".join([c async for c in store.open("signed-in")]) == data
    await store.delete("signed-in")
    assert segments_of(swift_container, "signed-in") == []
    await store.close()


@pytest.mark.parametrize(
    ("password", "region", "error"),
    [
        ("wrong", "RegionOne", "was refused by .*/v3/auth/tokens"),
        ("testing", "RegionThree", "no public object-store endpoint in region 'RegionThree'"),
    ],
)
async def test_keystone_v3_errors_are_clear(
    swift_container: str, keystone_v3: str, password: str, region: str, error: str
) -> None:
    store = keystone_store(swift_container, keystone_v3, password, region)
    with pytest.raises(StoreError, match=error):
        await store.check()
    await store.close()


async def test_the_sweep_removes_segments_no_manifest_uses(
    store: SwiftStore, swift_container: str, tmp_path: Path
) -> None:
    """What a process killed mid-upload leaves: segments, and no manifest."""
    data = os.urandom(2 * SEGMENT + 1)
    await store.put("kept", pieces(data))  # a whole large object: its segments stay
    token, storage_url = swift_session()
    async with httpx.AsyncClient(headers={"x-auth-token": token}) as swift:
        for number in range(2):
            name = f"{swift_container}_segments/{tmp_path.name}/ab/crashed/{number:08d}"
            put = await swift.put(f"{storage_url}/{name}", content=b"x" * 1000)
            assert put.status_code == 201
    assert await store.sweep(older_than=3600) == 0  # too recent: maybe still under way
    await anyio.sleep(1.1)
    assert await store.sweep(older_than=0) == 1
    assert segments_of(swift_container, "crashed") == []
    assert len(segments_of(swift_container, "kept")) == 3
    assert b"".join([chunk async for chunk in store.open("kept")]) == data
