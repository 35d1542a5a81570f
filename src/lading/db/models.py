"""The catalogue's tables (SQLAlchemy Core).

Times are naive UTC datetimes, the same on SQLite and PostgreSQL. A deleted artifact
keeps its row with status ``deleted`` so that its id is never reused.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _artifact_key() -> Column[str]:
    """The first key of a table of an artifact's parts, which go when the artifact goes."""
    return Column(
        "artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True
    )


def _namespace_key() -> Column[str]:
    """The first key of a table of a metadef namespace's parts: they follow its renames and
    go when it goes."""
    return Column(
        "namespace",
        String(80),
        ForeignKey("metadef_namespaces.namespace", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )


artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(255)),
    Column("version", String(255)),
    Column("owner", String(255), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("protected", Boolean, nullable=False, default=False),
    Column("os_hidden", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),
    Column("disk_format", String(32)),
    Column("container_format", String(32)),
    Column("min_disk", Integer, nullable=False, default=0),
    Column("min_ram", Integer, nullable=False, default=0),
    Column("size", BigInteger),
    Column("virtual_size", BigInteger),
    Column("checksum", String(32)),
    Column("os_hash_algo", String(64)),
    Column("os_hash_value", String(128)),
    Column("published", Boolean, nullable=False, default=True),
    Column("filename", String(255)),  # a package's file name, as the package faces serve it
    Column("version_key", LargeBinary(1024)),  # the version's place (lading.version_order)
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("deleted_at", DateTime),
    # Who made it: the caller's project (an administrator may make an artifact for another
    # owner) and user (None for lading's own tokens, which name none). Both None for
    # artifacts made before lading kept them.
    Column("created_by_project", String(255)),
    Column("created_by", String(255)),
    # While saving: which upload holds the artifact, and until when unless renewed (bytes
    # that keep coming renew it); which process runs the upload (a holder, see holders).
    Column("upload_lease", String(32)),
    Column("lease_expires_at", DateTime),
    Column("upload_holder", String(32)),
    # When its data was last served by any face, written at most once per artifact per
    # ``retention.download_record_interval`` (lading.services.downloads): what retention's
    # "downloaded within D days" rule and its in-use guard read. Bookkeeping, not metadata.
    Column("last_downloaded_at", DateTime),
    # Listing pages by (sort key, id); these serve the common sorts and filters.
    Index(None, "created_at", "id"),
    Index(None, "updated_at", "id"),
    Index(None, "name", "id"),
    Index(None, "size", "id"),
    Index(None, "status", "lease_expires_at"),
    Index(None, "owner"),
    Index(None, "checksum"),
    # A package's name, version and file name make its download URLs: taken once, for good
    # (deleted packages keep theirs), so that a public URL never serves other bytes.
    Index(
        "uq_artifacts_package",
        "filename",
        "name",
        "version",
        unique=True,
        sqlite_where=text("filename IS NOT NULL"),
        postgresql_where=text("filename IS NOT NULL"),
    ),
    Index(None, "os_hash_value"),
    Index(None, "name", "version_key"),  # a package's newest versions (recency)
)

artifact_properties = Table(
    "artifact_properties",
    metadata,
    _artifact_key(),
    Column("name", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    # Property filters look values up by equality. A B-tree entry on PostgreSQL must fit
    # in ~2.7 KB and values may be far longer, so there the value gets a hash index.
    Index(None, "name", "value").ddl_if(dialect="sqlite"),
    Index(None, "name").ddl_if(dialect="postgresql"),
    Index("ix_artifact_properties_value_hash", "value", postgresql_using="hash").ddl_if(
        dialect="postgresql"
    ),
)

artifact_tags = Table(
    "artifact_tags",
    metadata,
    _artifact_key(),
    Column("tag", String(255), primary_key=True),
    Index(None, "tag"),
)

# A stored object. Artifacts with identical bytes in one store share a blob, counted
# by reference. ``pending`` blobs are being written; ``doomed`` ones lost their last
# reference and wait for their bytes to be removed. Both are cleaned up on recovery.
blobs = Table(
    "blobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("store", String(64), nullable=False),
    Column("key", String(512), nullable=False),
    Column("state", String(16), nullable=False),
    Column("size", BigInteger),
    Column("checksum", String(32)),
    Column("sha256", String(64)),
    Column("refcount", Integer, nullable=False, default=0),
    Column("updated_at", DateTime, nullable=False),  # last sign of life while pending
    Column("holder", String(32)),  # the process writing a pending blob's bytes (holders)
    UniqueConstraint("store", "key"),
    Index(
        "uq_blobs_store_sha256_ready",
        "store",
        "sha256",
        unique=True,
        sqlite_where=text("state = 'ready'"),
        postgresql_where=text("state = 'ready'"),
    ),
    Index(None, "state", "updated_at"),
    # Ids are never reused (SQLite would reuse the highest after a delete): an upload
    # that outlived its lease must not touch a newer upload's blob by id.
    sqlite_autoincrement=True,
)

# Server processes that write uploads and blobs, each alive while it beats (lading.processes
# and db.holders): a holder that stopped beating, or whose process is gone, is dead.
holders = Table(
    "holders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("host", String(255)),  # where its pid means something; None: nowhere else
    Column("pid", Integer, nullable=False),
    Column("started", String(32), nullable=False),
    Column("beat_at", DateTime, nullable=False),
)

locations = Table(
    "locations",
    metadata,
    _artifact_key(),
    Column("blob_id", Integer, ForeignKey("blobs.id"), primary_key=True),
    # Glance's clients order an image's locations and give each metadata (a JSON
    # object); locations lading made itself have neither (NULL).
    Column("position", Integer),
    Column("metadata", Text),
    Index(None, "blob_id"),
)

# Projects an artifact is shared with (visibility ``shared``), and each one's answer.
artifact_members = Table(
    "artifact_members",
    metadata,
    _artifact_key(),
    Column("member", String(255), primary_key=True),
    Column("status", String(16), nullable=False),  # pending | accepted | rejected
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index(None, "member", "status"),
)

# API tokens. Only a SHA-256 digest of each token is kept: tokens are long random
# strings, so a slow hash would add nothing. Revoked tokens keep their row.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("project", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("revoked_at", DateTime),
)


# VISoR's access keys: the secret is sealed (services/sealing.py), not hashed, because
# verifying an HMAC needs the secret itself.
visor_keys = Table(
    "visor_keys",
    metadata,
    Column("access_key", String(32), primary_key=True),
    Column("sealed_secret", Text, nullable=False),
    Column("project", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
)


# Nonces of signed requests, kept while their timestamp is inside the window: a request
# seen once is refused if it comes again (replay).
signed_nonces = Table(
    "signed_nonces",
    metadata,
    Column("client", String(255), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("expires_at", DateTime, nullable=False),
    Index(None, "expires_at"),
)


# Tasks (lading.services.tasks). A task being run holds a lease (token and expiry) that
# its process renews; another process takes over a task whose lease ran out.
tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("artifact_id", String(36)),
    Column("input", Text, nullable=False),  # JSON
    Column("result", Text),  # JSON
    Column("message", Text, nullable=False, default=""),
    Column("done_bytes", BigInteger, nullable=False, default=0),
    Column("total_bytes", BigInteger),
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_token", String(32)),
    Column("lease_expires_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("events", Text),  # JSON: what happened so far, in order (package onboarding)
    Column("not_before", DateTime),  # a pending task tried again later is not claimed before
    # Which request made it (x-openstack-request-id) and whose (the caller's user, None for
    # lading's own tokens); None for the server's own tasks (webhook deliveries).
    Column("request_id", String(64)),
    Column("user_id", String(255)),
    Index(None, "status", "lease_expires_at"),
    Index(None, "artifact_id", "created_at"),
    Index(None, "owner", "created_at"),
    Index(None, "expires_at"),  # the recovery pass forgets expired tasks
)

# The files inside a stored package archive (an uncompressed tar), found while it was
# received: each one can be listed and read (a range of the archive) without unpacking.
package_files = Table(
    "package_files",
    metadata,
    _artifact_key(),
    Column("path", String(1024), primary_key=True),
    Column("kind", String(16), nullable=False),  # file | directory | symlink
    Column("size", BigInteger, nullable=False),
    Column("data_offset", BigInteger, nullable=False),  # where its bytes begin in the archive
    Column("md5", String(32)),  # files only
    Column("target", String(1024)),  # symlinks only
)

# The images an onboarded package brought (its images/ directory), registered in the
# catalogue as OSM onboarding put them into the VIM's image service: a row per file of the
# package (``artifact_id``, ``path``) and the image it is. Several packages (versions)
# may share one image: the same name and bytes are registered once per project.
package_images = Table(
    "package_images",
    metadata,
    _artifact_key(),
    Column("path", String(1024), primary_key=True),
    Column(
        "image_id",
        String(36),
        ForeignKey("artifacts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)


# Package names and who owns them (lading.services.names): the first project to publish a
# name owns it. ``key`` is the name compared (NFC, case-folded), ``skeleton`` its TR39
# skeleton, which look-alikes share. A namespace per family of faces whose names meet.
package_names = Table(
    "package_names",
    metadata,
    Column("namespace", String(32), primary_key=True),
    Column("key", String(1024), primary_key=True),
    Column("name", String(255), nullable=False),  # as its first publisher wrote it
    Column("skeleton", String(1024), nullable=False),
    Column("owner", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index(None, "namespace", "skeleton"),
    Index(None, "owner"),
)

# Projects other than the owner that may publish under a name.
package_name_publishers = Table(
    "package_name_publishers",
    metadata,
    Column("namespace", String(32), primary_key=True),
    Column("key", String(1024), primary_key=True),
    Column("project", String(255), primary_key=True),
    ForeignKeyConstraint(
        ["namespace", "key"],
        ["package_names.namespace", "package_names.key"],
        ondelete="CASCADE",
    ),
    Index(None, "project"),
)


def for_dialect(dialect: str) -> Callable[..., bool]:
    """An Alembic ``include_object`` that leaves out indices meant for other engines."""

    def include(
        item: object, name: str | None, kind: str, reflected: bool, compare_to: object
    ) -> bool:
        condition = getattr(item, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


# Metadata definitions (Glance's metadefs): namespaces of the properties, objects and tags
# that Horizon offers when it edits an image's, a flavor's or a volume's metadata. A
# namespace's objects, properties and tags are its items, kept as the JSON documents the
# API shows (their fields are JSON schema keywords, not columns anyone queries).
metadef_namespaces = Table(
    "metadef_namespaces",
    metadata,
    Column("namespace", String(80), primary_key=True),
    Column("display_name", String(80)),
    Column("description", Text),
    Column("visibility", String(16), nullable=False),  # public | private
    Column("protected", Boolean, nullable=False, default=False),
    Column("owner", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index(None, "owner"),
)

metadef_items = Table(
    "metadef_items",
    metadata,
    _namespace_key(),
    Column("kind", String(16), primary_key=True),  # object | property | tag
    Column("name", String(255), primary_key=True),
    Column("document", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

metadef_resource_types = Table(
    "metadef_resource_types",
    metadata,
    Column("name", String(80), primary_key=True),
    Column("protected", Boolean, nullable=False, default=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

metadef_associations = Table(
    "metadef_associations",
    metadata,
    _namespace_key(),
    Column(
        "resource_type",
        String(80),
        ForeignKey("metadef_resource_types.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("prefix", String(80)),
    Column("properties_target", String(80)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)


# The OCI registry (lading.services.oci): repositories, whose names are package names of
# the "oci" namespace (owned by a project, ``package_names``); each repository's links to
# the blobs it holds (one reference each on ``blobs.refcount``, as a location is), its
# manifests (their bytes kept here: small, capped, read on every pull), its tags, and its
# uploads in progress with their parts (pending blobs, swept as any pending blob is).
oci_repositories = Table(
    "oci_repositories",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("visibility", String(16), nullable=False),  # private | public
    Column("created_at", DateTime, nullable=False),
)


def _repository_key() -> Column[str]:
    return Column(
        "repository",
        String(255),
        ForeignKey("oci_repositories.name", ondelete="CASCADE"),
        primary_key=True,
    )


oci_blob_links = Table(
    "oci_blob_links",
    metadata,
    _repository_key(),
    Column("digest", String(71), primary_key=True),  # sha256:<64 hex>
    Column("blob_id", Integer, ForeignKey("blobs.id"), nullable=False, index=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

oci_manifests = Table(
    "oci_manifests",
    metadata,
    _repository_key(),
    Column("digest", String(71), primary_key=True),
    Column("media_type", String(255), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("subject", String(71)),  # the manifest it refers to (referrers)
    Column("artifact_type", String(255)),
    Column("created_at", DateTime, nullable=False),
    Index(None, "repository", "subject"),
)

# The blobs each manifest names (an image manifest's config and layers), kept as it is
# put: garbage collection unlinks a repository's blobs that no manifest names without
# reading the manifests, and a manifest gone takes its rows with it.
oci_manifest_blobs = Table(
    "oci_manifest_blobs",
    metadata,
    Column("repository", String(255), primary_key=True),
    Column("manifest", String(71), primary_key=True),
    Column("digest", String(71), primary_key=True),
    ForeignKeyConstraint(
        ["repository", "manifest"],
        ["oci_manifests.repository", "oci_manifests.digest"],
        ondelete="CASCADE",
    ),
    Index(None, "repository", "digest"),
)

oci_tags = Table(
    "oci_tags",
    metadata,
    _repository_key(),
    Column("tag", String(128), primary_key=True),
    Column("digest", String(71), nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

oci_uploads = Table(
    "oci_uploads",
    metadata,
    Column("id", String(36), primary_key=True),
    # No key to the repository: an upload to a new name does not hold it until it ends.
    Column("repository", String(255), nullable=False, index=True),
    Column("project", String(255), nullable=False),  # who began it: only it goes on
    Column("store", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),  # bytes received in its parts
    Column("parts", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # The request writing a chunk, on a store that appends chunks in place (one file):
    # two chunks never write at one offset at once.
    Column("writer", String(32)),
    Column("writer_until", DateTime),
)

oci_upload_parts = Table(
    "oci_upload_parts",
    metadata,
    Column(
        "upload_id",
        String(36),
        ForeignKey("oci_uploads.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("number", Integer, primary_key=True),
    # A part recovery sweeps (its upload left alone too long) goes with its blob: the
    # upload then lacks it, and finishing it says so.
    Column("blob_id", Integer, ForeignKey("blobs.id", ondelete="CASCADE"), nullable=False),
    Column("size", BigInteger, nullable=False),
)

# An image's container disk layer (lading.services.container_disks): the layer is the
# image's own bytes between a tar header and the tar's end, never stored apart; what is
# kept is its digest, worked out once by reading the image through, and the size it was
# worked out for (another size: worked out again). ``layout`` names the header's form, so
# that a later change of it is never served under a digest worked out for another.
container_disk_layers = Table(
    "container_disk_layers",
    metadata,
    Column(
        "artifact_id", String(36), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("layout", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),  # the layer's, in bytes
    Column("sha256", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# Retention (lading.services.retention): each project's policies, and what retention did to
# each artifact it is retiring (the step it reached and when, and whether it hid and
# deactivated the artifact itself: a restore undoes only that).
retention_policies = Table(
    "retention_policies",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project", String(255), nullable=False, index=True),
    Column("pattern", String(255), nullable=False),  # a glob over the artifact's name
    Column("kind", String(16), nullable=False),  # any | image | package
    Column("keep_newest", Integer),  # versions per name (images: newest by created_at)
    Column("keep_younger_days", Integer),
    Column("keep_downloaded_days", Integer),
    Column("hide_after_days", Integer, nullable=False),
    Column("deactivate_after_days", Integer, nullable=False),
    Column("delete_after_days", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

retention_marks = Table(
    "retention_marks",
    metadata,
    _artifact_key(),
    Column("step", String(16), nullable=False),  # scheduled | hidden | deactivated
    Column("step_at", DateTime, nullable=False),  # when it reached that step
    Column("hid", Boolean, nullable=False, default=False),  # retention set os_hidden
    Column("deactivated", Boolean, nullable=False, default=False),  # retention deactivated it
    Column("policy_id", String(36)),  # the policy that retired it (the first of several)
)

# The Python package index (lading.services.pypi): the indexes made through the API (those
# of the settings are not rows: the settings say what they are), and the files of every
# index. A file's bytes are a blob (one reference on ``blobs.refcount``, shared with every
# face); a wheel's core metadata (PEP 658) is kept here, small and capped, read beside it.
# A project's name is a package name of the index's own namespace (``pypi:<index>``).
pypi_indexes = Table(
    "pypi_indexes",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("visibility", String(16), nullable=False),  # private | public
    Column("bases", Text, nullable=False),  # JSON: the indexes beneath, in order
    Column("created_at", DateTime, nullable=False),
)

# Each project of an index with its serial: one more at every change of its files (an
# upload, a yank, a delete), so that a node knows a page it rendered is still current by
# one small read (PyPI's "last serial").
pypi_projects = Table(
    "pypi_projects",
    metadata,
    Column("index_name", String(32), primary_key=True),
    Column("project", String(255), primary_key=True),
    Column("serial", Integer, nullable=False),
)

pypi_files = Table(
    "pypi_files",
    metadata,
    Column("index_name", String(32), primary_key=True),
    Column("filename", String(255), primary_key=True),
    Column("project", String(255), nullable=False),  # PEP 503's normalised name
    Column("version", String(255), nullable=False),
    Column("filetype", String(16), nullable=False),  # bdist_wheel | sdist
    Column("python_version", String(64), nullable=False),
    Column("requires_python", String(255)),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("blob_id", Integer, ForeignKey("blobs.id"), nullable=False, index=True),
    Column("core_metadata", LargeBinary),  # a wheel's METADATA; None for an sdist
    Column("core_metadata_sha256", String(64)),
    Column("yanked", Boolean, nullable=False, default=False),
    Column("yanked_reason", Text),
    Column("uploader", String(255), nullable=False),  # the project that uploaded it
    Column("uploaded_at", DateTime, nullable=False),
    Index(None, "index_name", "project"),
)

# The names of an index's deleted files: never uploaded again, as PyPI burns them (an
# installer that saw a file's hash must never find other bytes under its name). An
# administrator may clear one (``lading pypi allow-reuse``).
pypi_burned_files = Table(
    "pypi_burned_files",
    metadata,
    Column("index_name", String(32), primary_key=True),
    Column("filename", String(255), primary_key=True),
    Column("deleted_at", DateTime, nullable=False),
)

# Resumable uploads (tus, lading.services.resumable): each upload's offset and state, and
# its parts as the store keeps them (one per PATCH that brought bytes), in order. A PATCH
# holds its upload through ``writer`` (a token, its process ``writer_holder``) until
# ``writer_until``: one PATCH at a time, and a dead process's claim is released.
tus_uploads = Table(
    "tus_uploads",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project", String(255), nullable=False),  # whose it is: only it goes on
    Column("user_id", String(255)),
    Column("store", String(64), nullable=False),
    Column("key", String(512), nullable=False),
    Column("length", BigInteger),  # None: deferred (creation-defer-length)
    Column("offset", BigInteger, nullable=False),
    Column("parts", Integer, nullable=False),
    Column("metadata", Text, nullable=False),  # Upload-Metadata as the client sent it
    Column("purpose", String(16), nullable=False),  # image, stage or package
    Column("artifact_id", String(36)),
    Column("made_artifact", Boolean, nullable=False),  # the upload created it (queued)
    Column("state", String(16), nullable=False),  # receiving, finishing, done, removing
    Column("writer", String(32)),
    Column("writer_holder", String(32)),
    Column("writer_until", DateTime),
    Column("expires_at", DateTime, nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

tus_upload_parts = Table(
    "tus_upload_parts",
    metadata,
    Column(
        "upload_id",
        String(36),
        ForeignKey("tus_uploads.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("number", Integer, primary_key=True),
    Column("offset", BigInteger, nullable=False),  # its first byte in the upload
    Column("size", BigInteger, nullable=False),
)

# The phase of each migration applied (lading.db.engine): a node of an older release that
# finds the catalogue newer than itself serves on it when every newer step only expanded
# it (a rolling upgrade), and refuses it otherwise.
migration_phases = Table(
    "migration_phases",
    metadata,
    Column("revision", String(32), primary_key=True),
    Column("phase", String(16), nullable=False),
)
