"""The image cache's disk: LRU eviction within max_size, one fill per image across
processes, atomic appearance, and what a crash leaves swept at start-up."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest

from lading.cache_directory import INCOMPLETE, CacheDirectory, Fill

V1, V2 = "aa" * 16, "bb" * 16


def new_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def directory(tmp_path: Path) -> CacheDirectory:
    cache = CacheDirectory(tmp_path / "cache", max_size=100)
    cache.open()
    return cache


def fill(cache: CacheDirectory, image_id: str, size: int, version: str = V1) -> list[str]:
    started = cache.start_fill(image_id, version, size)
    assert started is not None
    started.write(b"x" * size)
    evicted = cache.commit(started)
    assert evicted is not None
    return evicted


def test_a_committed_fill_is_found_and_counts_its_hits(directory: CacheDirectory) -> None:
    image = new_id()
    assert directory.find(image, V1) is None
    fill(directory, image, 10)
    first, second = directory.find(image, V1), directory.find(image, V1)
    assert first is not None and second is not None
    assert (first.hits, second.hits, second.size) == (1, 2, 10)
    assert (directory.data / second.file_name).read_bytes() == b"x" * 10
    assert [cached.image_id for cached in directory.cached()] == [image]
    assert directory.size() == 10


def test_the_least_recently_used_go_first_and_the_size_stays_bound(
    directory: CacheDirectory,
) -> None:
    old, used, new = new_id(), new_id(), new_id()
    fill(directory, old, 40)
    fill(directory, used, 40)
    assert directory.find(old, V1) is not None  # old is now the most recently used
    assert fill(directory, new, 40) == [used]
    assert {image.image_id for image in directory.cached()} == {old, new}
    assert directory.size() == 80 <= directory.max_size
    assert sorted(path.name.partition(".")[0] for path in directory.data.iterdir()) == sorted(
        [old, new]
    )
    # An image larger than the whole cache is never started: nothing is evicted for it.
    assert directory.start_fill(new_id(), V1, 101) is None
    assert directory.size() == 80


def test_other_bytes_of_an_image_are_not_served_and_are_dropped(
    directory: CacheDirectory,
) -> None:
    image = new_id()
    fill(directory, image, 10, V1)
    assert directory.find(image, V2) is None
    assert directory.cached() == [] and list(directory.data.iterdir()) == []


def test_one_fill_per_image_at_a_time(directory: CacheDirectory) -> None:
    image = new_id()
    first = directory.start_fill(image, V1, 5)
    assert first is not None
    assert directory.start_fill(image, V1, 5) is None  # held: the second serves from the store
    first.write(b"12345")
    directory.commit(first)
    assert directory.start_fill(image, V1, 5) is None  # cached already
    assert not (directory.root / INCOMPLETE / image).exists()


def test_concurrent_first_fills_write_once(directory: CacheDirectory) -> None:
    image = new_id()
    barrier = threading.Barrier(8)
    started: list[Fill] = []

    def race() -> None:
        barrier.wait()
        found = directory.start_fill(image, V1, 3)
        if found is not None:
            started.append(found)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(started) == 1
    started[0].write(b"abc")
    directory.commit(started[0])
    found = directory.find(image, V1)
    assert found is not None and (directory.data / found.file_name).read_bytes() == b"abc"


def test_an_aborted_fill_leaves_nothing_and_frees_the_image(directory: CacheDirectory) -> None:
    image = new_id()
    aborted = directory.start_fill(image, V1, 5)
    assert aborted is not None
    aborted.write(b"12")
    directory.abort(aborted)
    assert list((directory.root / INCOMPLETE).iterdir()) == []
    assert directory.cached() == []
    again = directory.start_fill(image, V1, 5)
    assert again is not None
    directory.abort(again)


def test_what_a_crash_left_is_swept_at_open(tmp_path: Path) -> None:
    cache = CacheDirectory(tmp_path / "cache", max_size=100)
    cache.open()
    kept, image = new_id(), new_id()
    fill(cache, kept, 4)
    (cache.root / INCOMPLETE / image).write_bytes(b"half")  # a filler that died
    (cache.data / f"{image}.{V1}").write_bytes(b"renamed, never recorded")
    found = cache.find(kept, V1)
    assert found is not None
    gone = new_id()
    fill(cache, gone, 4)
    (cache.data / f"{gone}.{V1}").unlink()  # recorded, its file lost

    reopened = CacheDirectory(tmp_path / "cache", max_size=100)
    reopened.open()
    assert list((cache.root / INCOMPLETE).iterdir()) == []
    assert [image.image_id for image in reopened.cached()] == [kept]
    assert [path.name for path in reopened.data.iterdir()] == [found.file_name]
    assert reopened.start_fill(image, V1, 4) is not None  # the dead filler's lock is gone


def test_a_fill_held_by_another_process_is_left_alone(directory: CacheDirectory) -> None:
    image = new_id()
    holding = directory.start_fill(image, V1, 4)
    assert holding is not None
    child = os.fork()
    if child == 0:  # another server process of the node
        os._exit(0 if directory.start_fill(image, V1, 4) is None else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    directory.open()  # a process starting meanwhile sweeps only what nobody holds
    assert (directory.root / INCOMPLETE / image).exists()
    directory.abort(holding)


def test_the_queue_is_bounded_and_claimed_once_in_order(directory: CacheDirectory) -> None:
    first, second, third = new_id(), new_id(), new_id()
    assert directory.queue(first, limit=2) and directory.queue(second, limit=2)
    assert directory.queue(first, limit=2)  # already there: no second entry
    assert not directory.queue(third, limit=2)
    assert directory.queued() == [first, second]
    assert directory.claim() == first
    assert directory.dequeue(second) and directory.claim() is None
    directory.queue(third, limit=2)
    assert directory.clear_queue() == 1 and directory.queued() == []


def test_names_that_are_not_image_ids_are_refused(directory: CacheDirectory) -> None:
    with pytest.raises(ValueError):
        directory.start_fill("../../etc/passwd", V1, 1)
    with pytest.raises(ValueError):
        directory.start_fill(new_id(), "../x", 1)
    with pytest.raises(ValueError):
        directory.queue("not-an-id", 10)


def test_removing_an_image_while_it_fills_keeps_nothing(directory: CacheDirectory) -> None:
    image, other = new_id(), new_id()
    removed = directory.start_fill(image, V1, 3)
    cleared = directory.start_fill(other, V1, 3)
    assert removed is not None and cleared is not None
    removed.write(b"abc")
    cleared.write(b"abc")
    directory.remove(image)  # DELETE /v2/cache/{image_id} meanwhile
    again = directory.start_fill(image, V1, 3)  # a new fill may start: it is another file
    assert again is not None
    again.write(b"xyz")
    assert directory.commit(removed) is None
    assert directory.find(image, V1) is None
    directory.clear()  # DELETE /v2/cache: the fills under way go too
    assert directory.commit(again) is None and directory.commit(cleared) is None
    assert directory.cached() == [] and list(directory.data.iterdir()) == []
    assert list((directory.root / INCOMPLETE).iterdir()) == []


@pytest.mark.parametrize(("block", "most"), [(64 * 1024, 2 * 64 * 1024), (0, 16 * 2**20)])
def test_a_cached_image_keeps_its_holes_unless_told(tmp_path: Path, block: int, most: int) -> None:
    cache = CacheDirectory(tmp_path / "cache", max_size=2**30, sparse_block_size=block)
    cache.open()
    image, data = new_id(), b"x" + bytes(8 * 2**20 - 2) + b"y"
    started = cache.start_fill(image, V1, len(data))
    assert started is not None
    for offset in range(0, len(data), 100_000):
        started.write(data[offset : offset + 100_000])
    assert cache.commit(started) == []
    cached = cache.find(image, V1)
    assert cached is not None
    path = cache.data / cached.file_name
    assert path.read_bytes() == data
    assert path.stat().st_blocks * 512 <= most
    assert block or path.stat().st_blocks * 512 >= len(data)
