"""What Glance's ``/v2/info`` endpoints tell beyond the import methods: a project's quota
usage, and the stores in detail (for administrators)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lading.db import artifacts as queries
from lading.db import usage
from lading.db.engine import Database
from lading.errors import NotFound
from lading.services.access import Caller
from lading.settings import (
    FilesystemStoreSettings,
    HttpStoreSettings,
    RbdStoreSettings,
    S3StoreSettings,
    Settings,
    SwiftStoreSettings,
)


@dataclass(frozen=True, slots=True)
class Measure:
    usage: int
    limit: int | None  # None: no limit


@dataclass(frozen=True, slots=True)
class Usage:
    """Glance's four quota resources, for the caller's project."""

    image_size_total: Measure
    image_count_total: Measure
    image_stage_total: Measure
    image_count_uploading: Measure


@dataclass(frozen=True, slots=True)
class StoreDetail:
    id: str
    type: str  # glance_store's name for the kind: file, s3, swift, http
    description: str
    default: bool
    read_only: bool
    properties: dict[str, Any]  # where the store keeps data; never a credential


class Info:
    def __init__(self, settings: Settings, database: Database) -> None:
        self._settings = settings
        self._database = database

    async def usage(self, caller: Caller) -> Usage:
        """The caller's project's usage against its quotas (lading limits the count of a
        project's artifacts, and the bytes of every face's: artifacts, registry blobs,
        index files; staging and uploads under way are counted, unlimited)."""
        caller.require("get_images")
        held = await self._database.read(usage.project_usage, caller.project)  # every face's
        uploading, staged = await self._database.read(queries.uploads_under_way, caller.project)
        limits = self._settings.quota.for_project(caller.project)
        return Usage(
            image_size_total=Measure(held.bytes, limits.bytes),
            image_count_total=Measure(held.artifacts, limits.artifacts),
            image_stage_total=Measure(staged, None),
            image_count_uploading=Measure(uploading, None),
        )

    def stores(self, caller: Caller) -> list[StoreDetail]:
        """Every store with its kind and where it keeps data (Glance's
        ``stores_info_detail``: administrators); with a single store there is none to
        choose, and Glance answers 404, as for ``/v2/info/stores``."""
        caller.require("stores_info_detail")
        if len(self._settings.stores) < 2:
            raise NotFound("this server has a single store")
        details = []
        for name, store in self._settings.stores.items():
            kind, properties = _kind(self._settings, name)
            default = name == self._settings.default_store
            read_only = isinstance(store, HttpStoreSettings)
            details.append(
                StoreDetail(name, kind, store.description, default, read_only, properties)
            )
        return details


def _kind(settings: Settings, name: str) -> tuple[str, dict[str, Any]]:
    store = settings.stores[name]
    if isinstance(store, FilesystemStoreSettings):
        return "file", {"datadir": str(settings.store_path(name))}
    if isinstance(store, S3StoreSettings):
        return "s3", {"bucket": store.bucket, "prefix": store.prefix, "region": store.region,
                      "endpoint_url": store.endpoint_url}  # fmt: skip
    if isinstance(store, SwiftStoreSettings):
        return "swift", {"container": store.container, "prefix": store.prefix}
    if isinstance(store, RbdStoreSettings):  # Glance's: the pool and chunk_size, in bytes
        return "rbd", {"pool": store.pool, "chunk_size": store.object_size}
    return "http", {}
