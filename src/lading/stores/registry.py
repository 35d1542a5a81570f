"""The named stores of a process, built from settings.

A driver's module is imported only when a store of its kind is configured: a server on a
filesystem store never loads an HTTP client, botocore, obstore or librados.
"""

from __future__ import annotations

from lading.errors import BadRequest
from lading.settings import (
    FilesystemStoreSettings,
    HttpStoreSettings,
    RbdStoreSettings,
    S3StoreSettings,
    Settings,
    SwiftStoreSettings,
)
from lading.stores.base import Store
from lading.stores.filesystem import FilesystemStore


class StoreRegistry:
    """Looks stores up by the names given in settings; one of them is the default."""

    def __init__(self, stores: dict[str, Store], default: str) -> None:
        self._stores = stores
        self.default = default

    @classmethod
    def from_settings(cls, settings: Settings) -> StoreRegistry:
        stores: dict[str, Store] = {}
        for name, config in settings.stores.items():
            # Object-store constructors take their settings' fields by the same names.
            fields = config.model_dump(exclude={"type"})
            match config:
                case FilesystemStoreSettings():
                    stores[name] = FilesystemStore(
                        name,
                        settings.store_path(name),
                        settings.chunk_size,
                        config.description,
                        sparse_block_size=config.sparse_block_size if config.sparse else 0,
                        accel_redirect=config.accel_redirect,
                        read_size=settings.read_size,
                    )
                case S3StoreSettings():
                    from lading.stores.s3 import S3Store  # botocore and obstore

                    stores[name] = S3Store(name, chunk_size=settings.chunk_size, **fields)
                case SwiftStoreSettings():
                    from lading.stores.swift import SwiftStore  # httpx

                    stores[name] = SwiftStore(name, chunk_size=settings.chunk_size, **fields)
                case RbdStoreSettings():
                    from lading.stores.rbd import RbdStore  # librados, once connected

                    stores[name] = RbdStore(name, chunk_size=settings.chunk_size, **fields)
                case HttpStoreSettings():
                    from lading.stores.http import HttpStore  # httpx
                    from lading.url_rules import UrlRules, guarded_client

                    # Callers choose the URLs read here: the fetch rules guard them.
                    client = guarded_client(
                        UrlRules(settings.fetch), config.timeout, follow_redirects=True
                    )
                    stores[name] = HttpStore(name, settings.chunk_size, client, config.description)
        return cls(stores, settings.default_store)

    @property
    def several(self) -> bool:
        """Whether clients choose among stores to write to (Glance's multi-store)."""
        return len(self.writable()) > 1

    def all(self) -> list[Store]:
        return list(self._stores.values())

    def writable(self) -> list[Store]:
        """The stores uploads may go to: all but those reading external locations."""
        return [store for store in self._stores.values() if not store.read_only]

    def external(self) -> Store:
        """The store that reads external http(s) locations."""
        for store in self._stores.values():
            if store.read_only:
                return store
        raise BadRequest(
            "this lading registers no external locations: it has no store of type http"
        )

    def get(self, name: str | None = None) -> Store:
        """The store called ``name``, or the default one."""
        try:
            return self._stores[self.default if name is None else name]
        except KeyError:
            raise BadRequest(f"unknown store {name!r}") from None

    async def check(self) -> None:
        """Reach every store once, so that wrong settings fail at start-up, clearly."""
        for store in self._stores.values():
            await store.check()

    async def close(self) -> None:
        for store in self._stores.values():
            await store.close()
