"""What only the rbd store does: Glance's layout (a protected snapshot, rbd:// locations),
images grown as they are written, clones that keep an image, partial images swept."""

from __future__ import annotations

import base64
import importlib
import os
import struct
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import ValidationError

from lading.errors import BadRequest, InvalidKey, ObjectInUse, ObjectNotFound, StoreError
from lading.settings import RbdStoreSettings
from lading.stores.rbd import PARTIAL, SNAPSHOT, RbdStore
from tests.ceph_server import CephPool

pytestmark = pytest.mark.anyio
MiB = 1024 * 1024


def make(settings: RbdStoreSettings) -> RbdStore:
    return RbdStore("rbd", chunk_size=64 * 1024, **settings.model_dump(exclude={"type"}))


@pytest.fixture
async def store(ceph_pool: CephPool, tmp_path: Path) -> AsyncIterator[RbdStore]:
    store = make(ceph_pool.settings(tmp_path.name))
    await store.check()
    yield store
    await store.close()


@pytest.fixture
def rbd() -> Any:
    return importlib.import_module("rbd")


async def pieces(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]


def mine(ceph_pool: CephPool, tmp_path: Path) -> list[str]:
    """The images of this test in the pool."""
    return [
        name
        for name in ceph_pool.images()
        if name.startswith(f"{ceph_pool.prefix}{tmp_path.name}.")
    ]


async def test_an_image_with_a_protected_snapshot_at_a_glance_location(
    store: RbdStore, ceph_pool: CephPool, tmp_path: Path, rbd: Any
) -> None:
    # 3.5 objects of 1 MiB, written an object at a time: the image grows as they come
    data = os.urandom(3 * MiB + MiB // 2)
    assert (await store.put("ab/cdef", pieces(data))).size == len(data)
    name = f"{ceph_pool.prefix}{tmp_path.name}.ab.cdef"
    assert mine(ceph_pool, tmp_path) == [name]  # no partial image left
    with ceph_pool.ioctx() as ioctx, rbd.Image(ioctx, name, read_only=True) as image:
        assert image.size() == len(data)  # cut to its bytes after growing
        assert [snapshot["name"] for snapshot in image.list_snaps()] == [SNAPSHOT]
        assert image.is_protected_snap(SNAPSHOT)
        assert image.features() & rbd.RBD_FEATURE_LAYERING  # clones need it
        assert image.stat()["obj_size"] == MiB
    # Where Nova and Cinder clone from: the cluster's fsid, the pool, the image, the snapshot
    url = store.location_url("ab/cdef")
    assert url == f"rbd://{ceph_pool.fsid()}/{ceph_pool.pool}/{name}/snap"
    chunks = [chunk async for chunk in store.open("ab/cdef", MiB - 3, 2 * MiB + 3)]
    assert b"".join(chunks) == data[MiB - 3 : 2 * MiB + 3]
    assert max(len(chunk) for chunk in chunks) <= 64 * 1024  # the server's chunk size
    assert (
        b"".join([chunk async for chunk in store.open("ab/cdef", len(data) - 1, None)])
        == (data[-1:])
    )
    assert [chunk async for chunk in store.open("ab/cdef", len(data), None)] == []


async def test_a_clone_of_the_snapshot_keeps_the_image(
    store: RbdStore, ceph_pool: CephPool, tmp_path: Path, rbd: Any
) -> None:
    data = os.urandom(300_000)
    await store.put("cloned", pieces(data))
    assert not await store.in_use("cloned")
    name, clone = (
        f"{ceph_pool.prefix}{tmp_path.name}.cloned",
        f"{ceph_pool.prefix}{tmp_path.name}-vm",
    )
    with ceph_pool.ioctx() as ioctx:  # as Nova does when it boots from the image
        rbd.RBD().clone(ioctx, name, SNAPSHOT, ioctx, clone, features=rbd.RBD_FEATURE_LAYERING)
    assert await store.in_use("cloned")
    with pytest.raises(ObjectInUse):
        await store.delete("cloned")
    # Kept whole, snapshot protected, readable
    assert b"".join([chunk async for chunk in store.open("cloned")]) == data
    with ceph_pool.ioctx() as ioctx, rbd.Image(ioctx, name, read_only=True) as image:
        assert image.is_protected_snap(SNAPSHOT)
    with ceph_pool.ioctx() as ioctx:
        rbd.RBD().remove(ioctx, clone)
    assert not await store.in_use("cloned")
    await store.delete("cloned")
    with pytest.raises(ObjectNotFound):
        await store.stat("cloned")
    assert mine(ceph_pool, tmp_path) == []


async def test_a_failed_put_removes_its_partial_image(
    store: RbdStore, ceph_pool: CephPool, tmp_path: Path
) -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(2 * MiB + 5)  # written, the image grown
        raise RuntimeError("client went away")

    with pytest.raises(RuntimeError):
        await store.put("broken", failing())
    assert mine(ceph_pool, tmp_path) == []


async def test_partial_images_left_by_a_crash_are_found(
    store: RbdStore, ceph_pool: CephPool, tmp_path: Path, rbd: Any
) -> None:
    base = f"{ceph_pool.prefix}{tmp_path.name}"
    with ceph_pool.ioctx() as ioctx:  # as a process killed mid-write leaves them
        for name in ("ab.one", "ab.two", "ab.three"):
            rbd.RBD().create(ioctx, f"{base}.{name}{PARTIAL}0123456789abcdef", MiB)
    await store.put("ab/one", pieces(b"kept"))
    await store.delete_partial("ab/one")
    assert sorted(mine(ceph_pool, tmp_path)) == [
        f"{base}.ab.one",
        *sorted(f"{base}.ab.{n}{PARTIAL}0123456789abcdef" for n in ("three", "two")),
    ]
    assert await store.sweep(older_than=3600) == 0  # perhaps still being written
    await anyio.sleep(1.1)  # creation times are in whole seconds
    assert await store.sweep(older_than=1) == 2
    assert mine(ceph_pool, tmp_path) == [f"{base}.ab.one"]


@pytest.mark.parametrize("key", ["a.b", "../etc", "", "a//b", "a/", "x~part~y", "é", "a@.."])
async def test_keys_that_would_not_be_names_are_refused(store: RbdStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        await store.put(key, pieces(b"data"))
    with pytest.raises(InvalidKey):
        store.location_url(key)


async def test_a_located_snapshots_key_is_never_written(store: RbdStore) -> None:
    # image@snapshot: read where a location said, never a name a put makes
    with pytest.raises(InvalidKey):
        await store.put("a@snap", pieces(b"data"))
    assert store.location_url("a@snap").endswith("/images/a/snap")


async def test_a_snapshot_nova_made_is_read_at_its_location(
    store: RbdStore, ceph_pool: CephPool, tmp_path: Path, rbd: Any
) -> None:
    data = os.urandom(2 * MiB + 777)
    name = f"{ceph_pool.prefix}{tmp_path.name}-nova-snapshot"
    url = ceph_pool.snapshot(name, data)
    key = await store.key_at(url)
    assert key == f"{name}@snap"
    assert store.location_url(key) == url  # shown as it was given
    assert (await store.stat(key)).size == len(data)
    assert b"".join([chunk async for chunk in store.open(key)]) == data
    part = b"".join([chunk async for chunk in store.open(key, MiB - 5, MiB + 70_000)])
    assert part == data[MiB - 5 : MiB + 70_000]
    # Cloned (an instance booted from it): kept, as the store's own images are
    clone = f"{ceph_pool.prefix}{tmp_path.name}-vm"
    with ceph_pool.ioctx() as ioctx:
        rbd.RBD().clone(ioctx, name, SNAPSHOT, ioctx, clone, features=rbd.RBD_FEATURE_LAYERING)
    assert await store.in_use(key)
    with pytest.raises(ObjectInUse):
        await store.delete(key)
    with ceph_pool.ioctx() as ioctx:
        rbd.RBD().remove(ioctx, clone)
    assert not await store.in_use(key)
    await store.delete(key)  # Glance owns it once located: gone, as its driver deletes it
    assert name not in ceph_pool.images()
    await store.delete(key)  # nothing left to do


async def test_a_located_snapshot_goes_alone_when_its_image_has_others(
    store: RbdStore, ceph_pool: CephPool, tmp_path: Path, rbd: Any
) -> None:
    name = f"{ceph_pool.prefix}{tmp_path.name}-volume"
    url = ceph_pool.snapshot(name, b"x" * 4096, "upload")
    with ceph_pool.ioctx() as ioctx, rbd.Image(ioctx, name) as image:
        image.create_snap("backup")  # somebody else's
    key = await store.key_at(url)
    assert key == f"{name}@upload"
    with pytest.raises(ObjectNotFound):  # no such snapshot: nothing to read
        await store.stat(f"{name}@missing")
    await store.delete(key)
    with ceph_pool.ioctx() as ioctx, rbd.Image(ioctx, name, read_only=True) as image:
        assert [snapshot["name"] for snapshot in image.list_snaps()] == ["backup"]


async def test_a_location_of_the_stores_own_image_is_its_key(
    store: RbdStore, ceph_pool: CephPool
) -> None:
    await store.put("ab/own", pieces(b"own data"))
    url = store.location_url("ab/own")
    assert await store.key_at(url) == "ab/own"  # one image, one key: counted once
    other = url.removesuffix("/snap") + "/other"  # another snapshot of it is not the object
    assert await store.key_at(other) == url.split("/")[-2] + "@other"


async def test_locations_of_another_cluster_or_pool_are_not_the_stores(
    store: RbdStore, ceph_pool: CephPool
) -> None:
    fsid = ceph_pool.fsid()
    assert await store.key_at(f"rbd://{fsid}/{ceph_pool.pool}/image/snap") == "image@snap"
    assert await store.key_at(f"rbd://{fsid.upper()}/{ceph_pool.pool}/image/snap") is not None
    assert await store.key_at(f"rbd://{uuid.uuid4()}/{ceph_pool.pool}/image/snap") is None
    assert await store.key_at(f"rbd://{fsid}/volumes/image/snap") is None
    for url in (
        "rbd://../images/image/snap", "http://x/images/image/snap", "rbd:///images/i/s",
        f"rbd://{fsid}/{'p' * 1000}/image/snap",  # too long to be a location, or echoed
    ):  # fmt: skip
        with pytest.raises(BadRequest):
            await store.key_at(url)


@pytest.mark.parametrize(
    "path",
    [
        "image", "images/image/snap/more", "images//snap", "images/image/",
        "images/../snap", "images/..%2F..%2Fvolumes%2Fx/snap", "images/a%2Fb/snap",
        "images/a@b/snap", "images/image/s@p", "images/x~part~0123/snap", "images/.hidden/snap",
        "images/%C3%A9/snap", "images/%FF/snap", "images/a%00b/snap", "images/a b/snap",
        "images/image/snap?x=1", "images/" + "a" * 129 + "/snap",
    ],
)  # fmt: skip
async def test_hostile_locations_are_refused(
    store: RbdStore, ceph_pool: CephPool, path: str
) -> None:
    with pytest.raises(BadRequest):
        await store.key_at(f"rbd://{ceph_pool.fsid()}/{path}")


async def test_an_unreachable_cluster_fails_in_its_timeout(tmp_path: Path) -> None:
    conffile = tmp_path / "ceph.conf"  # a monitor nobody answers for
    conffile.write_text("[global]\nmon host = v2:127.0.0.1:9\nauth client required = none\n")
    store = make(RbdStoreSettings(type="rbd", conffile=conffile, timeout=1))
    started = time.monotonic()
    with pytest.raises(StoreError, match="failed"):
        await store.check()
    assert time.monotonic() - started < 10
    assert store.location_url("ab/c") == "rbd:///images/ab.c/snap"  # no fsid known
    await store.close()


async def test_a_wrong_key_is_a_store_error(ceph_pool: CephPool, tmp_path: Path) -> None:
    # A cephx key as ceph-authtool writes it (AES, a creation time, 16 bytes), not lading's
    wrong = struct.pack("<HIIH", 1, 0, 0, 16) + os.urandom(16)
    keyring = tmp_path / "keyring"
    keyring.write_text(f"[client.{ceph_pool.user}]\n\tkey = {base64.b64encode(wrong).decode()}\n")
    settings = ceph_pool.settings(tmp_path.name).model_copy(update={"keyring": keyring})
    store = make(settings)
    with pytest.raises(StoreError):
        await store.check()
    await store.close()


@pytest.mark.parametrize("size", [3 * MiB, 512 * 1024, 64 * MiB])
def test_object_sizes_are_powers_of_two_from_1_to_32_mib(size: int) -> None:
    with pytest.raises(ValidationError):
        RbdStoreSettings(type="rbd", object_size=size)


async def test_a_download_given_up_midway_lets_the_image_go(store: RbdStore) -> None:
    data = os.urandom(2 * MiB)
    await store.put("abandoned", pieces(data))
    reading = store.open("abandoned")
    assert await anext(reading) == data[: 64 * 1024]  # pieces read ahead meanwhile
    await reading.aclose()  # the client went away
    await store.delete("abandoned")
    with pytest.raises(ObjectNotFound):
        await store.stat("abandoned")
