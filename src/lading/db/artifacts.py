"""Queries on artifacts, their properties, tags and locations.

Every function takes the ``Connection`` of the transaction it runs in.
"""

from __future__ import annotations

import enum
import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    case,
    delete,
    func,
    insert,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from lading.db import blobs, locks, members
from lading.db.blobs import Blob
from lading.db.models import artifact_properties, artifact_tags, artifacts, locations
from lading.db.models import blobs as blob_table
from lading.domain import GONE, Artifact, Location, Status, Visibility
from lading.errors import Conflict, NotFound
from lading.version_order import version_key

# Every column but an upload's lease (bookkeeping of db.uploads), the version's order
# (derived from the version as the row is written) and its last download (retention's
# bookkeeping): the artifact's metadata.
NOT_METADATA = (
    "upload_lease", "lease_expires_at", "upload_holder", "version_key", "last_downloaded_at"
)  # fmt: skip
COLUMNS = tuple(column.name for column in artifacts.columns if column.name not in NOT_METADATA)
SELECT_ARTIFACTS = select(*(artifacts.c[name] for name in COLUMNS))
FETCH = SELECT_ARTIFACTS.where(artifacts.c.id == bindparam("id"))
USAGE = select(func.count(), func.coalesce(func.sum(artifacts.c.size), 0)).where(
    artifacts.c.owner == bindparam("owner"), artifacts.c.status.not_in(GONE)
)
RECLAIMABLE = select(func.coalesce(func.sum(artifacts.c.size), 0)).where(
    artifacts.c.status == Status.PENDING_DELETE
)


def insert_artifact(connection: Connection, artifact: Artifact, limit: int | None = None) -> bool:
    """Insert ``artifact``, unless its owner already has ``limit`` artifacts (False)."""
    if limit is not None:
        locks.hold(connection, "quota", artifact.owner)  # as lading.db.usage.charging
        if usage(connection, artifact.owner)[0] >= limit:
            return False
    try:
        with connection.begin_nested():
            connection.execute(insert(artifacts).values(_row(artifact)))
    except IntegrityError:
        if artifact.filename is not None:  # the package's name, version and file are taken
            raise Conflict(
                f"{artifact.name} {artifact.version} {artifact.filename} was uploaded before; "
                "a new upload needs a new version"
            ) from None
        raise Conflict(f"an artifact with id {artifact.id} already exists") from None
    _insert_properties(connection, artifact.id, artifact.properties)
    _insert_tags(connection, artifact.id, artifact.tags)
    return True


def uploads_under_way(connection: Connection, project: str) -> tuple[int, int]:
    """How many of ``project``'s artifacts are receiving data (saving, staged, importing),
    and the bytes staged for an import (glance-direct) so far."""
    receiving = (Status.SAVING, Status.UPLOADING, Status.IMPORTING)
    staged = func.sum(case((artifacts.c.status == Status.UPLOADING, artifacts.c.size), else_=0))
    count, size = connection.execute(
        select(func.count(), func.coalesce(staged, 0)).where(
            artifacts.c.owner == project, artifacts.c.status.in_(receiving)
        )
    ).one()
    return int(count), int(size)


def usage(connection: Connection, project: str) -> tuple[int, int]:
    """How many live artifacts ``project`` owns, and the sum of their sizes."""
    count, size = connection.execute(USAGE, {"owner": project}).one()
    return int(count), int(size)


def package_address(connection: Connection, artifact_id: str) -> tuple[str, str] | None:
    """A package's name and owner; None for an artifact without a file name."""
    row = connection.execute(
        select(artifacts.c.name, artifacts.c.owner).where(
            artifacts.c.id == artifact_id,
            artifacts.c.filename.is_not(None),
            artifacts.c.name.is_not(None),
        )
    ).first()
    return None if row is None else (row[0], row[1])


def fetch_artifact(connection: Connection, artifact_id: str) -> Artifact | None:
    """The artifact with its properties, tags and locations, deleted ones included."""
    found = connection.execute(FETCH, {"id": artifact_id}).mappings().first()
    if found is None:
        return None
    return complete(connection, [found])[0]


def fetch_for_project(
    connection: Connection, artifact_id: str, project: str
) -> tuple[Artifact | None, bool]:
    """The artifact, and whether ``project`` is one of its members (any status)."""
    return _with_membership(connection, fetch_artifact(connection, artifact_id), project)


def _with_membership(
    connection: Connection, artifact: Artifact | None, project: str | None
) -> tuple[Artifact | None, bool]:
    """Only shared artifacts of other projects have members that matter, so only they are
    looked up."""
    if (
        artifact is None
        or project is None
        or artifact.visibility is not Visibility.SHARED
        or artifact.owner == project
    ):
        return artifact, False
    return artifact, members.find(connection, artifact.id, project) is not None


def find_package(
    connection: Connection, name: str, version: str, filename: str, project: str | None
) -> tuple[Artifact | None, bool]:
    """The package with this name, version and file name, deleted or not (one at most),
    and whether ``project`` is one of its members."""
    found = (
        connection.execute(
            SELECT_ARTIFACTS.where(
                artifacts.c.filename == filename,
                artifacts.c.name == name,
                artifacts.c.version == version,
            )
        )
        .mappings()
        .first()
    )
    artifact = None if found is None else complete(connection, [found])[0]
    return _with_membership(connection, artifact, project)


def set_published(connection: Connection, artifact_id: str, published: bool, now: datetime) -> bool:
    """Whether this changed it (two requests at once: one of them does)."""
    result = connection.execute(
        update(artifacts)
        .where(
            artifacts.c.id == artifact_id,
            artifacts.c.status.not_in(GONE),
            artifacts.c.published != published,
        )
        .values(published=published, updated_at=now)
    )
    return result.rowcount == 1


def update_artifact(
    connection: Connection,
    artifact: Artifact,
    previous: Artifact,
) -> bool:
    """Write ``artifact``'s metadata over ``previous``; False if it was deleted meanwhile."""
    before = _row(previous)
    changed = {name: value for name, value in _row(artifact).items() if value != before[name]}
    try:
        with connection.begin_nested():
            result = connection.execute(
                update(artifacts)
                .where(artifacts.c.id == artifact.id, artifacts.c.status.not_in(GONE))
                .values(changed or {"updated_at": artifact.updated_at})
            )
    except IntegrityError:  # only a package's address is unique
        raise Conflict(
            f"{artifact.name} {artifact.version} {artifact.filename} is another package's"
        ) from None
    if result.rowcount != 1:
        return False
    removed = set(previous.properties) - set(artifact.properties)
    rewritten = {
        name: value
        for name, value in artifact.properties.items()
        if previous.properties.get(name) != value
    }
    if removed or rewritten:
        connection.execute(
            delete(artifact_properties).where(
                artifact_properties.c.artifact_id == artifact.id,
                artifact_properties.c.name.in_(removed | set(rewritten)),
            )
        )
        _insert_properties(connection, artifact.id, rewritten)
    if set(artifact.tags) != set(previous.tags):
        connection.execute(delete(artifact_tags).where(artifact_tags.c.artifact_id == artifact.id))
        _insert_tags(connection, artifact.id, artifact.tags)
    return True


# What an artifact that loses its data (back to queued) no longer has.
WITHOUT_DATA: dict[str, None] = {
    "size": None, "virtual_size": None, "checksum": None, "os_hash_algo": None,
    "os_hash_value": None,
}  # fmt: skip


def set_status(
    connection: Connection,
    /,
    artifact_id: str,
    expected: Collection[Status],
    new: Status,
    **values: Any,
) -> bool:
    """Compare-and-set: move to ``new`` only from one of ``expected``."""
    result = connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact_id, artifacts.c.status.in_(list(expected)))
        .values(status=new, **values)
    )
    return result.rowcount == 1


def status_of(connection: Connection, artifact_id: str) -> Status | None:
    found = connection.execute(
        select(artifacts.c.status).where(artifacts.c.id == artifact_id)
    ).scalar()
    return None if found is None else Status(found)


def refuse_if_gone(connection: Connection, artifact_id: str) -> None:
    """NotFound when the artifact was deleted since the caller looked at it: a change
    that lost to a delete answers as it would a moment later."""
    if status_of(connection, artifact_id) in GONE:
        raise NotFound(f"no artifact with id {artifact_id}")


def mark_pending_delete(connection: Connection, artifact_id: str, now: datetime) -> None:
    """Any live status -> pending_delete (delayed delete): gone, its data kept a while."""
    _mark_gone(connection, artifact_id, Status.PENDING_DELETE, now)


def due_for_scrub(connection: Connection, deleted_before: datetime) -> list[str]:
    """Artifacts deleted with delay whose delay is over."""
    return list(
        connection.execute(
            select(artifacts.c.id).where(
                artifacts.c.status == Status.PENDING_DELETE,
                artifacts.c.deleted_at < deleted_before,
            )
        ).scalars()
    )


def reclaimable(connection: Connection) -> int:
    """Bytes that pending deletes still hold (shared ones counted for each)."""
    return int(connection.execute(RECLAIMABLE).scalar() or 0)


def mark_deleted(connection: Connection, artifact_id: str, now: datetime) -> list[Blob]:
    """Any live status (or pending_delete) -> deleted; returns the blobs that lost their
    last reference. One that never had data lets go of its package file name: no URL
    ever served it, and a failed upload must not keep its retry out."""
    _mark_gone(connection, artifact_id, Status.DELETED, now)
    connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact_id, artifacts.c.checksum.is_(None))
        .values(filename=None)
    )
    return blobs.release(connection, artifact_id)


def _mark_gone(connection: Connection, artifact_id: str, gone: Status, now: datetime) -> None:
    """Any status before ``gone`` -> ``gone``, an upload's lease dropped; NotFound if none."""
    before = [status for status in Status if status is not gone and status is not Status.DELETED]
    if not set_status(
        connection,
        artifact_id,
        before,
        gone,
        deleted_at=now,
        updated_at=now,
        upload_lease=None,
        lease_expires_at=None,
        upload_holder=None,
    ):
        raise NotFound(f"no artifact with id {artifact_id}")


def add_tag(connection: Connection, artifact_id: str, tag: str, now: datetime) -> bool:
    """Add the tag; False when the artifact had it already."""
    exists_already = connection.execute(
        select(artifact_tags.c.tag).where(
            artifact_tags.c.artifact_id == artifact_id, artifact_tags.c.tag == tag
        )
    ).first()
    if exists_already is None:
        _insert_tags(connection, artifact_id, [tag])
    _touch(connection, artifact_id, now)
    return exists_already is None


def remove_tag(connection: Connection, artifact_id: str, tag: str, now: datetime) -> bool:
    result = connection.execute(
        delete(artifact_tags).where(
            artifact_tags.c.artifact_id == artifact_id, artifact_tags.c.tag == tag
        )
    )
    _touch(connection, artifact_id, now)
    return result.rowcount == 1


def _touch(connection: Connection, artifact_id: str, now: datetime) -> None:
    connection.execute(
        update(artifacts).where(artifacts.c.id == artifact_id).values(updated_at=now)
    )


def _row(artifact: Artifact) -> dict[str, Any]:
    row = {name: getattr(artifact, name) for name in COLUMNS}
    row["status"] = artifact.status.value
    row["visibility"] = artifact.visibility.value
    row["version_key"] = None if artifact.version is None else version_key(artifact.version)
    return row


def set_properties(
    connection: Connection, artifact_id: str, values: Mapping[str, str | None]
) -> None:
    """Set (or, for None, remove) the server's own properties, such as os_glance_*."""
    connection.execute(
        delete(artifact_properties).where(
            artifact_properties.c.artifact_id == artifact_id,
            artifact_properties.c.name.in_(list(values)),
        )
    )
    _insert_properties(connection, artifact_id, {k: v for k, v in values.items() if v is not None})


def _insert_properties(connection: Connection, artifact_id: str, values: Mapping[str, str]) -> None:
    if values:
        connection.execute(
            insert(artifact_properties),
            [{"artifact_id": artifact_id, "name": k, "value": v} for k, v in values.items()],
        )


def _insert_tags(connection: Connection, artifact_id: str, tags: Iterable[str]) -> None:
    rows = [{"artifact_id": artifact_id, "tag": tag} for tag in dict.fromkeys(tags)]
    if rows:
        connection.execute(insert(artifact_tags), rows)


# Built once: SQLAlchemy then skips most of its per-call statement construction.
PROPERTIES_AND_TAGS = union_all(
    select(
        artifact_properties.c.artifact_id,
        artifact_properties.c.name,
        artifact_properties.c.value,
    ).where(artifact_properties.c.artifact_id.in_(bindparam("ids", expanding=True))),
    select(artifact_tags.c.artifact_id, artifact_tags.c.tag, null()).where(
        artifact_tags.c.artifact_id.in_(bindparam("ids", expanding=True))
    ),
)
LOCATIONS = (
    select(
        locations.c.artifact_id,
        blob_table.c.store,
        blob_table.c.key,
        blob_table.c.size,
        blob_table.c.checksum,
        blob_table.c.sha256,
        locations.c.metadata,
    )
    .join(blob_table, blob_table.c.id == locations.c.blob_id)
    .where(locations.c.artifact_id.in_(bindparam("ids", expanding=True)))
    # Ordered as clients placed them; those lading made (no position) first, by store.
    .order_by(func.coalesce(locations.c.position, -1), blob_table.c.store)
)


def complete(connection: Connection, rows: Sequence[RowMapping]) -> list[Artifact]:
    """Artifacts from rows, with their properties, tags and locations in two queries."""
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    properties: dict[str, dict[str, str]] = defaultdict(dict)
    tags: dict[str, list[str]] = defaultdict(list)
    for artifact_id, name, value in connection.execute(PROPERTIES_AND_TAGS, {"ids": ids}):
        if value is None:  # property values are never NULL, so this row is a tag
            tags[artifact_id].append(name)
        else:
            properties[artifact_id][name] = value
    places: dict[str, list[Location]] = defaultdict(list)
    for place in connection.execute(LOCATIONS, {"ids": ids}):
        places[place.artifact_id].append(
            Location(
                place.store, place.key, place.size, place.checksum, place.sha256,
                json.loads(place.metadata) if place.metadata else {},
            )
        )  # fmt: skip
    return [
        Artifact(
            **{
                **row,
                "status": Status(row["status"]),
                "visibility": Visibility(row["visibility"]),
            },
            properties=properties[row["id"]],
            tags=sorted(tags[row["id"]]),
            locations=places[row["id"]],
        )
        for row in rows
    ]


class KeptInStore(enum.Enum):
    """Why an artifact's data stays in a store ``remove_from_store`` was to drop it from
    (the service says it as an error, which also undoes the transaction's writes)."""

    NOT_ACTIVE = enum.auto()
    NOT_IN_STORE = enum.auto()
    ONLY_COPY = enum.auto()


def remove_from_store(
    connection: Connection, artifact_id: str, store: str, now: datetime
) -> list[Blob] | KeptInStore:
    """An active artifact's data dropped from one store, the others kept; returns the
    blobs nothing references now, or why the data stays. The artifact's row is written
    first, so that on PostgreSQL two such removals wait for each other and cannot take
    its last copy."""
    written = connection.execute(
        update(artifacts)
        .where(artifacts.c.id == artifact_id, artifacts.c.status == Status.ACTIVE)
        .values(updated_at=now)
    )
    if written.rowcount != 1:
        return KeptInStore.NOT_ACTIVE
    held = connection.execute(
        select(blob_table.c.store)
        .join(locations, locations.c.blob_id == blob_table.c.id)
        .where(locations.c.artifact_id == artifact_id)
    ).scalars()
    stores = set(held)
    if store not in stores:
        return KeptInStore.NOT_IN_STORE
    if len(stores) == 1:
        return KeptInStore.ONLY_COPY
    return blobs.release_in(connection, artifact_id, store)
