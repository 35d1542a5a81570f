"""Artifact metadata: create, read, list, change, delete; the lifecycle's rules."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lading.db import artifacts as queries
from lading.db import blobs
from lading.db.engine import Database
from lading.domain import (
    CONTAINER_FORMATS,
    DISK_FORMATS,
    Artifact,
    ListQuery,
    Status,
    Visibility,
)
from lading.errors import BadRequest, Conflict, Forbidden, LadingError, NotFound, TooLarge
from lading.services.access import Caller, can_see
from lading.stores.registry import StoreRegistry

MAX_NAME = 255
MAX_PROPERTY_VALUE = 65535
MAX_INT = 2**31 - 1
PROPERTY_QUOTA = 128
TAG_QUOTA = 128
RESERVED_PREFIX = "os_glance"
READ_ONLY_FIELDS = frozenset(
    {
        "status", "size", "virtual_size", "checksum", "os_hash_algo", "os_hash_value",
        "created_at", "updated_at", "deleted_at", "published",
    }
)  # fmt: skip
WRITABLE_FIELDS = frozenset(
    {
        "name", "version", "owner", "visibility", "protected", "os_hidden", "disk_format",
        "container_format", "min_disk", "min_ram",
    }
)  # fmt: skip
BASE_FIELDS = READ_ONLY_FIELDS | WRITABLE_FIELDS | {"id"}

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Changes:
    """What a caller asks to set: base fields, free-form properties, tags."""

    fields: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    tags: list[Any] | None = None


def now() -> datetime:
    """The catalogue's clock: naive UTC, as stored."""
    return datetime.now(UTC).replace(tzinfo=None)


class Catalogue:
    def __init__(self, database: Database, stores: StoreRegistry) -> None:
        self._database = database
        self._stores = stores

    async def create(self, caller: Caller, changes: Changes, artifact_id: Any = None) -> Artifact:
        _check_writable(changes.fields)
        moment = now()
        artifact = Artifact(
            id=_new_id(artifact_id),
            owner=caller.project,
            status=Status.QUEUED,
            visibility=Visibility.SHARED,
            created_at=moment,
            updated_at=moment,
        )
        artifact = _apply(artifact, changes)
        if artifact.visibility is Visibility.PUBLIC and not caller.is_admin:
            raise Forbidden("only administrators may publicize an artifact")
        await self._database.write(queries.insert_artifact, artifact)
        return artifact

    async def get(self, caller: Caller, artifact_id: str) -> Artifact:
        """A live artifact the caller may see; NotFound for anything else."""
        if not _is_uuid(artifact_id):
            raise NotFound(f"no artifact with id {artifact_id}")
        artifact_id = str(uuid.UUID(artifact_id))  # ids are stored in canonical form
        artifact = await self._database.read(queries.fetch_artifact, artifact_id)
        if artifact is None or artifact.status is Status.DELETED or not can_see(caller, artifact):
            raise NotFound(f"no artifact with id {artifact_id}")
        return artifact

    async def list_page(
        self, caller: Caller, query: ListQuery, marker: str | None
    ) -> list[Artifact]:
        if marker is not None:
            try:
                query.marker = await self.get(caller, marker)
            except NotFound:
                raise BadRequest(f"marker {marker} is not an artifact you can see") from None
        if not caller.is_admin:
            query.hide_community_of_others = caller.project
        return await self._database.read(queries.list_artifacts, query)

    async def update(
        self, caller: Caller, artifact_id: str, edit: Callable[[Artifact], Changes]
    ) -> Artifact:
        """Apply the changes that ``edit`` derives from the artifact as it stands."""
        previous = await self.get(caller, artifact_id)
        changes = edit(previous)
        changed_fields = {
            name: value
            for name, value in changes.fields.items()
            if getattr(previous, name) != value
        }
        _check_writable(changed_fields)
        if changed_fields.get("visibility") == Visibility.PUBLIC and not caller.is_admin:
            raise Forbidden("only administrators may publicize an artifact")
        # Only what changes is checked, so server-set properties can be carried along.
        touched = {
            name
            for name in changes.properties.keys() | previous.properties.keys()
            if changes.properties.get(name) != previous.properties.get(name)
        }
        _check_properties({n: changes.properties.get(n, "") for n in touched})
        updated = _apply(
            replace(previous, updated_at=now()),
            Changes(changed_fields, changes.properties, changes.tags),
            check_properties=False,
        )
        if not await self._database.write(queries.update_artifact, updated, previous):
            raise NotFound(f"no artifact with id {artifact_id}")
        return updated

    async def delete(self, caller: Caller, artifact_id: str) -> None:
        artifact = await self.get(caller, artifact_id)
        if artifact.protected:
            raise Forbidden(f"artifact {artifact_id} is protected and cannot be deleted")
        doomed = await self._database.write(self._mark_deleted, artifact_id)
        await self.discard(doomed)

    @staticmethod
    def _mark_deleted(connection: Any, artifact_id: str) -> list[blobs.Blob]:
        moment = now()
        live = [status for status in Status if status is not Status.DELETED]
        if not queries.set_status(
            connection, artifact_id, live, Status.DELETED, deleted_at=moment, updated_at=moment
        ):
            raise NotFound(f"no artifact with id {artifact_id}")
        return blobs.release(connection, artifact_id)

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

    async def deactivate(self, caller: Caller, artifact_id: str) -> None:
        artifact = await self.get(caller, artifact_id)
        self._require_admin(caller, "deactivate")
        if artifact.status is Status.DEACTIVATED:
            return
        await self._transition(artifact, [Status.ACTIVE], Status.DEACTIVATED, "deactivate")

    async def reactivate(self, caller: Caller, artifact_id: str) -> None:
        artifact = await self.get(caller, artifact_id)
        self._require_admin(caller, "reactivate")
        if artifact.status is Status.ACTIVE:
            return
        await self._transition(artifact, [Status.DEACTIVATED], Status.ACTIVE, "reactivate")

    async def add_tag(self, caller: Caller, artifact_id: str, tag: str) -> None:
        artifact = await self.get(caller, artifact_id)
        _check_tags([*artifact.tags, tag])
        await self._database.write(queries.add_tag, artifact_id, tag, now())

    async def remove_tag(self, caller: Caller, artifact_id: str, tag: str) -> None:
        await self.get(caller, artifact_id)
        if not await self._database.write(queries.remove_tag, artifact_id, tag, now()):
            raise NotFound(f"artifact {artifact_id} has no tag {tag!r}")

    async def _transition(
        self, artifact: Artifact, expected: list[Status], new: Status, action: str
    ) -> None:
        if artifact.status not in expected:
            raise Forbidden(f"cannot {action} an artifact in status {artifact.status}")
        if not await self._database.write(
            queries.set_status, artifact.id, expected, new, updated_at=now()
        ):
            raise Conflict(f"artifact {artifact.id} changed status meanwhile; try again")

    @staticmethod
    def _require_admin(caller: Caller, action: str) -> None:
        if not caller.is_admin:
            raise Forbidden(f"only administrators may {action} an artifact")


def _new_id(requested: Any) -> str:
    if requested is None:
        return str(uuid.uuid4())
    if not isinstance(requested, str) or not _is_uuid(requested):
        raise BadRequest("id must be a UUID")
    return str(uuid.UUID(requested))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) in (32, 36)


def _check_writable(fields: Mapping[str, Any]) -> None:
    for name in fields:
        if name in READ_ONLY_FIELDS or name == "id":
            raise Forbidden(f"attribute {name!r} is read-only")
        if name not in WRITABLE_FIELDS:
            raise BadRequest(f"unknown attribute {name!r}")


def _apply(artifact: Artifact, changes: Changes, check_properties: bool = True) -> Artifact:
    """``artifact`` with validated ``changes`` set: fields, then whole properties and tags."""
    values = {name: _validated(name, value) for name, value in changes.fields.items()}
    if len(changes.properties) > PROPERTY_QUOTA:
        raise TooLarge(f"at most {PROPERTY_QUOTA} properties are allowed")
    properties = _check_properties(changes.properties) if check_properties else changes.properties
    tags = artifact.tags if changes.tags is None else _check_tags(changes.tags)
    return replace(artifact, **values, properties=properties, tags=tags)


def _validated(name: str, value: Any) -> Any:
    match name:
        case "name" | "version" | "owner":
            if value is not None and (not isinstance(value, str) or len(value) > MAX_NAME):
                raise BadRequest(f"{name} must be a string of at most {MAX_NAME} characters")
            return value
        case "visibility":
            try:
                return Visibility(value)
            except ValueError:
                choices = [v.value for v in Visibility]
                raise BadRequest(f"visibility must be one of {choices}") from None
        case "protected" | "os_hidden":
            if not isinstance(value, bool):
                raise BadRequest(f"{name} must be a boolean")
            return value
        case "disk_format" | "container_format":
            allowed = DISK_FORMATS if name == "disk_format" else CONTAINER_FORMATS
            if value is not None and value not in allowed:
                raise BadRequest(f"{name} must be one of {list(allowed)}")
            return value
        case _:  # min_disk, min_ram
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
                raise BadRequest(f"{name} must be an integer from 0 to {MAX_INT}")
            return value


def _check_properties(properties: Mapping[str, Any]) -> dict[str, str]:
    for name, value in properties.items():
        if name.startswith(RESERVED_PREFIX):
            raise Forbidden(f"property {name!r} is reserved")
        if name in BASE_FIELDS or not 0 < len(name) <= MAX_NAME:
            raise BadRequest(f"invalid property name {name!r}")
        if not isinstance(value, str):
            raise BadRequest(f"property {name!r} must be a string")
        if len(value) > MAX_PROPERTY_VALUE:
            raise BadRequest(f"property {name!r} is longer than {MAX_PROPERTY_VALUE} characters")
    return dict(properties)


def _check_tags(tags: Any) -> list[str]:
    valid = isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)
    unique = list(dict.fromkeys(tags)) if valid else None
    if unique is None or any(not 0 < len(tag) <= MAX_NAME for tag in unique):
        raise BadRequest(f"tags must be strings of 1 to {MAX_NAME} characters")
    if len(unique) > TAG_QUOTA:
        raise TooLarge(f"at most {TAG_QUOTA} tags are allowed")
    return unique
