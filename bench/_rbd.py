"""RBD side of bench/transfer.py (``--store rbd``): a scratch prefix, direct librbd clients.

The images go into the pool ``images`` of the single-node Ceph that
``scripts/services.sh start`` runs (one monitor, one OSD on memstore), as its user
``lading``, under a prefix of the run's own, removed at the end. The direct client is
librbd itself through Debian's python3-rbd, doing what lading's store does without the
HTTP and the digests: an image grown as it is written in pieces of the store's object
size, snapshotted, the snapshot protected; read back from the snapshot in the server's
chunk size.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import rados
import rbd

from lading.settings import RbdStoreSettings, Settings

CONFFILE = "/tmp/lading-services/ceph/ceph.conf"
POOL, USER = "images", "lading"
OBJECT_SIZE: int = RbdStoreSettings.model_fields["object_size"].default
READ_CHUNK: int = Settings.model_fields["chunk_size"].default

Upload = Callable[[Path, int], float]  # (file, its size) -> seconds
Download = Callable[[str, int], float]  # (image name, its size) -> seconds


@contextlib.contextmanager
def connected() -> Iterator[Any]:
    cluster = rados.Rados(conffile=CONFFILE, rados_id=USER, conf={"client_mount_timeout": "10"})
    cluster.connect()
    try:
        with cluster.open_ioctx(POOL) as ioctx:
            yield ioctx
    finally:
        cluster.shutdown()


def remove(ioctx: Any, name: str) -> None:
    with rbd.Image(ioctx, name) as image:
        for snapshot in list(image.list_snaps()):
            if image.is_protected_snap(snapshot["name"]):
                image.unprotect_snap(snapshot["name"])
            image.remove_snap(snapshot["name"])
    rbd.RBD().remove(ioctx, name)


@contextlib.contextmanager
def scratch() -> Iterator[str]:
    """A prefix of this run's own; its images are removed on exit."""
    prefix = f"bench-{secrets.token_hex(4)}."
    try:
        yield prefix
    finally:
        with connected() as ioctx:
            for name in rbd.RBD().list(ioctx):
                if name.startswith(prefix):
                    remove(ioctx, name)


def lading_stores(prefix: str) -> str:
    """``LADING_STORES``: the pool as lading's only store, with the store's defaults."""
    store = {"type": "rbd", "conffile": CONFFILE, "user": USER, "prefix": prefix}
    return json.dumps({"default": store})


class DirectClients:
    """The pool straight through librbd, timed; same shape as ``_s3.DirectClients``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.uploads: dict[str, Upload] = {"librbd": self.librbd_put}
        self.downloads: dict[str, Download] = {"librbd": self.librbd_get}

    def keys(self) -> set[str]:
        with connected() as ioctx:
            return {name for name in rbd.RBD().list(ioctx) if name.startswith(self.prefix)}

    def librbd_put(self, path: Path, size: int) -> float:
        name = f"{self.prefix}direct-librbd"
        with connected() as ioctx:
            started = time.perf_counter()
            rbd.RBD().create(ioctx, name, 0, order=OBJECT_SIZE.bit_length() - 1)
            with rbd.Image(ioctx, name) as image, path.open("rb") as file:
                offset, grown = 0, 0
                while piece := file.read(OBJECT_SIZE):
                    if offset + len(piece) > grown:
                        grown = max(offset + len(piece), 2 * grown)
                        image.resize(grown)
                    image.write(piece, offset)
                    offset += len(piece)
                image.resize(offset)
                image.create_snap("snap")
                image.protect_snap("snap")
            seconds = time.perf_counter() - started
            remove(ioctx, name)
        if offset != size:
            raise RuntimeError(f"librbd wrote {offset} bytes, not {size}")
        return seconds

    def librbd_get(self, name: str, size: int) -> float:
        with connected() as ioctx:
            started, got = time.perf_counter(), 0
            with rbd.Image(ioctx, name, snapshot="snap", read_only=True) as image:
                while got < size:
                    got += len(image.read(got, min(READ_CHUNK, size - got)))
            seconds = time.perf_counter() - started
        return seconds
