"""When each artifact's data was last served, for retention (its "downloaded within D
days" rule and its in-use guard), written without costing a download anything.

A download only notes the artifact in this process's memory (a dict, no I/O), and only
when this process has not noted it in the last ``interval`` seconds. A background loop
writes what was noted every ``FLUSH_EVERY`` seconds in one transaction: one statement
for every artifact noted, never on a request's path. Each row is written unless the
catalogue holds a download younger than ``interval`` already (another process wrote it),
so however many processes serve an artifact, it is written about once per ``interval``
between them. The catalogue's figure may thus lag the true last download by up to
``interval`` plus ``FLUSH_EVERY`` seconds, well under retention's day-sized rules; a
process that dies loses at most its last ``FLUSH_EVERY`` seconds of notes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from lading.clock import Clock
from lading.db import retention as queries
from lading.db.engine import Database

FLUSH_EVERY = 10.0  # seconds between writes of what was noted


class DownloadLedger:
    def __init__(self, database: Database, interval: float, clock: Clock | None = None) -> None:
        self._database = database
        self._interval = timedelta(seconds=interval)
        self._clock = clock or Clock()
        self._noted: dict[str, datetime] = {}  # to write at the next flush
        self._written: dict[str, datetime] = {}  # noted lately: not again before interval

    def served(self, artifact_id: str) -> None:
        """The artifact's data is being served now (any face): noted, cheaply."""
        moment = self._clock.now()
        last = self._written.get(artifact_id)
        if last is not None and moment - last < self._interval:
            return
        self._written[artifact_id] = moment
        self._noted[artifact_id] = moment

    async def flush(self) -> int:
        """Write what was noted since the last flush; how many rows were written. What
        could not be written (the catalogue away) is noted again for the next flush."""
        noted, self._noted = self._noted, {}
        moment = self._clock.now()
        # Forget what no longer holds a note back, so the memory is bounded by the
        # artifacts served within an interval.
        self._written = {
            key: when for key, when in self._written.items() if moment - when < self._interval
        }
        if not noted:
            return 0
        try:
            return await self._database.write(
                queries.record_downloads, noted, moment - self._interval
            )
        except BaseException:
            self._noted = noted | self._noted
            raise
