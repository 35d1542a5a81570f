"""Recovery: stuck uploads go back to queued, staged data nobody imports is dropped,
unreferenced bytes are removed, each store sweeps what crashed writes left (temporary
files, stale multipart uploads, orphaned segments), the data of delayed deletes is
scrubbed once their delay is over, and finished tasks past ``task_time_to_live`` are
forgotten (each event sent to a webhook is one).

Runs at start-up and periodically in every process; each step is a compare-and-set
or idempotent, so several processes may run it at once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from lading.db import blobs, tasks, uploads
from lading.db.engine import Database
from lading.errors import StoreError
from lading.services.catalogue import Catalogue, now
from lading.settings import Settings
from lading.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


class Recovery:
    """Puts stuck uploads back to queued and removes bytes that nothing references."""

    def __init__(
        self, settings: Settings, database: Database, stores: StoreRegistry, catalogue: Catalogue
    ) -> None:
        self._stuck_after = settings.upload_stuck_after
        self._staging_ttl = settings.staging_ttl
        self._scrub_delay = settings.scrub_delay
        self._database = database
        self._stores = stores
        self._catalogue = catalogue

    async def run(self) -> int:
        """One pass; returns how many uploads and objects it cleaned up."""
        cleaned = await self._database.write(uploads.expire, now())
        if cleaned:
            log.warning("%d upload(s) or stage(s) stopped receiving: back to queued", cleaned)
        staged_before = now() - timedelta(seconds=self._staging_ttl)
        for artifact_id in await self._database.write(uploads.expire_stages, staged_before, now()):
            log.warning("%s: staged data waited %s s for an import; dropped, back to queued",
                        artifact_id, self._staging_ttl)  # fmt: skip
            cleaned += 1
        idle_since = now() - timedelta(seconds=self._stuck_after)
        abandoned = await self._database.read(blobs.abandoned, idle_since)
        cleaned += await self._catalogue.discard(abandoned)
        for store in self._stores.all():
            try:
                cleaned += await store.sweep(self._stuck_after)
            except StoreError as exc:  # the next pass tries again
                log.warning("store %s could not sweep: %s", store.name, exc)
        cleaned += await self._catalogue.scrub(self._scrub_delay)
        await self._database.write(tasks.forget_expired, now())
        return cleaned
