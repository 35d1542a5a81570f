"""The Ceph cluster the rbd store's tests run against (scripts/services.sh): its pool
``images`` and its user ``lading``, reached through Debian's python3-rados/python3-rbd."""

from __future__ import annotations

import contextlib
import importlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lading.settings import RbdStoreSettings
from tests.services_required import unavailable

CEPH_CONF = Path(os.environ.get("LADING_TEST_CEPH_CONF", "/tmp/lading-services/ceph/ceph.conf"))
CEPH_POOL, CEPH_USER = "images", "lading"
QUICK = {"client_mount_timeout": "10"}  # a cluster that is down: fail in 10 s, not 300


@dataclass(frozen=True)
class CephPool:
    """The pool, with a prefix of this test session's own for every image name."""

    conffile: Path
    pool: str
    user: str
    prefix: str

    def settings(self, prefix: str, object_size: int = 1024 * 1024) -> RbdStoreSettings:
        """Store settings for a test's own images, under ``prefix`` in the session's."""
        return RbdStoreSettings(
            type="rbd", pool=self.pool, conffile=self.conffile, user=self.user,
            prefix=f"{self.prefix}{prefix}.", object_size=object_size, timeout=10,
        )  # fmt: skip

    @contextlib.contextmanager
    def ioctx(self) -> Iterator[Any]:
        """A connection of the test's own, to look at or change images behind the store."""
        rados = importlib.import_module("rados")
        cluster = rados.Rados(conffile=str(self.conffile), rados_id=self.user, conf=QUICK)
        cluster.connect(timeout=10)
        try:
            with cluster.open_ioctx(self.pool) as ioctx:
                yield ioctx
        finally:
            cluster.shutdown()

    def fsid(self) -> str:
        rados = importlib.import_module("rados")
        cluster = rados.Rados(conffile=str(self.conffile), rados_id=self.user, conf=QUICK)
        cluster.connect(timeout=10)
        try:
            return str(cluster.get_fsid())
        finally:
            cluster.shutdown()

    def snapshot(self, name: str, data: bytes, snapshot: str = "snap") -> str:
        """An image of ``data`` with a protected snapshot, made behind the store as Nova's
        direct snapshot and Cinder's upload make them in Glance's pool; its location."""
        rbd = importlib.import_module("rbd")
        with self.ioctx() as ioctx:
            rbd.RBD().create(ioctx, name, len(data), old_format=False,
                             features=rbd.RBD_FEATURE_LAYERING)  # fmt: skip
            with rbd.Image(ioctx, name) as image:
                image.write(data, 0)
                image.create_snap(snapshot)
                image.protect_snap(snapshot)
        return f"rbd://{self.fsid()}/{self.pool}/{name}/{snapshot}"

    def images(self) -> list[str]:
        """This session's images in the pool."""
        rbd = importlib.import_module("rbd")
        with self.ioctx() as ioctx:
            return [name for name in rbd.RBD().list(ioctx) if name.startswith(self.prefix)]


def session_pool() -> Iterator[CephPool]:
    """The pool, checked reachable; this session's images are removed afterwards."""
    try:
        rbd = importlib.import_module("rbd")
        importlib.import_module("rados")
    except ImportError:
        unavailable(
            "librados' Python bindings are not in the venv",
            "apt-get install python3-rados python3-rbd, then make services",
        )
    if not CEPH_CONF.exists():
        unavailable(f"no Ceph configuration at {CEPH_CONF}")
    pool = CephPool(CEPH_CONF, CEPH_POOL, CEPH_USER, f"t{uuid.uuid4().hex[:8]}-")
    try:
        pool.images()
    except Exception as exc:  # librados' errors have no common base with ImportError's
        unavailable(f"Ceph is not reachable through {CEPH_CONF}: {exc}")
    yield pool
    with pool.ioctx() as ioctx:
        for name in pool.images():
            with contextlib.suppress(Exception), rbd.Image(ioctx, name) as image:
                for snapshot in list(image.list_snaps()):
                    if image.is_protected_snap(snapshot["name"]):
                        image.unprotect_snap(snapshot["name"])
                    image.remove_snap(snapshot["name"])
            with contextlib.suppress(Exception):
                rbd.RBD().remove(ioctx, name)


def rbd_store(request: Any, prefix: str) -> RbdStoreSettings:
    """Store settings for a test's own images (``request``: pytest's FixtureRequest)."""
    pool: CephPool = request.getfixturevalue("ceph_pool")
    return pool.settings(prefix)
