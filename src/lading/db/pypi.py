"""Queries on the Python package index's tables: indexes made through the API and the
files of every index (``lading.services.pypi`` holds their rules).

Every function takes the ``Connection`` of its transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from lading.db.models import (
    blobs,
    package_name_publishers,
    package_names,
    pypi_burned_files,
    pypi_files,
    pypi_indexes,
    pypi_projects,
)

NAMESPACE_PREFIX = "pypi:"  # a project's name is a package name of its index's namespace


def namespace(index: str) -> str:
    return NAMESPACE_PREFIX + index


@dataclass(frozen=True, slots=True)
class IndexRow:
    name: str
    owner: str
    visibility: str
    bases: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FileRow:
    """A file as the simple pages show it."""

    filename: str
    version: str
    filetype: str
    size: int
    sha256: str
    requires_python: str | None
    core_metadata_sha256: str | None
    yanked: bool
    yanked_reason: str | None
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class NewFile:
    index: str
    filename: str
    project: str
    version: str
    filetype: str
    python_version: str
    requires_python: str | None
    size: int
    sha256: str
    md5: str
    core_metadata: bytes | None
    core_metadata_sha256: str | None
    uploader: str


@dataclass(frozen=True, slots=True)
class StoredFile:
    """Where a file's bytes lie."""

    filename: str
    size: int
    sha256: str
    blob_id: int
    store: str
    key: str
    uploaded_at: datetime


FILE_COLUMNS = (
    pypi_files.c.filename,
    pypi_files.c.version,
    pypi_files.c.filetype,
    pypi_files.c.size,
    pypi_files.c.sha256,
    pypi_files.c.requires_python,
    pypi_files.c.core_metadata_sha256,
    pypi_files.c.yanked,
    pypi_files.c.yanked_reason,
    pypi_files.c.uploaded_at,
)


def find_index(connection: Connection, name: str) -> IndexRow | None:
    row = connection.execute(select(pypi_indexes).where(pypi_indexes.c.name == name)).first()
    if row is None:
        return None
    return IndexRow(row.name, row.owner, row.visibility, tuple(json.loads(row.bases)))


def list_indexes(connection: Connection) -> list[IndexRow]:
    rows = connection.execute(select(pypi_indexes).order_by(pypi_indexes.c.name))
    return [IndexRow(r.name, r.owner, r.visibility, tuple(json.loads(r.bases))) for r in rows]


def put_index(connection: Connection, index: IndexRow, moment: datetime) -> None:
    """Record an index, or change the one of that name."""
    values = {
        "owner": index.owner,
        "visibility": index.visibility,
        "bases": json.dumps(index.bases),
    }
    changed = connection.execute(
        update(pypi_indexes).where(pypi_indexes.c.name == index.name).values(**values)
    )
    if changed.rowcount == 0:
        connection.execute(
            insert(pypi_indexes).values(name=index.name, created_at=moment, **values)
        )


def delete_index(connection: Connection, name: str) -> bool:
    return connection.execute(delete(pypi_indexes).where(pypi_indexes.c.name == name)).rowcount > 0


def forget_names(connection: Connection, index: str) -> None:
    """The names of a removed index's projects: a new index of its name starts empty."""
    for table in (package_name_publishers, package_names):
        connection.execute(delete(table).where(table.c.namespace == namespace(index)))
    connection.execute(delete(pypi_projects).where(pypi_projects.c.index_name == index))
    connection.execute(delete(pypi_burned_files).where(pypi_burned_files.c.index_name == index))


def has_files(connection: Connection, index: str) -> bool:
    query = select(pypi_files.c.filename).where(pypi_files.c.index_name == index).limit(1)
    return connection.execute(query).first() is not None


def project_names(connection: Connection, index: str) -> list[str]:
    """The projects of an index (their names, as their first upload wrote them)."""
    query = select(package_names.c.name).where(package_names.c.namespace == namespace(index))
    return list(connection.execute(query.order_by(package_names.c.key)).scalars())


def has_project(connection: Connection, index: str, project: str) -> bool:
    query = select(package_names.c.key).where(
        package_names.c.namespace == namespace(index), package_names.c.key == project
    )
    return connection.execute(query).first() is not None


def first_holder(connection: Connection, indexes: list[str], project: str) -> str | None:
    """Of ``indexes`` (in order), the first that has the project: one query for the chain."""
    query = select(package_names.c.namespace).where(
        package_names.c.namespace.in_([namespace(index) for index in indexes]),
        package_names.c.key == project,
    )
    found = {row.removeprefix(NAMESPACE_PREFIX) for row in connection.execute(query).scalars()}
    return next((index for index in indexes if index in found), None)


def files(connection: Connection, index: str, project: str) -> list[FileRow]:
    rows = connection.execute(
        select(*FILE_COLUMNS)
        .where(pypi_files.c.index_name == index, pypi_files.c.project == project)
        .order_by(pypi_files.c.filename)
    )
    return [
        FileRow(name, version, kind, size, sha256, python, metadata, yanked, reason, uploaded)
        for name, version, kind, size, sha256, python, metadata, yanked, reason, uploaded in rows
    ]


def serial(connection: Connection, index: str, project: str) -> int:
    """The project's serial in the index: 0 before any change."""
    found = connection.execute(
        select(pypi_projects.c.serial).where(
            pypi_projects.c.index_name == index, pypi_projects.c.project == project
        )
    ).scalar()
    return int(found or 0)


def bump(connection: Connection, index: str, project: str) -> None:
    """One more to the project's serial, in the transaction that changes its files."""
    where = (pypi_projects.c.index_name == index) & (pypi_projects.c.project == project)
    for _ in range(2):  # a first change of the project made concurrently: count on it
        changed = connection.execute(
            update(pypi_projects).where(where).values(serial=pypi_projects.c.serial + 1)
        )
        if changed.rowcount:
            return
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(pypi_projects).values(index_name=index, project=project, serial=1)
                )
            return
        except IntegrityError:
            continue


def find_file(connection: Connection, index: str, project: str, filename: str) -> StoredFile | None:
    row = connection.execute(
        select(
            pypi_files.c.filename,
            pypi_files.c.size,
            pypi_files.c.sha256,
            pypi_files.c.blob_id,
            blobs.c.store,
            blobs.c.key,
            pypi_files.c.uploaded_at,
        )
        .join(blobs, blobs.c.id == pypi_files.c.blob_id)
        .where(
            pypi_files.c.index_name == index,
            pypi_files.c.project == project,
            pypi_files.c.filename == filename,
        )
    ).first()
    return None if row is None else StoredFile(**row._mapping)


def core_metadata(connection: Connection, index: str, project: str, filename: str) -> bytes | None:
    row = connection.execute(
        select(pypi_files.c.core_metadata).where(
            pypi_files.c.index_name == index,
            pypi_files.c.project == project,
            pypi_files.c.filename == filename,
        )
    ).first()
    return None if row is None else row.core_metadata


def file_exists(connection: Connection, index: str, filename: str) -> bool:
    query = select(pypi_files.c.filename).where(
        pypi_files.c.index_name == index, pypi_files.c.filename == filename
    )
    return connection.execute(query).first() is not None


def burn(connection: Connection, index: str, filenames: list[str], moment: datetime) -> None:
    """Record deleted files' names, never to be uploaded again (a name burned already stays)."""
    for filename in filenames:
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(pypi_burned_files).values(
                        index_name=index, filename=filename, deleted_at=moment
                    )
                )
        except IntegrityError:
            continue


def is_burned(connection: Connection, index: str, filename: str) -> bool:
    query = select(pypi_burned_files.c.filename).where(
        pypi_burned_files.c.index_name == index, pypi_burned_files.c.filename == filename
    )
    return connection.execute(query).first() is not None


def unburn(connection: Connection, index: str, filename: str) -> bool:
    """Let a deleted file's name be uploaded again: False when it was not burned."""
    gone = connection.execute(
        delete(pypi_burned_files).where(
            pypi_burned_files.c.index_name == index, pypi_burned_files.c.filename == filename
        )
    )
    return gone.rowcount > 0


def insert_file(connection: Connection, new: NewFile, blob_id: int, moment: datetime) -> bool:
    """Record a file; False when the index holds one of that name already."""
    try:
        with connection.begin_nested():
            connection.execute(
                insert(pypi_files).values(
                    index_name=new.index,
                    filename=new.filename,
                    project=new.project,
                    version=new.version,
                    filetype=new.filetype,
                    python_version=new.python_version,
                    requires_python=new.requires_python,
                    size=new.size,
                    sha256=new.sha256,
                    md5=new.md5,
                    blob_id=blob_id,
                    core_metadata=new.core_metadata,
                    core_metadata_sha256=new.core_metadata_sha256,
                    yanked=False,
                    uploader=new.uploader,
                    uploaded_at=moment,
                )
            )
    except IntegrityError:
        return False
    return True


def _chosen(index: str, project: str, version: str | None, filename: str | None) -> Any:
    condition = (pypi_files.c.index_name == index) & (pypi_files.c.project == project)
    if version is not None:
        condition &= pypi_files.c.version == version
    if filename is not None:
        condition &= pypi_files.c.filename == filename
    return condition


def chosen_files(
    connection: Connection,
    index: str,
    project: str,
    version: str | None = None,
    filename: str | None = None,
) -> list[FileRow]:
    """A project's files (of one version, or the one file), as the pages show them."""
    query = select(*FILE_COLUMNS).where(_chosen(index, project, version, filename))
    rows = connection.execute(query.order_by(pypi_files.c.filename))
    return [FileRow(**row._mapping) for row in rows]


def remove_files(
    connection: Connection, index: str, project: str, version: str | None, filename: str | None
) -> list[int]:
    """Remove a project's files (of one version, or the one file): their blobs' ids."""
    condition = _chosen(index, project, version, filename)
    removed = connection.execute(
        delete(pypi_files).where(condition).returning(pypi_files.c.blob_id)
    )
    return [int(blob_id) for blob_id in removed.scalars()]


def _owned_files(project: str) -> Select[tuple[int, int]]:
    """The blobs and sizes of the files of every index project ``project`` owns (the
    owner of a name pays for its files, whoever uploaded them). Driven from the owner's
    names: each gives its index and project, looked up by their index on the files."""
    index_of = func.substr(package_names.c.namespace, len(NAMESPACE_PREFIX) + 1)
    return (
        select(pypi_files.c.blob_id, pypi_files.c.size)
        .select_from(package_names)
        .join(
            pypi_files,
            (pypi_files.c.index_name == index_of) & (pypi_files.c.project == package_names.c.key),
        )
        .where(
            package_names.c.owner == project,
            package_names.c.namespace.startswith(NAMESPACE_PREFIX, autoescape=True),
        )
    )


def project_bytes(connection: Connection, project: str) -> int:
    """The bytes of the files of ``project``'s index projects, each blob once however many
    of its files (in one index or several) share it."""
    owned = _owned_files(project).subquery()
    held = (
        select(owned.c.blob_id, func.max(owned.c.size).label("size"))
        .group_by(owned.c.blob_id)
        .subquery()
    )
    return int(connection.execute(select(func.coalesce(func.sum(held.c.size), 0))).scalar_one())


def holds_blob(connection: Connection, project: str, blob_id: int) -> bool:
    """Whether a file of ``project``'s index projects has that blob (it costs nothing more)."""
    owned = _owned_files(project).where(pypi_files.c.blob_id == blob_id).limit(1)
    return connection.execute(owned).first() is not None


def holds_sha256(connection: Connection, project: str, sha256: str) -> bool:
    """Whether a file of ``project``'s index projects has those bytes (by their sha256)."""
    owned = _owned_files(project).where(pypi_files.c.sha256 == sha256).limit(1)
    return connection.execute(owned).first() is not None


def set_yanked(
    connection: Connection, index: str, project: str, version: str, yanked: bool, reason: str | None
) -> int:
    """Yank (or restore) every file of a release: how many there are."""
    result = connection.execute(
        update(pypi_files)
        .where(
            pypi_files.c.index_name == index,
            pypi_files.c.project == project,
            pypi_files.c.version == version,
        )
        .values(yanked=yanked, yanked_reason=reason if yanked else None)
    )
    return int(result.rowcount)
