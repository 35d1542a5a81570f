"""Artifact metadata: create, read, list, change, delete; the lifecycle's rules.

Each change that happens is an event (``lading.services.events``), recorded in the
change's own transaction.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

import anyio
from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import artifacts as queries
from lading.db import blobs, listing
from lading.db.engine import Database
from lading.domain import (
    GONE,
    PROPERTY_SORT,
    Artifact,
    EventType,
    ListQuery,
    Maker,
    Status,
    Visibility,
)
from lading.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    LadingError,
    NotFound,
    ObjectInUse,
    TooLarge,
)
from lading.processes import Holder
from lading.services import validation
from lading.services.access import Caller, can_see
from lading.services.events import Events, Outbox
from lading.services.names import PackageNames
from lading.services.validation import Changes
from lading.settings import QuotaSettings
from lading.stores.registry import StoreRegistry

# A listing's filters become one query: each property, tag or time filter a condition of
# its own, each value a parameter. The databases bound both (SQLite refused 2,000 filters:
# "Expression tree is too large"), and PostgreSQL takes long to plan many (1.6 s for 64
# property filters, 0.3 s for 32), so lading bounds them first, far above any real use.
MAX_FILTERS = 32
MAX_FILTER_VALUES = 1000

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PendingBlob:
    """The blob of a write in progress, and what its commit left unneeded (bytes shared
    with an identical blob, a blob already held)."""

    blob: blobs.Blob
    redundant: list[blobs.Blob] = field(default_factory=list)


class Catalogue:
    def __init__(
        self,
        database: Database,
        stores: StoreRegistry,
        quota: QuotaSettings,
        names: PackageNames,
        delayed_delete: bool = False,
        outbox: Outbox | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._database = database
        self._names = names
        self._stores = stores
        self.quota = quota
        self._delayed_delete = delayed_delete
        self._outbox = outbox or Outbox(database, Events({}, self._clock))

    async def create(
        self,
        caller: Caller,
        changes: Changes,
        artifact_id: object = None,
        *,
        published: bool = True,
    ) -> Artifact:
        """A new queued artifact, recorded as made by the caller's project and user;
        ``published`` is the face's to say."""
        moment = self._clock.now()
        artifact = Artifact(
            id=validation.new_id(artifact_id),
            owner=caller.project,
            status=Status.QUEUED,
            visibility=Visibility.SHARED,
            created_at=moment,
            updated_at=moment,
            published=published,
            created_by_project=caller.project,
            created_by=caller.user,
        )
        caller.require("add_image", artifact)
        artifact = validation.apply(caller, artifact, changes, None, self.quota)
        limit = self.quota.for_project(caller.project).artifacts

        def insert(connection: Connection) -> bool:
            if artifact.filename is not None and artifact.name is not None:
                # Checked now; taken when the package becomes active (``activated``).
                self._names.check(connection, artifact.owner, caller.is_admin, artifact.name)
            return queries.insert_artifact(connection, artifact, limit)

        if not await self._outbox.write(insert, EventType.ARTIFACT_CREATED, artifact.id, caller):
            raise TooLarge(f"project {caller.project} has reached its quota of {limit} artifacts")
        return caller.view(artifact)

    def activated(self, connection: Connection, artifact_id: str, by: Caller | None) -> None:
        """In the transaction that makes an artifact active for ``by`` (None: a task's
        worker): a package takes its name, for its owner's project (Forbidden if that
        project may not publish under it, unless an administrator made it active), and
        the event is recorded."""
        address = queries.package_address(connection, artifact_id)
        if address is not None:
            name, owner = address
            by_admin = by is not None and by.is_admin
            self._names.claim(connection, owner, name, self._clock.now(), by_admin)
        self._outbox.record(connection, EventType.ARTIFACT_ACTIVATED, artifact_id, by)

    async def get(self, caller: Caller, artifact_id: str) -> Artifact:
        """A live artifact the caller may see; NotFound for anything else."""
        artifact = await self.visible(caller, artifact_id)
        caller.require("get_image", artifact)
        return caller.view(artifact)

    async def visible(self, caller: Caller, artifact_id: str) -> Artifact:
        """A live artifact the caller may see, whatever the action; NotFound otherwise."""
        if not validation.is_uuid(artifact_id):
            raise NotFound(f"no artifact with id {artifact_id}")
        artifact_id = str(uuid.UUID(artifact_id))  # ids are stored in canonical form
        artifact, is_member = await self._database.read(
            queries.fetch_for_project, artifact_id, caller.project
        )
        if artifact is None or artifact.status in GONE or not can_see(caller, artifact, is_member):
            raise NotFound(f"no artifact with id {artifact_id}")
        return artifact

    async def public(self, artifact_id: str) -> Artifact:
        """A live, published, public artifact: what anyone may read without a token (the
        registry's anonymous pulls); NotFound otherwise."""
        if not validation.is_uuid(artifact_id):
            raise NotFound(f"no artifact with id {artifact_id}")
        artifact_id = str(uuid.UUID(artifact_id))
        artifact = await self._database.read(queries.fetch_artifact, artifact_id)
        if (
            artifact is None
            or artifact.status in GONE
            or not artifact.published
            or artifact.visibility is not Visibility.PUBLIC
        ):
            raise NotFound(f"no artifact with id {artifact_id}")
        return artifact

    def made_by(self, caller: Caller, artifact: Artifact) -> Maker | None:
        """Who made the artifact, for a caller that may know: administrators, its owner's
        project and the project that made it; others see the artifact, not who in another
        project made it (as they see none of its tasks). None also when unrecorded."""
        if artifact.created_by_project is None:
            return None
        if not (caller.is_admin or caller.project in (artifact.owner, artifact.created_by_project)):
            return None
        return Maker(artifact.created_by_project, artifact.created_by)

    async def find_package(
        self, caller: Caller | None, name: str, version: str, filename: str
    ) -> Artifact:
        """The package by that name, version and file, if it has data the caller may
        read; with no caller, only a published public one. NotFound otherwise."""
        project = caller.project if caller is not None else None
        found, is_member = await self._database.read(
            queries.find_package, name, version, filename, project
        )
        if found is None or found.status not in (Status.ACTIVE, Status.DEACTIVATED):
            raise NotFound(f"no package {name} {version} with a file {filename}")
        if caller is None:
            seen = found.published and found.visibility is Visibility.PUBLIC
        else:
            seen = can_see(caller, found, is_member)
        if not seen:
            raise NotFound(f"no package {name} {version} with a file {filename}")
        return found

    async def list_page(
        self, caller: Caller, query: ListQuery, marker: str | None
    ) -> list[Artifact]:
        """One page of what the caller may see, after the artifact ``marker`` names."""
        caller.require("get_images")
        _check_bounds(query)
        if not query.with_hidden:
            # Hidden artifacts (os_hidden) are left out unless asked for, on every face.
            query = replace(query, fields={"os_hidden": [False], **query.fields})
        after = None
        if marker is not None:
            try:
                after = await self.visible(caller, marker)
            except NotFound:
                raise BadRequest(f"marker {marker} is not an artifact you can see") from None
        viewer = None if caller.is_admin else caller.project
        if not all(caller.may_property(name, "read") for name in query.properties):
            return []  # a filter on what the caller cannot read must not reveal values
        for key, _ in query.sort:  # nor may an order by it
            name = key.removeprefix(PROPERTY_SORT)
            if name != key and not caller.may_property(name, "read"):
                raise BadRequest(f"cannot sort by the property {name!r}")
        page = listing.PageQuery(query, viewer, after)
        found = await self._database.read(listing.list_artifacts, page)
        return [caller.view(artifact) for artifact in found]

    async def update(
        self, caller: Caller, artifact_id: str, edit: Callable[[Artifact], Changes]
    ) -> Artifact:
        """Apply the changes that ``edit`` derives from the artifact as it stands."""
        previous = await self.visible(caller, artifact_id)
        caller.require_owner(previous, "modify_image")
        changes = edit(caller.view(previous))
        updated = validation.apply(
            caller, replace(previous, updated_at=self._clock.now()), changes, previous, self.quota
        )
        # Tags are a set: the same ones in another order are no change.
        same_time = replace(updated, updated_at=previous.updated_at, tags=sorted(set(updated.tags)))
        changed = same_time != previous

        def write(connection: Connection) -> bool:
            if previous.filename is None and updated.filename is not None and updated.name:
                self._names.check(connection, updated.owner, caller.is_admin, updated.name)
            return queries.update_artifact(connection, updated, previous)

        # A patch that changes nothing but the time is no event.
        event = EventType.ARTIFACT_UPDATED if changed else None
        if not await self._outbox.write(write, event, updated.id, caller):
            raise NotFound(f"no artifact with id {artifact_id}")
        return caller.view(updated)

    async def delete(self, caller: Caller, artifact_id: str) -> None:
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, "delete_image")
        if artifact.protected:
            raise Forbidden(f"artifact {artifact_id} is protected and cannot be deleted")
        await self._refuse_in_use(artifact)
        if self._delayed_delete:

            def mark(connection: Connection) -> bool:
                queries.mark_pending_delete(connection, artifact.id, self._clock.now())
                return True

            await self._outbox.write(mark, EventType.ARTIFACT_DELETED, artifact.id, caller)
        else:
            await self.drop(artifact.id, caller)

    async def _refuse_in_use(self, artifact: Artifact) -> None:
        """Glance's answer to deleting an image whose data something else depends on (a
        clone of its RBD snapshot, which Nova and Cinder make): 409, the image kept. Data
        that another artifact shares stays anyway, whatever depends on it. A clone made
        after this look keeps the bytes only: their removal waits for recovery's retries."""
        for blob in await self._database.read(blobs.sole, artifact.id):
            try:
                store = self._stores.get(blob.store)
            except BadRequest:  # a store no longer configured: nothing here can tell
                continue
            if await store.in_use(blob.key):
                raise ObjectInUse(
                    f"artifact {artifact.id} could not be deleted because it is in use: its "
                    f"data in store {blob.store!r} has copy-on-write clones"
                )

    async def delete_retired(
        self,
        artifact_id: str,
        still_retired: Callable[[Connection], bool],
        record: Callable[[Connection], None],
    ) -> int | None:
        """Retention's delete, lading's own: as a delete by its owner would (pending_delete
        with delayed delete on; data something depends on kept), in one transaction with
        ``still_retired`` (looked at again: nothing keeps it now) and ``record`` (retention's
        own bookkeeping and event). The bytes it freed now; None when it was kept."""
        artifact = await self._database.read(queries.fetch_artifact, artifact_id)
        if artifact is None or artifact.status in GONE or artifact.protected:
            return None
        try:
            await self._refuse_in_use(artifact)
        except ObjectInUse:
            return None

        def delete(connection: Connection) -> list[blobs.Blob] | None:
            if not still_retired(connection):
                return None
            if self._delayed_delete:
                queries.mark_pending_delete(connection, artifact_id, self._clock.now())
                self._outbox.record(connection, EventType.ARTIFACT_DELETED, artifact_id, None)
                doomed: list[blobs.Blob] = []
            else:
                doomed = self._mark_deleted(connection, artifact_id, None)
            record(connection)
            return doomed

        doomed = await self._database.write(delete)
        if doomed is None:
            return None
        freed = await self._database.read(blobs.sizes, [blob.id for blob in doomed])
        await self.discard(doomed)
        return freed

    async def reclaimable(self) -> int:
        """Bytes that delayed deletes still hold."""
        return await self._database.read(queries.reclaimable)

    async def scrub(self, delay: float) -> int:
        """Remove the data of artifacts deleted with delay more than ``delay`` seconds ago,
        and mark them deleted; returns how many. Safe in several processes at once."""
        due = await self._database.read(
            queries.due_for_scrub, self._clock.now() - timedelta(seconds=delay)
        )
        scrubbed = 0
        for artifact_id in due:
            with contextlib.suppress(NotFound):  # another process was first
                await self.drop(artifact_id)
                scrubbed += 1
        return scrubbed

    async def drop(self, artifact_id: str, by: Caller | None = None) -> None:
        """Delete an artifact with no questions asked: for the services' own undoing, of
        what ``by``'s request made (None: lading's own, such as a scrub)."""
        doomed = await self._database.write(self._mark_deleted, artifact_id, by)
        await self.discard(doomed)

    def _mark_deleted(
        self, connection: Connection, artifact_id: str, by: Caller | None
    ) -> list[blobs.Blob]:
        """In the caller's transaction: the artifact deleted (an event, unless it was gone
        already: a scrub); returns the blobs nothing references now."""
        was_live = queries.status_of(connection, artifact_id) not in GONE
        doomed = queries.mark_deleted(connection, artifact_id, self._clock.now())
        if was_live:
            self._outbox.record(connection, EventType.ARTIFACT_DELETED, artifact_id, by)
        return doomed

    @contextlib.asynccontextmanager
    async def pending_blob(self, store: str, holder: Holder | None) -> AsyncIterator[PendingBlob]:
        """A blob reserved for bytes about to be written into ``store`` (by ``holder``, who
        beats for it; none: the caller touches it). If the block fails, the blob and its
        bytes are removed; after it succeeds, the blobs it marked redundant are."""
        key = blobs.new_key()
        blob_id = await self._database.write(blobs.reserve, store, key, self._clock.now(), holder)
        pending = PendingBlob(blobs.Blob(blob_id, store, key))
        try:
            yield pending
        except BaseException:
            with anyio.CancelScope(shield=True):  # a cancelled request still cleans up
                await self.discard([pending.blob])
            raise
        with anyio.CancelScope(shield=True):
            await self.discard(pending.redundant)

    async def discard(self, doomed: Sequence[blobs.Blob]) -> int:
        """Remove the bytes of blobs nobody references, then their records.

        A store that fails here leaves the blob doomed: recovery tries it again later,
        and the caller's request (already committed) still succeeds.
        """
        removed = 0
        for blob in doomed:
            try:
                await self._stores.get(blob.store).delete(blob.key)
            except LadingError as exc:
                log.warning("could not remove %s from store %s: %s", blob.key, blob.store, exc)
                continue
            await self._database.write(blobs.forget, blob.id)
            removed += 1
        return removed

    async def set_published(self, caller: Caller, artifact_id: str, published: bool) -> Artifact:
        """Publish or unpublish: administrators by default (``publish_image``), and
        signing clients for their own project's artifacts."""
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, "publish_image")
        event = EventType.ARTIFACT_PUBLISHED if published else EventType.ARTIFACT_UNPUBLISHED

        def write(connection: Connection) -> bool:
            return queries.set_published(connection, artifact.id, published, self._clock.now())

        if artifact.published != published:
            await self._outbox.write(write, event, artifact.id, caller)
        return caller.view(await self.visible(caller, artifact.id))  # NotFound once gone

    async def deactivate(self, caller: Caller, artifact_id: str) -> None:
        await self._switch(caller, artifact_id, Status.ACTIVE, Status.DEACTIVATED, "deactivate")

    async def reactivate(self, caller: Caller, artifact_id: str) -> None:
        await self._switch(caller, artifact_id, Status.DEACTIVATED, Status.ACTIVE, "reactivate")

    async def add_tag(self, caller: Caller, artifact_id: str, tag: str) -> None:
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, "modify_image")
        validation.checked_tags([*artifact.tags, tag], self.quota)

        def add(connection: Connection) -> bool:
            return queries.add_tag(connection, artifact.id, tag, self._clock.now())

        await self._outbox.write(add, EventType.ARTIFACT_UPDATED, artifact.id, caller)

    async def remove_tag(self, caller: Caller, artifact_id: str, tag: str) -> None:
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, "modify_image")

        def remove(connection: Connection) -> bool:
            return queries.remove_tag(connection, artifact.id, tag, self._clock.now())

        if not await self._outbox.write(remove, EventType.ARTIFACT_UPDATED, artifact.id, caller):
            raise NotFound(f"artifact {artifact_id} has no tag {tag!r}")

    async def _switch(
        self, caller: Caller, artifact_id: str, source: Status, target: Status, action: str
    ) -> None:
        """The owner's (or an admin's) switch between two statuses; already there is no
        change. Becoming active again is ``artifact.activated``; deactivating,
        ``artifact.updated``."""
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, action)
        if artifact.status is target:
            return
        if artifact.status is not source:
            raise Forbidden(f"cannot {action} an artifact in status {artifact.status}")
        event = (
            EventType.ARTIFACT_ACTIVATED if target is Status.ACTIVE else EventType.ARTIFACT_UPDATED
        )

        def switch(connection: Connection) -> bool:
            return queries.set_status(
                connection, artifact.id, [source], target, updated_at=self._clock.now()
            )

        if not await self._outbox.write(switch, event, artifact.id, caller):
            raise Conflict(f"artifact {artifact.id} changed status meanwhile; try again")


def _check_bounds(query: ListQuery) -> None:
    filters = len(query.fields) + len(query.properties) + len(query.tags) + len(query.times)
    values = sum(map(len, query.fields.values())) + sum(map(len, query.properties.values()))
    if filters > MAX_FILTERS or values + len(query.tags) > MAX_FILTER_VALUES:
        raise BadRequest(
            f"a listing takes at most {MAX_FILTERS} filters and {MAX_FILTER_VALUES} values in them"
        )
