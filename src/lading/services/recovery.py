"""Recovery: stuck uploads go back to queued, unreferenced bytes are removed.

Runs at start-up and periodically in every process; each step is a compare-and-set
or idempotent, so several processes may run it at once.
"""

from __future__ import annotations

from datetime import timedelta

from lading.db import artifacts as queries
from lading.db import blobs
from lading.db.engine import Database
from lading.domain import Status
from lading.services.catalogue import Catalogue, now
from lading.settings import Settings
from lading.stores.registry import StoreRegistry


class Recovery:
    """Puts stuck uploads back to queued and removes bytes that nothing references."""

    def __init__(
        self, settings: Settings, database: Database, stores: StoreRegistry, catalogue: Catalogue
    ) -> None:
        self._stuck_after = settings.upload_stuck_after
        self._database = database
        self._stores = stores
        self._catalogue = catalogue

    async def run(self) -> int:
        """One pass; returns how many artifacts and objects it cleaned up."""
        idle_since = now() - timedelta(seconds=self._stuck_after)
        cleaned = 0
        for artifact_id in await self._database.read(queries.stuck_artifacts, idle_since):
            cleaned += await self._database.write(
                queries.set_status,
                artifact_id,
                [Status.SAVING],
                Status.QUEUED,
                idle_since=idle_since,
                updated_at=now(),
            )
        abandoned = await self._database.read(blobs.abandoned, idle_since)
        cleaned += await self._catalogue.discard(abandoned)
        for name in self._stores.names:
            cleaned += await self._stores.get(name).sweep(self._stuck_after)
        return cleaned
