"""Queries on packages: artifacts with a file name (``artifacts.filename``).

Every function takes the ``Connection`` of its transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from lading.db import artifacts as artifact_queries
from lading.db.listing import visible_to
from lading.db.models import artifacts
from lading.domain import GONE, ListQuery, Status
from lading.errors import Conflict, NotFound


def newest_versions(
    connection: Connection, viewer: str | None, recency: int
) -> list[tuple[str, str, str]]:
    """(name, version, file) of the ``recency`` newest versions of every package with
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
        clauses.append(visible_to(ListQuery(viewer=viewer)))
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
    return [(name, version, filename) for name, version, filename in rows]


def take_name(connection: Connection, artifact_id: str, filename: str, now: datetime) -> None:
    """Give an active artifact the package file name that its name and version make,
    replacing whatever package held it: a live one is deleted, a deleted one forgets it.
    The replaced data's blobs are left doomed, for recovery to remove. One transaction:
    a reader finds the old package or the new one, never neither."""
    artifact = artifact_queries.fetch_artifact(connection, artifact_id)
    if artifact is None or artifact.status is not Status.ACTIVE:
        raise NotFound(f"no active artifact with id {artifact_id}")
    holders = connection.execute(
        select(artifacts.c.id, artifacts.c.status).where(
            artifacts.c.filename == filename,
            artifacts.c.name == artifact.name,
            artifacts.c.version == artifact.version,
        )
    ).all()
    for holder, status in holders:
        if status not in GONE:
            artifact_queries.mark_deleted(connection, holder, now)
        connection.execute(update(artifacts).where(artifacts.c.id == holder).values(filename=None))
    try:
        with connection.begin_nested():
            connection.execute(
                update(artifacts)
                .where(artifacts.c.id == artifact_id)
                .values(filename=filename, updated_at=now)
            )
    except IntegrityError:  # another replacement of the same file committed meanwhile
        raise Conflict(f"{filename} was replaced by another upload meanwhile") from None
