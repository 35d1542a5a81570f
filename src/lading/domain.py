"""The artifact and its lifecycle: plain data shared by every layer."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Status(enum.StrEnum):
    QUEUED = "queued"
    SAVING = "saving"
    ACTIVE = "active"
    KILLED = "killed"
    DELETED = "deleted"
    UPLOADING = "uploading"
    IMPORTING = "importing"
    PENDING_DELETE = "pending_delete"
    DEACTIVATED = "deactivated"


# Deleted for everyone but the scrubber: pending_delete keeps its data a while (delayed
# delete), deleted has none.
GONE = (Status.DELETED, Status.PENDING_DELETE)


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    PRIVATE = "private"
    SHARED = "shared"
    COMMUNITY = "community"


DISK_FORMATS = (
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop", "gpt"
)  # fmt: skip
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
HASH_ALGO = "sha256"


@dataclass(frozen=True, slots=True)
class Digests:
    """The size and digests of some bytes, as an upload computes them."""

    size: int
    md5: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Location:
    """Where an artifact's bytes live: a stored object in a named store. An external
    location (bytes served elsewhere, registered by URL) has no digests lading made."""

    store: str
    key: str
    size: int
    checksum: str | None
    os_hash_value: str | None
    metadata: dict[str, Any] = field(default_factory=dict)  # a Glance client's, as given


@dataclass(slots=True)
class Artifact:
    """An image or a package: metadata, and at most one location per store."""

    id: str
    owner: str
    status: Status
    visibility: Visibility
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    version: str | None = None
    protected: bool = False
    os_hidden: bool = False
    disk_format: str | None = None
    container_format: str | None = None
    min_disk: int = 0
    min_ram: int = 0
    size: int | None = None
    virtual_size: int | None = None
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    published: bool = True
    filename: str | None = None  # packages: the file name the package faces serve
    deleted_at: datetime | None = None
    # Who made it (None: made before lading kept it): the caller's project, not always the
    # owner (an administrator may make an artifact for another project), and its user
    # when the identity names one (a Keystone token; lading's own tokens name none).
    created_by_project: str | None = None
    created_by: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Maker:
    """Who made something: a caller's project, and its user when the identity names one."""

    project: str
    user: str | None = None


class MemberStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class SortDir(enum.StrEnum):
    ASC = "asc"
    DESC = "desc"


SORT_KEYS = (
    "name", "status", "container_format", "disk_format", "size", "id", "created_at",
    "updated_at", "visibility", "owner", "min_disk", "min_ram", "virtual_size", "version",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TimeFilter:
    """``created_at``/``updated_at`` compared with an operator (gt, gte, lt, lte, eq, neq)."""

    field: str
    operator: str
    value: datetime


# A sort key naming a property rather than a field (VISoR sorts by any attribute). No
# index serves such an order: the listing sorts what its filters leave.
PROPERTY_SORT = "property:"


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a face asks to list, already validated: filters, order and page size. Who
    asks, and from which marker, the catalogue adds (``lading.db.listing.PageQuery``)."""

    fields: Mapping[str, Sequence[object]] = field(default_factory=dict)  # field -> any of
    properties: Mapping[str, Sequence[str]] = field(default_factory=dict)  # property -> any of
    tags: Sequence[str] = ()  # all of them
    name_contains: str | None = None  # a word in the name, any case (the web UI's search)
    stores: Sequence[str] = ()  # data in any of them
    size_min: int | None = None
    size_max: int | None = None
    times: Sequence[TimeFilter] = ()
    member_status: tuple[MemberStatus, ...] = (MemberStatus.ACCEPTED,)  # shared ones listed
    with_community: bool = False  # community artifacts of others are listed only on demand
    with_hidden: bool = False  # os_hidden ones too; else only when ``fields`` asks for them
    sort: Sequence[tuple[str, SortDir]] = ()
    limit: int = 25


class TaskStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(slots=True)
class Task:
    """Long work, kept in the database so that any process may run it and a restart
    does not lose it. ``done_bytes``/``total_bytes`` tell its progress."""

    id: str
    type: str
    status: TaskStatus
    owner: str
    input: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    artifact_id: str | None = None
    result: dict[str, Any] | None = None
    message: str = ""
    done_bytes: int = 0
    total_bytes: int | None = None
    attempts: int = 0
    expires_at: datetime | None = None
    events: list[dict[str, Any]] = field(default_factory=list)  # what happened, in order
    not_before: datetime | None = None  # a task tried again later waits until then
    # Which request made it (x-openstack-request-id) and whose user, when the identity
    # names one; its project is ``owner``. None for the server's own tasks.
    request_id: str | None = None
    user_id: str | None = None

    @property
    def shown_input(self) -> dict[str, Any]:
        """The input as anyone may see it: sealed secrets (``sealed_*``) left out."""
        return {key: value for key, value in self.input.items() if not key.startswith(SEALED)}


SEALED = "sealed_"  # task inputs that hold secrets, sealed (lading.services.sealing)


class EventType(enum.StrEnum):
    """What webhooks are told of (``lading.services.events``): once per change, whichever
    face made it."""

    ARTIFACT_CREATED = "artifact.created"
    ARTIFACT_ACTIVATED = "artifact.activated"  # its data is in place: it may be downloaded
    ARTIFACT_UPDATED = "artifact.updated"
    ARTIFACT_DELETED = "artifact.deleted"
    ARTIFACT_PUBLISHED = "artifact.published"
    ARTIFACT_UNPUBLISHED = "artifact.unpublished"
    TASK_FINISHED = "task.finished"
    # Retention's steps (lading.services.retention), each beside the artifact.* event of
    # the same change: hidden, deactivated, deleted, or restored (what retention did undone).
    RETENTION_HIDDEN = "retention.hidden"
    RETENTION_DEACTIVATED = "retention.deactivated"
    RETENTION_DELETED = "retention.deleted"
    RETENTION_RESTORED = "retention.restored"
    # The Python package index's files (lading.services.pypi), which are no artifacts:
    # uploaded, a release yanked or restored, files deleted.
    PYPI_UPLOADED = "pypi.uploaded"
    PYPI_YANKED = "pypi.yanked"
    PYPI_UNYANKED = "pypi.unyanked"
    PYPI_DELETED = "pypi.deleted"
    # Glance's notifications, as its v1 API sent them (with the image's v1 fields), for
    # the same changes, whichever face made them.
    IMAGE_CREATE = "image.create"
    IMAGE_PREPARE = "image.prepare"  # an upload begins: the image is saving
    IMAGE_UPLOAD = "image.upload"  # its data is stored
    IMAGE_ACTIVATE = "image.activate"
    IMAGE_UPDATE = "image.update"  # after any change, activation included
    IMAGE_DELETE = "image.delete"


@dataclass(frozen=True, slots=True)
class Member:
    """A project an artifact is shared with, and its answer to the sharing."""

    artifact_id: str
    member: str
    status: MemberStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class PackageFile:
    """A package by its file name, as the PNDA face names and lists packages."""

    name: str
    version: str
    filename: str


@dataclass(frozen=True, slots=True)
class PackageName:
    """A package name and the projects that may publish under it: its owner, who alone
    chooses the others (``publishers``), and administrators."""

    name: str
    owner: str
    publishers: list[str]
    created_at: datetime

    def may_publish(self, project: str) -> bool:
        return project == self.owner or project in self.publishers


@dataclass(frozen=True, slots=True)
class ArchiveMember:
    """A file (or directory, or symlink) inside a stored package archive (a tar), and
    where its data lies in the archive, so that it can be read without unpacking."""

    path: str  # relative to the archive's root, no leading ./
    kind: str  # file | directory | symlink
    size: int
    data_offset: int
    md5: str | None = None
    target: str | None = None  # a symlink's, relative to the root


# Metadata definitions (Glance's metadefs).


class ItemKind(enum.StrEnum):
    """What a namespace holds besides its resource type associations."""

    OBJECT = "object"
    PROPERTY = "property"
    TAG = "tag"


@dataclass(frozen=True, slots=True)
class Namespace:
    namespace: str
    display_name: str | None
    description: str | None
    visibility: str  # public | private
    protected: bool
    owner: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class MetadefItem:
    """An object, a property or a tag of a namespace: its document as the API shows it,
    less its name and times."""

    namespace: str
    kind: ItemKind
    name: str
    document: dict[str, Any]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str
    protected: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Association:
    """A namespace offered for a resource type (its properties prefixed with ``prefix``)."""

    namespace: str
    resource_type: str
    prefix: str | None
    properties_target: str | None
    created_at: datetime
    updated_at: datetime


class RetentionKind(enum.StrEnum):
    """Which artifacts a retention policy covers: packages have a file name (the package
    faces'), images have none."""

    ANY = "any"
    IMAGE = "image"
    PACKAGE = "package"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """A project's keep rules over the artifacts whose name matches ``pattern`` (a glob),
    and the grace before each step of retiring one that no rule keeps. A rule left None
    keeps nothing."""

    id: str
    project: str
    pattern: str
    kind: RetentionKind
    keep_newest: int | None
    keep_younger_days: int | None
    keep_downloaded_days: int | None
    hide_after_days: int
    deactivate_after_days: int
    delete_after_days: int
    created_at: datetime
