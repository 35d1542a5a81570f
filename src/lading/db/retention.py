"""Queries of retention: policies, the artifacts they look at, the steps taken, and when
each artifact's data was last served. Every function takes the ``Connection`` of the
transaction it runs in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    false,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.engine import RowMapping

from lading.db.models import (
    artifact_tags,
    artifacts,
    blobs,
    locations,
    package_images,
    retention_marks,
    retention_policies,
)
from lading.domain import GONE, RetentionKind, RetentionPolicy, Status

RETAINABLE = (Status.ACTIVE, Status.DEACTIVATED)  # what retention looks at: data kept
CHUNK = 500  # ids per IN list: SQLite bounds a statement's parameters


class Step:
    """What retention did to an artifact so far (``retention_marks.step``)."""

    SCHEDULED = "scheduled"
    HIDDEN = "hidden"
    DEACTIVATED = "deactivated"


@dataclass(frozen=True, slots=True)
class Mark:
    step: str
    step_at: datetime
    hid: bool
    deactivated: bool
    policy_id: str | None


@dataclass(frozen=True, slots=True)
class Candidate:
    """An artifact as retention weighs it."""

    id: str
    owner: str
    name: str | None
    version: str | None
    version_key: bytes | None
    is_package: bool
    status: Status
    os_hidden: bool
    protected: bool
    size: int | None
    created_at: datetime
    last_downloaded_at: datetime | None
    kept_by_tag: bool
    linked: bool  # a live package brought it (package_images)
    mark: Mark | None


@dataclass(frozen=True, slots=True)
class Share:
    """One of an artifact's stored objects: its size and how many references it has."""

    artifact_id: str
    blob_id: int
    size: int
    refcount: int


def insert_policy(connection: Connection, policy: RetentionPolicy) -> None:
    row = {field: getattr(policy, field) for field in retention_policies.c.keys()}  # noqa: SIM118
    row["kind"] = policy.kind.value
    connection.execute(insert(retention_policies).values(row))


def list_policies(connection: Connection, project: str | None = None) -> list[RetentionPolicy]:
    """The policies of ``project`` (every project's for None), oldest first."""
    query = select(retention_policies).order_by(
        retention_policies.c.created_at, retention_policies.c.id
    )
    if project is not None:
        query = query.where(retention_policies.c.project == project)
    return [_policy(row) for row in connection.execute(query).mappings()]


def fetch_policy(connection: Connection, policy_id: str) -> RetentionPolicy | None:
    row = (
        connection.execute(select(retention_policies).where(retention_policies.c.id == policy_id))
        .mappings()
        .first()
    )
    return None if row is None else _policy(row)


def delete_policy(connection: Connection, policy_id: str) -> bool:
    result = connection.execute(
        delete(retention_policies).where(retention_policies.c.id == policy_id)
    )
    return result.rowcount == 1


def _policy(row: RowMapping) -> RetentionPolicy:
    values = dict(row)
    values["kind"] = RetentionKind(values["kind"])
    return RetentionPolicy(**values)


def _keep_tag(tag: str) -> ColumnElement[bool]:
    return exists().where(artifact_tags.c.artifact_id == artifacts.c.id, artifact_tags.c.tag == tag)


def _linked() -> ColumnElement[bool]:
    """A live package brought the artifact (an OSM package's image): it is in use."""
    package = artifacts.alias("package")
    return exists().where(
        package_images.c.image_id == artifacts.c.id,
        package.c.id == package_images.c.artifact_id,
        package.c.status.not_in(GONE),
    )


# Built once: SQLAlchemy does not cache the compiled form of these correlated subqueries,
# and compiling it for each artifact took 1.4 ms, ten times the query's own time.
STILL_RETIRABLE = select(artifacts.c.id).where(
    artifacts.c.id == bindparam("artifact_id"),
    artifacts.c.status.in_(list(RETAINABLE)),
    artifacts.c.protected == false(),
    or_(
        artifacts.c.last_downloaded_at.is_(None),
        artifacts.c.last_downloaded_at < bindparam("used_since"),
    ),
    ~exists().where(
        artifact_tags.c.artifact_id == artifacts.c.id,
        artifact_tags.c.tag == bindparam("keep_tag"),
    ),
    ~_linked(),
)


def candidates(
    connection: Connection, projects: Collection[str], keep_tag: str, marked_too: bool
) -> list[Candidate]:
    """The artifacts with data of ``projects``, and (``marked_too``) any artifact retention
    has a mark on, whoever owns it: a mark left by a policy since deleted is undone."""
    owned = artifacts.c.owner.in_(list(projects)) if projects else false()
    scope = or_(owned, retention_marks.c.artifact_id.is_not(None)) if marked_too else owned
    query = (
        select(
            artifacts.c.id,
            artifacts.c.owner,
            artifacts.c.name,
            artifacts.c.version,
            artifacts.c.version_key,
            artifacts.c.filename,
            artifacts.c.status,
            artifacts.c.os_hidden,
            artifacts.c.protected,
            artifacts.c.size,
            artifacts.c.created_at,
            artifacts.c.last_downloaded_at,
            _keep_tag(keep_tag).label("kept_by_tag"),
            _linked().label("linked"),
            retention_marks.c.step,
            retention_marks.c.step_at,
            retention_marks.c.hid,
            retention_marks.c.deactivated,
            retention_marks.c.policy_id,
        )
        .select_from(artifacts.outerjoin(retention_marks))
        .where(artifacts.c.status.in_(list(RETAINABLE)), scope)
        .order_by(artifacts.c.id)
    )
    return [_candidate(row) for row in connection.execute(query).mappings()]


def _candidate(row: RowMapping) -> Candidate:
    mark = None
    if row["step"] is not None:
        mark = Mark(
            row["step"], row["step_at"], bool(row["hid"]), bool(row["deactivated"]),
            row["policy_id"],
        )  # fmt: skip
    return Candidate(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        version=row["version"],
        version_key=row["version_key"],
        is_package=row["filename"] is not None,
        status=Status(row["status"]),
        os_hidden=bool(row["os_hidden"]),
        protected=bool(row["protected"]),
        size=row["size"],
        created_at=row["created_at"],
        last_downloaded_at=row["last_downloaded_at"],
        kept_by_tag=bool(row["kept_by_tag"]),
        linked=bool(row["linked"]),
        mark=mark,
    )


def shares(connection: Connection, artifact_ids: Sequence[str]) -> list[Share]:
    """The stored objects of these artifacts that hold bytes lading keeps (not external
    locations, which have no digests and whose bytes are not lading's to free)."""
    found: list[Share] = []
    for chunk in _chunks(artifact_ids):
        rows = connection.execute(
            select(locations.c.artifact_id, blobs.c.id, blobs.c.size, blobs.c.refcount)
            .join(blobs, blobs.c.id == locations.c.blob_id)
            .where(locations.c.artifact_id.in_(chunk), blobs.c.sha256.is_not(None))
        )
        found.extend(Share(row[0], row[1], row[2] or 0, row[3]) for row in rows)
    return found


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def still_retirable(
    connection: Connection, artifact_id: str, keep_tag: str, used_since: datetime
) -> bool:
    """In the step's own transaction: the artifact still has data and nothing keeps it
    whatever the policies say (protected, tagged, downloaded lately, brought by a
    package). What may have changed since the plan was made is looked at again here."""
    values = {"artifact_id": artifact_id, "keep_tag": keep_tag, "used_since": used_since}
    return connection.execute(STILL_RETIRABLE, values).first() is not None


def schedule(
    connection: Connection,
    artifact_id: str,
    policy_id: str | None,
    now: datetime,
    carried: Mark | None = None,
) -> None:
    """Retention begins with the artifact (again: ``carried`` is the mark of a course
    someone undid, or another run began meanwhile). What that course did and still shows
    stays retention's own to undo: hidden, deactivated."""
    hid = deactivated = False
    if carried is not None:
        row = connection.execute(
            select(artifacts.c.os_hidden, artifacts.c.status).where(artifacts.c.id == artifact_id)
        ).first()
        if row is not None:
            hid = carried.hid and bool(row[0])
            deactivated = carried.deactivated and row[1] == Status.DEACTIVATED
    forget(connection, [artifact_id])
    values = {"artifact_id": artifact_id, "step": Step.SCHEDULED, "step_at": now,
              "hid": hid, "deactivated": deactivated, "policy_id": policy_id}  # fmt: skip
    connection.execute(insert(retention_marks).values(values))


def hide(connection: Connection, artifact_id: str, now: datetime) -> bool:
    """Hide the artifact (``os_hidden``) and mark it hidden; whether retention hid it now
    (an artifact hidden already was hidden by someone else, or by retention before)."""
    hid = (
        connection.execute(
            update(artifacts)
            .where(artifacts.c.id == artifact_id, artifacts.c.os_hidden == false())
            .values(os_hidden=True, updated_at=now)
        ).rowcount
        == 1
    )
    values: dict[str, object] = {"step": Step.HIDDEN, "step_at": now}
    if hid:
        values["hid"] = True
    connection.execute(
        update(retention_marks).where(retention_marks.c.artifact_id == artifact_id).values(values)
    )
    return hid


def deactivate(connection: Connection, artifact_id: str, now: datetime) -> bool:
    """Deactivate the artifact and mark it so; whether retention deactivated it now."""
    deactivated = (
        connection.execute(
            update(artifacts)
            .where(artifacts.c.id == artifact_id, artifacts.c.status == Status.ACTIVE)
            .values(status=Status.DEACTIVATED, updated_at=now)
        ).rowcount
        == 1
    )
    values: dict[str, object] = {"step": Step.DEACTIVATED, "step_at": now}
    if deactivated:
        values["deactivated"] = True
    connection.execute(
        update(retention_marks).where(retention_marks.c.artifact_id == artifact_id).values(values)
    )
    return deactivated


def restore(connection: Connection, artifact_id: str, mark: Mark, now: datetime) -> bool:
    """Undo what retention itself did (shown again, reactivated) and forget the mark;
    whether anything was undone."""
    undone = False
    if mark.hid:
        undone |= _set(connection, artifact_id, artifacts.c.os_hidden == true(), os_hidden=False)
    if mark.deactivated:
        undone |= _set(
            connection, artifact_id, artifacts.c.status == Status.DEACTIVATED,
            status=Status.ACTIVE,
        )  # fmt: skip
    if undone:
        connection.execute(
            update(artifacts).where(artifacts.c.id == artifact_id).values(updated_at=now)
        )
    forget(connection, [artifact_id])
    return undone


def _set(
    connection: Connection, artifact_id: str, when: ColumnElement[bool], **values: object
) -> bool:
    result = connection.execute(
        update(artifacts).where(artifacts.c.id == artifact_id, when).values(**values)
    )
    return result.rowcount == 1


def forget(connection: Connection, artifact_ids: Sequence[str]) -> None:
    for chunk in _chunks(artifact_ids):
        connection.execute(delete(retention_marks).where(retention_marks.c.artifact_id.in_(chunk)))


def forget_gone(connection: Connection) -> int:
    """Marks of artifacts that went otherwise (deleted by someone): nothing left to undo."""
    gone = select(artifacts.c.id).where(artifacts.c.status.not_in(list(RETAINABLE)))
    result = connection.execute(
        delete(retention_marks).where(retention_marks.c.artifact_id.in_(gone))
    )
    return result.rowcount


def record_downloads(
    connection: Connection, served: Mapping[str, datetime], written_before: datetime
) -> int:
    """Each artifact's last download, unless another process wrote one since
    ``written_before``: so that N processes serving one artifact write it about once per
    interval between them; how many rows were written."""
    if not served:
        return 0
    statement = (
        update(artifacts)
        .where(
            artifacts.c.id == bindparam("artifact_id"),
            or_(
                artifacts.c.last_downloaded_at.is_(None),
                and_(
                    artifacts.c.last_downloaded_at < bindparam("before"),
                    artifacts.c.last_downloaded_at < bindparam("at"),
                ),
            ),
        )
        .values(last_downloaded_at=bindparam("at"))
        .execution_options(synchronize_session=False)
    )
    rows = [
        {"artifact_id": artifact_id, "at": moment, "before": written_before}
        for artifact_id, moment in served.items()
    ]
    result = connection.execute(statement, rows)
    return max(result.rowcount, 0)


def last_downloaded(connection: Connection, artifact_id: str) -> datetime | None:
    return connection.execute(
        select(artifacts.c.last_downloaded_at).where(artifacts.c.id == artifact_id)
    ).scalar()


def mark_of(connection: Connection, artifact_id: str) -> Mark | None:
    row = (
        connection.execute(
            select(retention_marks).where(retention_marks.c.artifact_id == artifact_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return Mark(row["step"], row["step_at"], row["hid"], row["deactivated"], row["policy_id"])
