"""Queries on the OCI registry's tables: repositories, blob links, manifests, tags and
uploads in progress (``lading.services.oci`` holds their rules).

Every function takes the ``Connection`` of its transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from lading.db import blobs as blob_queries
from lading.db.models import (
    blobs,
    oci_blob_links,
    oci_manifest_blobs,
    oci_manifests,
    oci_repositories,
    oci_tags,
    oci_upload_parts,
    oci_uploads,
    package_names,
)
from lading.domain import Digests

NAMESPACE = "oci"  # repository names are package names of their own namespace
FINISHING = -1  # an upload's count of parts once a request is finishing it


@dataclass(frozen=True, slots=True)
class Repository:
    name: str
    owner: str
    visibility: str


@dataclass(frozen=True, slots=True)
class LinkedBlob:
    """A blob a repository holds: where its bytes lie."""

    digest: str
    size: int
    blob_id: int
    store: str
    key: str


@dataclass(frozen=True, slots=True)
class Manifest:
    digest: str
    media_type: str
    content: bytes
    artifact_type: str | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    repository: str
    project: str
    store: str
    size: int
    parts: int


@dataclass(frozen=True, slots=True)
class Part:
    number: int
    blob_id: int
    store: str
    key: str
    size: int
    state: str
    sha256: str | None  # its own digests, worked out as it came
    checksum: str | None


def find_repository(connection: Connection, name: str) -> Repository | None:
    row = connection.execute(
        select(oci_repositories.c.name, package_names.c.owner, oci_repositories.c.visibility)
        .join(
            package_names,
            (package_names.c.namespace == NAMESPACE)
            & (package_names.c.key == oci_repositories.c.name),
        )
        .where(oci_repositories.c.name == name)
    ).first()
    return None if row is None else Repository(row.name, row.owner, row.visibility)


def insert_repository(connection: Connection, name: str, moment: datetime) -> bool:
    """Record a repository (its name claimed already); False if it exists."""
    try:
        with connection.begin_nested():
            connection.execute(
                insert(oci_repositories).values(name=name, visibility="private", created_at=moment)
            )
    except IntegrityError:
        return False
    return True


def set_visibility(connection: Connection, name: str, visibility: str) -> bool:
    result = connection.execute(
        update(oci_repositories)
        .where(oci_repositories.c.name == name)
        .values(visibility=visibility)
    )
    return result.rowcount > 0


def list_repositories(
    connection: Connection, project: str | None, last: str | None, limit: int
) -> list[str]:
    """Repository names in order after ``last``: those ``project`` owns or that are
    public (None: all of them)."""
    query = select(oci_repositories.c.name)
    if project is not None:
        owned = select(package_names.c.key).where(
            package_names.c.namespace == NAMESPACE, package_names.c.owner == project
        )
        query = query.where(
            oci_repositories.c.name.in_(owned) | (oci_repositories.c.visibility == "public")
        )
    if last is not None:
        query = query.where(oci_repositories.c.name > last)
    rows = connection.execute(query.order_by(oci_repositories.c.name).limit(limit))
    return list(rows.scalars())


def find_blob(connection: Connection, repository: str, digest: str) -> LinkedBlob | None:
    row = connection.execute(
        select(
            oci_blob_links.c.digest,
            oci_blob_links.c.size,
            oci_blob_links.c.blob_id,
            blobs.c.store,
            blobs.c.key,
        )
        .join(blobs, blobs.c.id == oci_blob_links.c.blob_id)
        .where(oci_blob_links.c.repository == repository, oci_blob_links.c.digest == digest)
    ).first()
    return None if row is None else LinkedBlob(*row)


def missing_blobs(connection: Connection, repository: str, digests: Sequence[str]) -> list[str]:
    """Those of ``digests`` the repository holds no blob of. The links found are locked
    (shared) until the transaction ends: garbage collection, which locks a link before it
    removes it, then waits for the manifest naming it, or has removed it already and this
    sees it missing. Never a manifest naming a blob gone."""
    return _missing(connection, oci_blob_links, repository, digests, lock=True)


def link_blob(
    connection: Connection,
    repository: str,
    digest: str,
    blob_id: int,
    size: int,
    moment: datetime,
) -> bool:
    """Link a blob holding a reference for it to the repository; False when the
    repository holds that digest already (the caller drops the reference). A link pushed
    again is as new: garbage collection's grace starts over for the manifest to come."""
    try:
        with connection.begin_nested():
            connection.execute(
                insert(oci_blob_links).values(
                    repository=repository,
                    digest=digest,
                    blob_id=blob_id,
                    size=size,
                    created_at=moment,
                )
            )
    except IntegrityError:
        connection.execute(
            update(oci_blob_links)
            .where(oci_blob_links.c.repository == repository, oci_blob_links.c.digest == digest)
            .values(created_at=moment)
        )
        return False
    return True


def unlink_blob(connection: Connection, repository: str, digest: str) -> int | None:
    """Remove the link; the blob it referenced (None: there was none)."""
    blob_id = connection.execute(
        delete(oci_blob_links)
        .where(oci_blob_links.c.repository == repository, oci_blob_links.c.digest == digest)
        .returning(oci_blob_links.c.blob_id)
    ).scalar()
    return None if blob_id is None else int(blob_id)


def unlink_all(connection: Connection, repository: str) -> list[int]:
    """Remove every link of the repository; the blobs they referenced."""
    return [
        int(blob_id)
        for blob_id in connection.execute(
            delete(oci_blob_links)
            .where(oci_blob_links.c.repository == repository)
            .returning(oci_blob_links.c.blob_id)
        ).scalars()
    ]


def find_manifest(connection: Connection, repository: str, digest: str) -> Manifest | None:
    row = connection.execute(
        select(
            oci_manifests.c.digest,
            oci_manifests.c.media_type,
            oci_manifests.c.content,
            oci_manifests.c.artifact_type,
        ).where(oci_manifests.c.repository == repository, oci_manifests.c.digest == digest)
    ).first()
    return None if row is None else Manifest(row[0], row[1], bytes(row[2]), row[3])


def missing_manifests(connection: Connection, repository: str, digests: Sequence[str]) -> list[str]:
    """Those of ``digests`` the repository holds no manifest of."""
    return _missing(connection, oci_manifests, repository, digests)


def _missing(
    connection: Connection,
    table: Table,
    repository: str,
    digests: Sequence[str],
    lock: bool = False,
) -> list[str]:
    """Those of ``digests`` that ``table`` (keyed by repository and digest) lacks, in order;
    ``lock``: the rows found locked, shared (PostgreSQL; SQLite's writers take turns)."""
    if not digests:
        return []
    query = select(table.c.digest).where(
        table.c.repository == repository, table.c.digest.in_(set(digests))
    )
    if lock:  # in digest order, as collection locks them: no deadlock between the two
        query = query.order_by(table.c.digest).with_for_update(read=True)
    held = set(connection.execute(query).scalars())
    return [digest for digest in digests if digest not in held]


def put_manifest(
    connection: Connection,
    repository: str,
    manifest: Manifest,
    subject: str | None,
    moment: datetime,
    named: Sequence[str] = (),
) -> None:
    """Record the manifest and the blobs it names (the same bytes again change nothing)."""
    try:
        with connection.begin_nested():
            connection.execute(
                insert(oci_manifests).values(
                    repository=repository,
                    digest=manifest.digest,
                    media_type=manifest.media_type,
                    content=manifest.content,
                    size=len(manifest.content),
                    subject=subject,
                    artifact_type=manifest.artifact_type,
                    created_at=moment,
                )
            )
    except IntegrityError:
        return  # content-addressed: the row there holds these very bytes, and its blobs
    if named:
        connection.execute(
            insert(oci_manifest_blobs),
            [{"repository": repository, "manifest": manifest.digest, "digest": digest}
             for digest in sorted(set(named))],
        )  # fmt: skip


def delete_manifest(connection: Connection, repository: str, digest: str) -> bool:
    """Remove the manifest, the tags naming it and its record of the blobs it names;
    False when there was none."""
    connection.execute(
        delete(oci_manifest_blobs).where(
            oci_manifest_blobs.c.repository == repository, oci_manifest_blobs.c.manifest == digest
        )
    )
    result = connection.execute(
        delete(oci_manifests).where(
            oci_manifests.c.repository == repository, oci_manifests.c.digest == digest
        )
    )
    connection.execute(
        delete(oci_tags).where(oci_tags.c.repository == repository, oci_tags.c.digest == digest)
    )
    return result.rowcount > 0


def referrers(connection: Connection, repository: str, subject: str) -> list[Manifest]:
    rows = connection.execute(
        select(
            oci_manifests.c.digest,
            oci_manifests.c.media_type,
            oci_manifests.c.content,
            oci_manifests.c.artifact_type,
        )
        .where(oci_manifests.c.repository == repository, oci_manifests.c.subject == subject)
        .order_by(oci_manifests.c.digest)
    )
    return [Manifest(row[0], row[1], bytes(row[2]), row[3]) for row in rows]


def set_tag(
    connection: Connection, repository: str, tag: str, digest: str, moment: datetime
) -> None:
    updated = connection.execute(
        update(oci_tags)
        .where(oci_tags.c.repository == repository, oci_tags.c.tag == tag)
        .values(digest=digest, updated_at=moment)
    )
    if updated.rowcount:
        return
    try:
        with connection.begin_nested():
            connection.execute(
                insert(oci_tags).values(
                    repository=repository, tag=tag, digest=digest, updated_at=moment
                )
            )
    except IntegrityError:  # set by another request meanwhile: the later one wins
        connection.execute(
            update(oci_tags)
            .where(oci_tags.c.repository == repository, oci_tags.c.tag == tag)
            .values(digest=digest, updated_at=moment)
        )


def delete_tag(connection: Connection, repository: str, tag: str) -> None:
    connection.execute(
        delete(oci_tags).where(oci_tags.c.repository == repository, oci_tags.c.tag == tag)
    )


def find_tag(connection: Connection, repository: str, tag: str) -> str | None:
    digest = connection.execute(
        select(oci_tags.c.digest).where(oci_tags.c.repository == repository, oci_tags.c.tag == tag)
    ).scalar()
    return None if digest is None else str(digest)


def list_tags(connection: Connection, repository: str, last: str | None, limit: int) -> list[str]:
    query = select(oci_tags.c.tag).where(oci_tags.c.repository == repository)
    if last is not None:
        query = query.where(oci_tags.c.tag > last)
    return list(connection.execute(query.order_by(oci_tags.c.tag).limit(limit)).scalars())


def insert_upload(connection: Connection, upload: Upload, moment: datetime) -> None:
    connection.execute(
        insert(oci_uploads).values(
            id=upload.id,
            repository=upload.repository,
            project=upload.project,
            store=upload.store,
            size=upload.size,
            parts=upload.parts,
            created_at=moment,
            updated_at=moment,
        )
    )


def find_upload(connection: Connection, upload_id: str) -> Upload | None:
    row = connection.execute(
        select(
            oci_uploads.c.id,
            oci_uploads.c.repository,
            oci_uploads.c.project,
            oci_uploads.c.store,
            oci_uploads.c.size,
            oci_uploads.c.parts,
        ).where(oci_uploads.c.id == upload_id)
    ).first()
    return None if row is None else Upload(*row)


def add_part(
    connection: Connection,
    upload: Upload,
    part: blob_queries.Blob,
    digests: Digests,
    moment: datetime,
) -> bool:
    """Append a part at the offset the upload was at; False when another request
    appended one first (the offsets of the two would clash)."""
    moved = connection.execute(
        update(oci_uploads)
        .where(
            oci_uploads.c.id == upload.id,
            oci_uploads.c.parts == upload.parts,
            oci_uploads.c.parts != FINISHING,
        )
        .values(parts=upload.parts + 1, size=upload.size + digests.size, updated_at=moment)
    )
    if not moved.rowcount:
        return False
    connection.execute(
        insert(oci_upload_parts).values(
            upload_id=upload.id, number=upload.parts, blob_id=part.id, size=digests.size
        )
    )
    # Its digests, while it is pending (only ready blobs are unique by sha256): an upload
    # of one part becomes its blob as it is, never copied.
    connection.execute(
        update(blobs)
        .where(blobs.c.id == part.id)
        .values(size=digests.size, sha256=digests.sha256, checksum=digests.md5)
    )
    touch_upload(connection, upload.id, moment)
    return True


def claim_writer(
    connection: Connection, upload: Upload, token: str, until: datetime, now: datetime
) -> bool:
    """The upload held by the request writing its next chunk in place, as it was read;
    False when another holds it or moved it on."""
    claimed = connection.execute(
        update(oci_uploads)
        .where(
            oci_uploads.c.id == upload.id,
            oci_uploads.c.parts == upload.parts,
            oci_uploads.c.parts != FINISHING,
            or_(oci_uploads.c.writer.is_(None), oci_uploads.c.writer_until < now),
        )
        .values(writer=token, writer_until=until)
    )
    return claimed.rowcount > 0


def release_writer(connection: Connection, upload_id: str, token: str) -> None:
    connection.execute(
        update(oci_uploads)
        .where(oci_uploads.c.id == upload_id, oci_uploads.c.writer == token)
        .values(writer=None, writer_until=None)
    )


def touch_upload(connection: Connection, upload_id: str, moment: datetime) -> None:
    """A sign of life of the upload and of its parts (pending blobs): recovery leaves them
    while the upload goes on, and removes them once it stops for upload_stuck_after."""
    connection.execute(
        update(oci_uploads).where(oci_uploads.c.id == upload_id).values(updated_at=moment)
    )
    connection.execute(
        update(blobs)
        .where(blobs.c.id.in_(select(oci_upload_parts.c.blob_id).where(
            oci_upload_parts.c.upload_id == upload_id
        )))
        .values(updated_at=moment)
    )  # fmt: skip


def touch_chunk(
    connection: Connection,
    upload_id: str,
    blob_id: int,
    moment: datetime,
    writer: str | None = None,
    until: datetime | None = None,
) -> None:
    """A sign of life of a chunk being received: its upload and the upload's parts, the
    chunk's own pending blob (not a part until it is whole), and the writer's hold on an
    upload appended in place (``writer``), renewed to ``until``."""
    touch_upload(connection, upload_id, moment)
    blob_queries.touch(connection, blob_id, moment)
    if writer is not None:
        connection.execute(
            update(oci_uploads)
            .where(oci_uploads.c.id == upload_id, oci_uploads.c.writer == writer)
            .values(writer_until=until)
        )


def expire_uploads(connection: Connection, before: datetime) -> list[blob_queries.Blob]:
    """Forget the uploads that showed no sign of life since ``before``; their parts'
    blobs, doomed, for their bytes to be removed."""
    idle = connection.execute(
        select(oci_uploads.c.id).where(oci_uploads.c.updated_at < before)
    ).scalars()
    return [blob for upload_id in list(idle) for blob in remove_upload(connection, upload_id)]


def claim_upload(connection: Connection, upload: Upload, now: datetime) -> bool:
    """Mark the upload as finishing, as it was read: no chunk may follow, and a second
    request finishing it fails; False when another request changed it first, or writes
    a chunk in place."""
    claimed = connection.execute(
        update(oci_uploads)
        .where(
            oci_uploads.c.id == upload.id,
            oci_uploads.c.parts == upload.parts,
            oci_uploads.c.parts != FINISHING,
            or_(oci_uploads.c.writer.is_(None), oci_uploads.c.writer_until < now),
        )
        .values(parts=FINISHING)
    )
    return claimed.rowcount > 0


def parts(connection: Connection, upload_id: str) -> list[Part]:
    rows = connection.execute(
        select(
            oci_upload_parts.c.number,
            oci_upload_parts.c.blob_id,
            blobs.c.store,
            blobs.c.key,
            oci_upload_parts.c.size,
            blobs.c.state,
            blobs.c.sha256,
            blobs.c.checksum,
        )
        .join(blobs, blobs.c.id == oci_upload_parts.c.blob_id)
        .where(oci_upload_parts.c.upload_id == upload_id)
        .order_by(oci_upload_parts.c.number)
    )
    return [Part(*row) for row in rows]


def remove_upload(connection: Connection, upload_id: str) -> list[blob_queries.Blob]:
    """Forget the upload; its parts' blobs, doomed, for their bytes to be removed."""
    part_ids = [part.blob_id for part in parts(connection, upload_id)]
    connection.execute(delete(oci_upload_parts).where(oci_upload_parts.c.upload_id == upload_id))
    connection.execute(delete(oci_uploads).where(oci_uploads.c.id == upload_id))
    return blob_queries.doom_pending(connection, part_ids)


# Garbage collection, usage and listing


@dataclass(frozen=True, slots=True)
class Link:
    """A repository's link to a blob."""

    repository: str
    digest: str
    blob_id: int
    size: int


def unnamed_links(
    connection: Connection, before: datetime, after: tuple[str, str] | None, limit: int
) -> list[Link]:
    """Links made before ``before`` that no manifest of their repository names, in order
    of repository and digest after ``after``."""
    named = exists().where(
        oci_manifest_blobs.c.repository == oci_blob_links.c.repository,
        oci_manifest_blobs.c.digest == oci_blob_links.c.digest,
    )
    query = select(
        oci_blob_links.c.repository,
        oci_blob_links.c.digest,
        oci_blob_links.c.blob_id,
        oci_blob_links.c.size,
    ).where(oci_blob_links.c.created_at < before, ~named)
    if after is not None:
        query = query.where(
            tuple_(oci_blob_links.c.repository, oci_blob_links.c.digest) > tuple_(*after)
        )
    query = query.order_by(oci_blob_links.c.repository, oci_blob_links.c.digest).limit(limit)
    return [Link(*row) for row in connection.execute(query)]


def unlink_unnamed(connection: Connection, links: Sequence[Link], before: datetime) -> list[Link]:
    """Remove those of ``links`` that are still unnamed and older than ``before``; the
    links removed (their blobs' references are the caller's to drop, in this transaction).

    Each link is locked first (in digest order, as a manifest's check locks them), and the
    manifests naming it are read after: on PostgreSQL (read committed) that read sees a
    manifest committed while the lock was awaited."""
    removed: list[Link] = []
    by_repository: dict[str, list[str]] = {}
    for link in links:
        by_repository.setdefault(link.repository, []).append(link.digest)
    for repository, digests in by_repository.items():
        locked = connection.execute(
            select(oci_blob_links.c.digest, oci_blob_links.c.blob_id, oci_blob_links.c.size)
            .where(
                oci_blob_links.c.repository == repository,
                oci_blob_links.c.digest.in_(digests),
                oci_blob_links.c.created_at < before,
            )
            .order_by(oci_blob_links.c.digest)
            .with_for_update()
        ).all()
        if not locked:
            continue
        named = set(
            connection.execute(
                select(oci_manifest_blobs.c.digest).where(
                    oci_manifest_blobs.c.repository == repository,
                    oci_manifest_blobs.c.digest.in_([row.digest for row in locked]),
                )
            ).scalars()
        )
        doomed = [row for row in locked if row.digest not in named]
        if not doomed:
            continue
        connection.execute(
            delete(oci_blob_links).where(
                oci_blob_links.c.repository == repository,
                oci_blob_links.c.digest.in_([row.digest for row in doomed]),
            )
        )
        removed += [Link(repository, row.digest, row.blob_id, row.size) for row in doomed]
    return removed


def references(connection: Connection, blob_ids: Sequence[int]) -> dict[int, int]:
    """How many references each blob has (a dry run tells from it which bytes would go)."""
    if not blob_ids:
        return {}
    rows = connection.execute(
        select(blobs.c.id, blobs.c.refcount).where(blobs.c.id.in_(set(blob_ids)))
    )
    return {int(row.id): int(row.refcount) for row in rows}


def _owned(project: str) -> Any:
    return select(package_names.c.key).where(
        package_names.c.namespace == NAMESPACE, package_names.c.owner == project
    )


def project_bytes(connection: Connection, project: str) -> int:
    """The bytes of the blobs ``project``'s repositories hold, each blob once however many
    of its repositories hold it."""
    held = (
        select(oci_blob_links.c.blob_id, func.max(oci_blob_links.c.size).label("size"))
        .where(oci_blob_links.c.repository.in_(_owned(project)))
        .group_by(oci_blob_links.c.blob_id)
        .subquery()
    )
    return int(connection.execute(select(func.coalesce(func.sum(held.c.size), 0))).scalar_one())


def holds_digest(connection: Connection, project: str, digest: str) -> bool:
    """Whether one of ``project``'s repositories holds a blob of that digest."""
    return _holds(connection, project, oci_blob_links.c.digest == digest)


def holds_blob(connection: Connection, project: str, blob_id: int) -> bool:
    """Whether one of ``project``'s repositories holds the blob (it then costs nothing more)."""
    return _holds(connection, project, oci_blob_links.c.blob_id == blob_id)


def _holds(connection: Connection, project: str, link: ColumnElement[bool]) -> bool:
    owned = oci_blob_links.c.repository.in_(_owned(project))
    found = select(oci_blob_links.c.blob_id).where(owned, link).limit(1)
    return connection.execute(found).first() is not None


@dataclass(frozen=True, slots=True)
class RepositorySummary:
    name: str
    owner: str
    visibility: str
    created_at: datetime
    size: int  # the bytes of the blobs it holds
    blobs: int
    tags: int


def summary(connection: Connection, project: str | None, name: str) -> RepositorySummary | None:
    """The repository ``name`` if ``project`` owns it (None: whoever does)."""
    found = summaries(connection, project, None, 1, name)
    return found[0] if found else None


def summaries(
    connection: Connection,
    project: str | None,
    last: str | None,
    limit: int,
    name: str | None = None,
) -> list[RepositorySummary]:
    """The repositories ``project`` owns (None: every one), by name after ``last`` (or the
    one named ``name``), with what they hold."""
    size = (
        select(func.coalesce(func.sum(oci_blob_links.c.size), 0))
        .where(oci_blob_links.c.repository == oci_repositories.c.name)
        .scalar_subquery()
    )
    count = (
        select(func.count())
        .where(oci_blob_links.c.repository == oci_repositories.c.name)
        .scalar_subquery()
    )
    tags = (
        select(func.count())
        .where(oci_tags.c.repository == oci_repositories.c.name)
        .scalar_subquery()
    )
    query = select(
        oci_repositories.c.name,
        package_names.c.owner,
        oci_repositories.c.visibility,
        oci_repositories.c.created_at,
        size,
        count,
        tags,
    ).join(
        package_names,
        (package_names.c.namespace == NAMESPACE) & (package_names.c.key == oci_repositories.c.name),
    )
    if project is not None:
        query = query.where(package_names.c.owner == project)
    if last is not None:
        query = query.where(oci_repositories.c.name > last)
    if name is not None:
        query = query.where(oci_repositories.c.name == name)
    rows = connection.execute(query.order_by(oci_repositories.c.name).limit(limit))
    return [
        RepositorySummary(row[0], row[1], row[2], row[3], int(row[4]), int(row[5]), int(row[6]))
        for row in rows
    ]
