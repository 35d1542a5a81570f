"""Queries on packages: artifacts with a file name (``artifacts.filename``).

Every function takes the ``Connection`` of its transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from lading.db import artifacts as artifact_queries
from lading.db.listing import visible_to
from lading.db.models import artifact_properties, artifacts, package_files, package_images
from lading.domain import GONE, ArchiveMember, Artifact, PackageFile, Status
from lading.errors import Conflict
from lading.version_order import version_key

KIND_PROPERTY = "osm_descriptor_type"  # vnfd, nsd, pnfd: an onboarded package
FILE_COLUMNS = (
    package_files.c.path,
    package_files.c.kind,
    package_files.c.size,
    package_files.c.data_offset,
    package_files.c.md5,
    package_files.c.target,
)


@dataclass(frozen=True, slots=True)
class OnboardedName:
    name: str
    version: str
    filename: str
    kind: str
    update: bool  # a new version of a package the owner has


def newest_versions(connection: Connection, viewer: str | None, recency: int) -> list[PackageFile]:
    """The ``recency`` newest versions of every package with
    data that ``viewer`` may see (None: an administrator, who sees all), by name, then
    newest first. A version with several files lists each."""
    rank = (
        func.dense_rank()
        .over(partition_by=artifacts.c.name, order_by=artifacts.c.version_key.desc())
        .label("rank")
    )
    clauses: list[ColumnElement[bool]] = [
        artifacts.c.filename.is_not(None),
        artifacts.c.status.in_([Status.ACTIVE, Status.DEACTIVATED]),
    ]
    if viewer is not None:
        clauses.append(visible_to(viewer))
    ranked = (
        select(
            artifacts.c.name,
            artifacts.c.version,
            artifacts.c.filename,
            artifacts.c.version_key,
            rank,
        )
        .where(*clauses)
        .subquery()
    )
    rows = connection.execute(
        select(ranked.c.name, ranked.c.version, ranked.c.filename)
        .where(ranked.c.rank <= recency)
        .order_by(
            ranked.c.name,
            ranked.c.version_key.desc(),
            ranked.c.version.desc(),
            ranked.c.filename,
        )
    )
    return [PackageFile(name, version, filename) for name, version, filename in rows]


def file_holders(connection: Connection, artifact_id: str, address: PackageFile) -> list[Artifact]:
    """The packages other than ``artifact_id`` that hold (or held: deleted ones keep it)
    the package address, locked for this transaction."""
    held = connection.scalars(
        select(artifacts.c.id)
        .where(
            artifacts.c.filename == address.filename,
            artifacts.c.name == address.name,
            artifacts.c.version == address.version,
            artifacts.c.id != artifact_id,
        )
        .with_for_update()
    ).all()
    found = (artifact_queries.fetch_artifact(connection, held_id) for held_id in held)
    return [holder for holder in found if holder is not None]


def take_name(
    connection: Connection,
    artifact_id: str,
    filename: str,
    holders: Sequence[Artifact],
    now: datetime,
) -> list[str]:
    """Give an artifact (becoming active) a package file name, replacing the packages
    that held it (``file_holders``; whether it may is the service's to say, first): a
    live one is deleted, a deleted one forgets it. The replaced data's blobs are left
    doomed, for recovery to remove, so that downloads under way finish. One transaction: a
    reader finds the old package or the new one, never neither. Returns the ids of the live
    packages it deleted."""
    replaced = []
    for holder in holders:
        if holder.status not in GONE:
            artifact_queries.mark_deleted(connection, holder.id, now)
            replaced.append(holder.id)
        connection.execute(
            update(artifacts).where(artifacts.c.id == holder.id).values(filename=None)
        )
    try:
        with connection.begin_nested():
            connection.execute(
                update(artifacts)
                .where(artifacts.c.id == artifact_id)
                .values(filename=filename, updated_at=now)
            )
    except IntegrityError:  # another upload of the same file committed meanwhile
        raise Conflict(f"{filename} was uploaded by another request meanwhile") from None
    return replaced


class Unnamed(enum.Enum):
    """Why an onboarded package did not take its name (``name_onboarded``): the service
    says it as an error, which also undoes the transaction."""

    NOT_ACTIVE = enum.auto()  # the artifact is gone, or not active
    NOTHING_TO_UPDATE = enum.auto()  # an update of a package its owner has not onboarded
    ALREADY_ONBOARDED = enum.auto()  # a new package its owner has onboarded before
    VERSION_EXISTS = enum.auto()  # that version of it exists


def name_onboarded(
    connection: Connection,
    artifact_id: str,
    package: OnboardedName,
    members: Sequence[ArchiveMember],
    now: datetime,
) -> Unnamed | None:
    """Give an onboarded package (active, hidden while it was checked) its name, version,
    file name and kind, and record the files inside it; a new package must not exist
    yet for its owner, an update must. None when named; why not otherwise."""
    artifact = artifact_queries.fetch_artifact(connection, artifact_id)
    if artifact is None or artifact.status is not Status.ACTIVE:
        return Unnamed.NOT_ACTIVE
    existing = connection.execute(
        select(artifacts.c.id)
        .join(artifact_properties, artifact_properties.c.artifact_id == artifacts.c.id)
        .where(
            artifacts.c.owner == artifact.owner,
            artifacts.c.name == package.name,
            artifacts.c.status.not_in(GONE),
            artifact_properties.c.name == KIND_PROPERTY,
        )
        .limit(1)
    ).first()
    if package.update and existing is None:
        return Unnamed.NOTHING_TO_UPDATE
    if not package.update and existing is not None:
        return Unnamed.ALREADY_ONBOARDED
    try:
        with connection.begin_nested():
            connection.execute(
                update(artifacts)
                .where(artifacts.c.id == artifact_id)
                .values(
                    name=package.name,
                    version=package.version,
                    version_key=version_key(package.version),
                    filename=package.filename,
                    os_hidden=False,
                    updated_at=now,
                )
            )
    except IntegrityError:
        return Unnamed.VERSION_EXISTS
    artifact_queries.set_properties(connection, artifact_id, {KIND_PROPERTY: package.kind})
    for start in range(0, len(members), 1000):
        connection.execute(
            insert(package_files),
            [{"artifact_id": artifact_id, **asdict(member)} for member in members[start:][:1000]],
        )
    return None


def list_files(connection: Connection, artifact_id: str) -> list[ArchiveMember]:
    rows = connection.execute(
        select(*FILE_COLUMNS)
        .where(package_files.c.artifact_id == artifact_id)
        .order_by(package_files.c.path)
    )
    return [ArchiveMember(*row) for row in rows]


def find_file(connection: Connection, artifact_id: str, path: str) -> ArchiveMember | None:
    row = connection.execute(
        select(*FILE_COLUMNS).where(
            package_files.c.artifact_id == artifact_id, package_files.c.path == path
        )
    ).first()
    return None if row is None else ArchiveMember(*row)


def onboarded_named(
    connection: Connection, viewer: str | None, kind: str, name: str, limit: int
) -> list[str]:
    """The live onboarded packages of a kind by that name that ``viewer`` may list (None:
    an administrator, who sees all), newest version first."""
    clauses: list[ColumnElement[bool]] = [
        artifacts.c.name == name,
        artifacts.c.status.in_([Status.ACTIVE, Status.DEACTIVATED]),
        artifact_properties.c.name == KIND_PROPERTY,
        artifact_properties.c.value == kind,
    ]
    if viewer is not None:
        clauses.append(visible_to(viewer))
    rows = connection.scalars(
        select(artifacts.c.id)
        .join(artifact_properties, artifact_properties.c.artifact_id == artifacts.c.id)
        .where(*clauses)
        .order_by(artifacts.c.version_key.desc(), artifacts.c.created_at.desc())
        .limit(limit)
    )
    return list(rows)


def image_like(connection: Connection, owner: str, name: str, md5: str) -> str | None:
    """A live active image of the project with that name and those bytes (its MD5), which
    a package's image file may be instead of a new one; not itself a package."""
    return connection.scalar(
        select(artifacts.c.id)
        .where(
            artifacts.c.owner == owner,
            artifacts.c.name == name,
            artifacts.c.checksum == md5,
            artifacts.c.status == Status.ACTIVE,
            artifacts.c.filename.is_(None),
            # not one another onboarding is registering: it may yet be dropped
            artifacts.c.os_hidden.is_(False),
        )
        .order_by(artifacts.c.created_at)
        .limit(1)
    )


def link_images(connection: Connection, package_id: str, links: Sequence[tuple[str, str]]) -> None:
    """Record the images (``(path, image_id)``) a package brought."""
    if links:
        connection.execute(
            insert(package_images),
            [{"artifact_id": package_id, "path": path, "image_id": image} for path, image in links],
        )


def linked_images(connection: Connection, package_id: str) -> list[tuple[str, str]]:
    """The ``(path, image_id)`` of a package's images that are not deleted."""
    rows = connection.execute(
        select(package_images.c.path, package_images.c.image_id)
        .join(artifacts, artifacts.c.id == package_images.c.image_id)
        .where(package_images.c.artifact_id == package_id, artifacts.c.status.not_in(GONE))
        .order_by(package_images.c.path)
    )
    return [(path, image) for path, image in rows]


def other_holders(connection: Connection, image_id: str, package_id: str) -> list[str]:
    """The live packages besides ``package_id`` that an image is linked to."""
    return list(
        connection.scalars(
            select(package_images.c.artifact_id)
            .join(artifacts, artifacts.c.id == package_images.c.artifact_id)
            .where(
                package_images.c.image_id == image_id,
                package_images.c.artifact_id != package_id,
                artifacts.c.status.not_in(GONE),
            )
        )
    )


def unlink_images(connection: Connection, package_id: str) -> None:
    connection.execute(delete(package_images).where(package_images.c.artifact_id == package_id))


def show(connection: Connection, artifact_ids: Sequence[str], now: datetime) -> None:
    """No longer hidden (``os_hidden``): images registered while their package was checked."""
    if artifact_ids:
        connection.execute(
            update(artifacts)
            .where(artifacts.c.id.in_(artifact_ids))
            .values(os_hidden=False, updated_at=now)
        )
