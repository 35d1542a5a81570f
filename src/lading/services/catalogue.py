"""Artifact metadata: create, read, list, change, delete; the lifecycle's rules."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from lading.db import artifacts as queries
from lading.db import blobs, listing
from lading.db.engine import Database
from lading.domain import GONE, Artifact, ListQuery, Status, Visibility
from lading.errors import BadRequest, Conflict, Forbidden, LadingError, NotFound, TooLarge
from lading.services import validation
from lading.services.access import Caller, can_see
from lading.services.validation import Changes
from lading.settings import QuotaSettings
from lading.stores.registry import StoreRegistry

log = logging.getLogger(__name__)


def now() -> datetime:
    """The catalogue's clock: naive UTC, as stored."""
    return datetime.now(UTC).replace(tzinfo=None)


class Catalogue:
    def __init__(
        self,
        database: Database,
        stores: StoreRegistry,
        quota: QuotaSettings,
        delayed_delete: bool = False,
    ) -> None:
        self._database = database
        self._stores = stores
        self.quota = quota
        self._delayed_delete = delayed_delete

    async def create(
        self,
        caller: Caller,
        changes: Changes,
        artifact_id: object = None,
        *,
        published: bool = True,
        filename: str | None = None,
    ) -> Artifact:
        """A new queued artifact; ``published`` and ``filename`` are the face's to say."""
        caller.require("add_image")
        moment = now()
        artifact = Artifact(
            id=validation.new_id(artifact_id),
            owner=caller.project,
            status=Status.QUEUED,
            visibility=Visibility.SHARED,
            created_at=moment,
            updated_at=moment,
            published=published,
            filename=filename,
        )
        artifact = validation.apply(caller, artifact, changes, None, self.quota)
        limit = self.quota.for_project(caller.project).artifacts
        if not await self._database.write(queries.insert_artifact, artifact, limit):
            raise TooLarge(f"project {caller.project} has reached its quota of {limit} artifacts")
        return caller.view(artifact)

    async def get(self, caller: Caller, artifact_id: str) -> Artifact:
        """A live artifact the caller may see; NotFound for anything else."""
        caller.require("get_image")
        return caller.view(await self.visible(caller, artifact_id))

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
        caller.require("get_images")
        if marker is not None:
            try:
                query.marker = await self.visible(caller, marker)
            except NotFound:
                raise BadRequest(f"marker {marker} is not an artifact you can see") from None
        if not caller.is_admin:
            query.viewer = caller.project
        if not all(caller.may_property(name, "read") for name in query.properties):
            return []  # a filter on what the caller cannot read must not reveal values
        found = await self._database.read(listing.list_artifacts, query)
        return [caller.view(artifact) for artifact in found]

    async def update(
        self, caller: Caller, artifact_id: str, edit: Callable[[Artifact], Changes]
    ) -> Artifact:
        """Apply the changes that ``edit`` derives from the artifact as it stands."""
        previous = await self.visible(caller, artifact_id)
        caller.require_owner(previous, "modify_image")
        changes = edit(caller.view(previous))
        updated = validation.apply(
            caller, replace(previous, updated_at=now()), changes, previous, self.quota
        )
        if not await self._database.write(queries.update_artifact, updated, previous):
            raise NotFound(f"no artifact with id {artifact_id}")
        return caller.view(updated)

    async def delete(self, caller: Caller, artifact_id: str) -> None:
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, "delete_image")
        if artifact.protected:
            raise Forbidden(f"artifact {artifact_id} is protected and cannot be deleted")
        if self._delayed_delete:
            await self._database.write(queries.mark_pending_delete, artifact.id, now())
        else:
            await self.drop(artifact.id)

    async def reclaimable(self) -> int:
        """Bytes that delayed deletes still hold."""
        return await self._database.read(queries.reclaimable)

    async def scrub(self, delay: float) -> int:
        """Remove the data of artifacts deleted with delay more than ``delay`` seconds ago,
        and mark them deleted; returns how many. Safe in several processes at once."""
        due = await self._database.read(queries.due_for_scrub, now() - timedelta(seconds=delay))
        scrubbed = 0
        for artifact_id in due:
            with contextlib.suppress(NotFound):  # another process was first
                await self.drop(artifact_id)
                scrubbed += 1
        return scrubbed

    async def drop(self, artifact_id: str) -> None:
        """Delete an artifact with no questions asked: for the services' own undoing."""
        doomed = await self._database.write(queries.mark_deleted, artifact_id, now())
        await self.discard(doomed)

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
        changed = artifact.published != published
        if changed and not await self._database.write(
            queries.set_published, artifact.id, published, now()
        ):
            raise NotFound(f"no artifact with id {artifact_id}")
        return caller.view(await self.visible(caller, artifact.id))

    async def deactivate(self, caller: Caller, artifact_id: str) -> None:
        await self._switch(caller, artifact_id, Status.ACTIVE, Status.DEACTIVATED, "deactivate")

    async def reactivate(self, caller: Caller, artifact_id: str) -> None:
        await self._switch(caller, artifact_id, Status.DEACTIVATED, Status.ACTIVE, "reactivate")

    async def add_tag(self, caller: Caller, artifact_id: str, tag: str) -> None:
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, "modify_image")
        validation.checked_tags([*artifact.tags, tag], self.quota)
        await self._database.write(queries.add_tag, artifact.id, tag, now())

    async def remove_tag(self, caller: Caller, artifact_id: str, tag: str) -> None:
        artifact = await self.visible(caller, artifact_id)
        caller.require_owner(artifact, "modify_image")
        if not await self._database.write(queries.remove_tag, artifact.id, tag, now()):
            raise NotFound(f"artifact {artifact_id} has no tag {tag!r}")

    async def _switch(
        self, caller: Caller, artifact_id: str, source: Status, target: Status, action: str
    ) -> None:
        """An admin's switch between two statuses; already there is no change."""
        artifact = await self.visible(caller, artifact_id)
        caller.require(action)
        if artifact.status is target:
            return
        if artifact.status is not source:
            raise Forbidden(f"cannot {action} an artifact in status {artifact.status}")
        if not await self._database.write(
            queries.set_status, artifact.id, [source], target, updated_at=now()
        ):
            raise Conflict(f"artifact {artifact.id} changed status meanwhile; try again")
