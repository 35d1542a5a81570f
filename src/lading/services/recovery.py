"""Recovery: stuck uploads go back to queued, staged data nobody imports is dropped,
unreferenced bytes are removed, each store sweeps what crashed writes left (temporary
files, stale multipart uploads, orphaned segments), the data of delayed deletes is
scrubbed once their delay is over, and finished tasks past ``task_time_to_live`` are
forgotten (each event sent to a webhook is one).

Runs at start-up and periodically in every process; each step is a compare-and-set
or idempotent, so several processes may run it at once.

More often (``keep_alive``, every third of ``upload_heartbeat``), each process beats as a
holder and takes back what dead holders held: their uploads back to queued, their
pending blobs' bytes removed. A holder is dead when it has not beaten for
``upload_heartbeat`` or, on this host, when its process no longer runs; a restarted
server so recovers its predecessor's uploads in its first pass, in seconds. A server that
stops cleanly withdraws as a holder: others need not wait for its silence.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import blobs, holders, oci, tasks, tus, uploads
from lading.db.engine import Database
from lading.errors import StoreError
from lading.processes import ThisProcess
from lading.services.catalogue import Catalogue
from lading.services.resumable import Resumable
from lading.settings import Settings
from lading.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


class Recovery:
    """Puts stuck uploads back to queued and removes bytes that nothing references."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        catalogue: Catalogue,
        this_process: ThisProcess,
        clock: Clock | None = None,
        resumable: Resumable | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._resumable = resumable
        self._stuck_after = settings.upload_stuck_after
        self._heartbeat = settings.upload_heartbeat
        self._this_process = this_process
        self._staging_ttl = settings.staging_ttl
        self._scrub_delay = settings.scrub_delay
        self._database = database
        self._stores = stores
        self._catalogue = catalogue

    @property
    def beat_interval(self) -> float:
        """Seconds between two beats: a third of the heartbeat, so that two may be lost
        (a busy database, a slow pass) before others take the process for dead."""
        return self._heartbeat / 3

    async def keep_alive(self) -> int:
        """Beat, then take back what dead holders held; returns how many uploads and
        objects that cleaned up."""
        me = self._this_process.holder

        def reap(connection: Connection) -> tuple[int, list[blobs.Blob]]:
            moment = self._clock.now()
            holders.beat(connection, me, moment)
            gone: list[str] = []
            if me.host is not None:
                gone = [
                    holder.id
                    for holder in holders.on_host(connection, me.host)
                    if self._this_process.outlived(holder)
                ]
            beaten_since = moment - timedelta(seconds=self._heartbeat)
            recovered = uploads.recover_dead(connection, beaten_since, gone)
            # A resumable upload's PATCH cut by its process's death: the upload goes on.
            recovered += tus.release_dead(connection, beaten_since, gone)
            doomed = blobs.doom_dead(connection, beaten_since, gone)
            holders.forget(connection, beaten_since, gone)
            return recovered, doomed

        recovered, doomed = await self._database.write(reap)
        if recovered:
            log.warning("%d upload(s) or stage(s) of dead processes: back to queued", recovered)
        for blob in doomed:
            try:
                await self._stores.get(blob.store).delete_partial(blob.key)
            except StoreError as exc:  # the sweep removes it later
                log.warning("store %s kept what %s was being written with: %s",
                            blob.store, blob.key, exc)  # fmt: skip
        return recovered + await self._catalogue.discard(doomed)

    async def withdraw(self) -> None:
        """This process stops serving: it no longer beats, and others need not wait a
        heartbeat to count it stopped."""
        await self._database.write(holders.withdraw, self._this_process.holder.id)

    async def run(self) -> int:
        """One pass; returns how many uploads and objects it cleaned up."""
        cleaned = await self.keep_alive()
        stuck = await self._database.write(uploads.expire, self._clock.now())
        if stuck:
            log.warning("%d upload(s) or stage(s) stopped receiving: back to queued", stuck)
        cleaned += stuck
        staged_before = self._clock.now() - timedelta(seconds=self._staging_ttl)
        for artifact_id in await self._database.write(
            uploads.expire_stages, staged_before, self._clock.now()
        ):
            log.warning("%s: staged data waited %s s for an import; dropped, back to queued",
                        artifact_id, self._staging_ttl)  # fmt: skip
            cleaned += 1
        idle_since = self._clock.now() - timedelta(seconds=self._stuck_after)
        # The registry's chunked uploads nobody went on with, and their chunks.
        cleaned += await self._catalogue.discard(
            await self._database.write(oci.expire_uploads, idle_since)
        )
        if self._resumable is not None:  # resumable uploads past uploads.expire_after
            cleaned += await self._resumable.sweep()
        abandoned = await self._database.read(blobs.abandoned, idle_since)
        cleaned += await self._catalogue.discard(abandoned)
        for store in self._stores.all():
            try:
                cleaned += await store.sweep(self._stuck_after)
            except StoreError as exc:  # the next pass tries again
                log.warning("store %s could not sweep: %s", store.name, exc)
        cleaned += await self._catalogue.scrub(self._scrub_delay)
        await self._database.write(tasks.forget_expired, self._clock.now())
        return cleaned
