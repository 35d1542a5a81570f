"""Recovery: stuck uploads go back to queued, unreferenced bytes are removed, and the
data of delayed deletes is scrubbed once their delay is over.

Runs at start-up and periodically in every process; each step is a compare-and-set
or idempotent, so several processes may run it at once.
"""

from __future__ import annotations

from datetime import timedelta

from lading.db import blobs, uploads
from lading.db.engine import Database
from lading.services.catalogue import Catalogue, now
from lading.settings import Settings
from lading.stores.registry import StoreRegistry


class Recovery:
    """Puts stuck uploads back to queued and removes bytes that nothing references."""

    def __init__(
        self, settings: Settings, database: Database, stores: StoreRegistry, catalogue: Catalogue
    ) -> None:
        self._stuck_after = settings.upload_stuck_after
        self._scrub_delay = settings.scrub_delay
        self._database = database
        self._stores = stores
        self._catalogue = catalogue

    async def run(self) -> int:
        """One pass; returns how many uploads and objects it cleaned up."""
        cleaned = await self._database.write(uploads.expire, now())
        idle_since = now() - timedelta(seconds=self._stuck_after)
        abandoned = await self._database.read(blobs.abandoned, idle_since)
        cleaned += await self._catalogue.discard(abandoned)
        for store in self._stores.all():
            cleaned += await store.sweep(self._stuck_after)
        cleaned += await self._catalogue.scrub(self._scrub_delay)
        return cleaned
