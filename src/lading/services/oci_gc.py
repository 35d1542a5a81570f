"""Garbage collection of the registry's blobs: a blob linked to a repository that no
manifest of that repository names is unlinked once it is older than ``oci.gc_grace``
(a push uploads its blobs before the manifest naming them); its last reference gone, its
bytes leave the store.

What keeps a blob: a manifest of its repository naming it (as config or layer), whether
the manifest is tagged or not. Untagged manifests are kept, as the distribution
registry's collector keeps them unless told ``--delete-untagged``: clients pull by
digest, an index names its children by digest, and signatures and SBOMs (referrers)
are untagged. A manifest deleted by digest leaves the blobs only it named to the next
collection. A blob referenced elsewhere (an image's location, another repository's link)
keeps its bytes: collection only drops this repository's reference.

A manifest put while its blob is collected never ends naming a missing blob: the
manifest's check locks the links it relies on, and collection locks a link before it
looks for manifests naming it (``lading.db.oci.unlink_unnamed``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import blobs
from lading.db import oci as queries
from lading.db.engine import Database
from lading.services.catalogue import Catalogue
from lading.settings import Settings

BATCH = 500  # links looked at, and removed, per transaction


@dataclass(slots=True)
class Collected:
    """What a collection unlinked (or, a dry run, would unlink), and the stored bytes that
    went with the last references (``freed``)."""

    dry_run: bool
    unlinked: list[queries.Link] = field(default_factory=list)
    freed: int = 0  # blobs whose bytes left (would leave) their store
    freed_bytes: int = 0

    @property
    def unlinked_bytes(self) -> int:
        return sum(link.size for link in self.unlinked)


class Collector:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        catalogue: Catalogue,
        clock: Clock | None = None,
    ) -> None:
        self._grace = settings.oci.gc_grace
        self._database = database
        self._catalogue = catalogue
        self._clock = clock or Clock()

    async def collect(self, dry_run: bool = False) -> Collected:
        """One collection over every repository, a batch of links per transaction."""
        collected = Collected(dry_run)
        before = self._clock.now() - timedelta(seconds=self._grace)
        after: tuple[str, str] | None = None
        while True:
            found = await self._database.read(queries.unnamed_links, before, after, BATCH)
            if not found:
                break
            after = (found[-1].repository, found[-1].digest)
            if dry_run:
                collected.unlinked += found
                continue
            removed, doomed = await self._database.write(self._unlink, found, before)
            collected.unlinked += removed
            sizes = {link.blob_id: link.size for link in removed}
            collected.freed += await self._catalogue.discard(doomed)
            collected.freed_bytes += sum(sizes[blob.id] for blob in doomed)
        if dry_run:
            await self._would_free(collected)
        return collected

    @staticmethod
    def _unlink(
        connection: Connection, found: list[queries.Link], before: datetime
    ) -> tuple[list[queries.Link], list[blobs.Blob]]:
        removed = queries.unlink_unnamed(connection, found, before)
        return removed, blobs.drop_references(connection, [link.blob_id for link in removed])

    async def _would_free(self, collected: Collected) -> None:
        """A dry run's count of the blobs whose every reference would go."""
        dropped = Counter(link.blob_id for link in collected.unlinked)
        sizes = {link.blob_id: link.size for link in collected.unlinked}
        held = await self._database.read(queries.references, list(dropped))
        for blob_id, count in dropped.items():
            if held.get(blob_id, 0) <= count:
                collected.freed += 1
                collected.freed_bytes += sizes[blob_id]

    async def sweep(self) -> int:
        """The recurring collection (``oci.gc_interval``): how many links it removed."""
        return len((await self.collect()).unlinked)
