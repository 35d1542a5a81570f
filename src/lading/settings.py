"""One Settings object, read from ``LADING_*`` variables and an optional TOML file.

Built once per process (``Settings.load``) and passed down; nothing reads the
environment after that. Every field is documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lading.domain import EventType
from lading.pnda_config import PNDA_STORE, read_pnda_config
from lading.settings_keys import check_names

CONFIG_FILE_VARIABLE = "LADING_CONFIG"
PNDA_CONFIG_VARIABLE = "LADING_PNDA__CONFIG"  # pnda.config, as its variable
# The file Settings.load was given, for the settings built in its call only.
_config_file: ContextVar[Path | None] = ContextVar("lading_config_file", default=None)
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
# An index's name: its namespace of package names (pypi:<index>) fits in 32 characters.
PYPI_INDEX_NAME = r"[a-z0-9][a-z0-9._-]{0,26}"
TiB = 1024**4
# An internal location's prefix: a path of plain segments ending with "/", so that
# prefix + key is a path nginx takes as it is (no dot segments, escapes or query).
ACCEL_PREFIX = r"^/([A-Za-z0-9_-][A-Za-z0-9._-]*/)+$"


class FilesystemStoreSettings(BaseModel):
    """A directory on a local filesystem."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["filesystem"] = "filesystem"
    path: Path | None = None  # None: ``<data_dir>/stores/<store name>``
    description: str = ""  # shown by store discovery when several stores are configured
    # Blocks of zeros are left as holes (Glance's filesystem_store_thin_provisioning): a
    # mostly empty raw image takes the disk its data needs. On: it costs no measurable
    # time (docs/performance.md), and reads give the same bytes.
    sparse: bool = True
    # The holes' granularity (Glance's filesystem_store_chunk_size), aligned in the file.
    sparse_block_size: int = Field(64 * KiB, ge=4 * KiB, le=MiB, multiple_of=4 * KiB)
    # Behind nginx: downloads answer ``X-Accel-Redirect: <this><key>`` and nginx sends
    # the file from an internal location aliased to ``path`` (None: lading sends it).
    accel_redirect: str | None = Field(None, pattern=ACCEL_PREFIX)


class S3StoreSettings(BaseModel):
    """A bucket on any S3-compatible endpoint (AWS, MinIO, Ceph RGW, Swift's s3api)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["s3"]
    bucket: str = Field(min_length=1)
    endpoint_url: str | None = None  # None: AWS
    region: str = "us-east-1"
    prefix: str = ""
    access_key: str | None = None  # None: the environment's AWS credentials
    secret_key: str | None = None
    path_style: bool = False
    part_size: int = Field(8 * MiB, ge=5 * MiB, le=5 * 1024 * MiB)
    # Downloads answer 307 to a presigned URL of the object instead of passing its bytes
    # through lading; the URL is valid ``redirect_expiry`` seconds.
    redirect: bool = False
    redirect_expiry: int = Field(60, ge=1, le=7 * 24 * 3600)
    # A resumable upload's parts become the image's object by S3's own part copies
    # (UploadPartCopy) rather than through lading; false: through lading (Swift's s3api
    # copies them through its proxy, which measured slower than lading's copy).
    join_parts: bool = True
    description: str = ""


class SwiftStoreSettings(BaseModel):
    """A container on OpenStack Swift, through the native Swift API (tempauth or Keystone v3)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["swift"]
    auth_url: str  # tempauth: http://host:8080/auth/v1.0; Keystone: http://host:5000/v3
    auth_version: Literal["1", "3"] = "1"  # 1: tempauth; 3: Keystone v3 password auth
    user: str  # tempauth: account:user; Keystone: the user's name
    key: str  # tempauth: the key; Keystone: the password
    project: str | None = None  # Keystone: the project whose account holds the container
    user_domain: str = "Default"
    project_domain: str = "Default"
    region: str | None = None  # Keystone: the catalogue's region; None: the first one
    interface: Literal["public", "internal", "admin"] = "public"
    container: str = Field(min_length=1)
    prefix: str = ""
    segment_size: int = Field(16 * MiB, ge=MiB, le=5 * 1024 * MiB)
    timeout: float = Field(30.0, gt=0)
    description: str = ""

    @model_validator(mode="after")
    def _keystone_needs_a_project(self) -> SwiftStoreSettings:
        if self.auth_version == "3" and not self.project:
            raise ValueError("a Swift store signing in with Keystone v3 needs a project")
        return self


class RbdStoreSettings(BaseModel):
    """A Ceph pool of RBD images, as Glance's rbd store keeps them (its ``rbd_store_*``
    options), through Debian's python3-rados and python3-rbd."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["rbd"]
    pool: str = Field("images", min_length=1)  # rbd_store_pool
    conffile: Path = Path("/etc/ceph/ceph.conf")  # rbd_store_ceph_conf
    user: str | None = None  # rbd_store_user, cephx's client.<user>; None: librados' (admin)
    keyring: Path | None = None  # None: where the configuration file says (its ``keyring``)
    # rbd_store_chunk_size, in bytes: the images' RADOS object size and the size of a write
    object_size: int = Field(8 * MiB, ge=MiB, le=32 * MiB)
    prefix: str = Field("", pattern=r"^[A-Za-z0-9_.-]*$")  # the start of every image's name
    timeout: int = Field(30, ge=1)  # seconds to connect, and for each monitor or OSD call
    description: str = ""

    @field_validator("object_size")
    @classmethod
    def _a_power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError("an RBD object size is a power of two (librbd's order)")
        return value


class KeystoneSettings(BaseModel):
    """Keystone tokens, validated as keystonemiddleware's auth_token does (its option names).

    Unset ``auth_url``: no Keystone, lading's own tokens only.
    """

    model_config = ConfigDict(extra="forbid")

    auth_url: str | None = None  # the identity v3 endpoint, e.g. http://keystone:5000/v3
    username: str = ""  # the service user lading signs in as
    password: SecretStr = SecretStr("")
    project_name: str = "service"
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    region_name: str | None = None  # the catalogue's region; None: the first one
    interface: Literal["public", "internal", "admin"] = "public"
    # Told to clients in a 401's WWW-Authenticate; None: auth_url.
    www_authenticate_uri: str | None = None
    # Seconds a validated token is trusted without asking Keystone again (never past its
    # expiry): a revoked token stops working within this time.
    cache_seconds: float = Field(60.0, ge=0, le=3600)
    service_token_roles: list[str] = ["service"]  # an X-Service-Token needs one of them

    @model_validator(mode="after")
    def _service_user(self) -> KeystoneSettings:
        if self.auth_url is not None and not (self.username and self.password.get_secret_value()):
            raise ValueError("keystone.auth_url needs keystone.username and keystone.password")
        return self


class HttpStoreSettings(BaseModel):
    """External http(s) locations, read-only: artifacts registered by URL read from here."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["http"]
    timeout: float = Field(30.0, gt=0)  # seconds, to connect and between bytes
    description: str = ""


class QuotaLimits(BaseModel):
    """What one project may hold; None is no limit."""

    model_config = ConfigDict(extra="forbid")

    bytes: int | None = Field(None, ge=0)  # the sum of its artifacts' sizes
    artifacts: int | None = Field(None, ge=0)  # how many artifacts it owns (deleted ones aside)


class QuotaSettings(QuotaLimits):
    """Quotas: the limits every project gets, per-project overrides, per-artifact counts."""

    properties: int = Field(128, ge=0)  # per artifact
    tags: int = Field(128, ge=0)  # per artifact
    projects: dict[str, QuotaLimits] = Field(default_factory=dict)

    def for_project(self, project: str) -> QuotaLimits:
        return self.projects.get(project, self)


class SigningClient(BaseModel):
    """A service that signs its requests (HMAC-SHA256) with a secret shared with lading."""

    model_config = ConfigDict(extra="forbid")

    secret: SecretStr = Field(min_length=32)
    project: str = Field(min_length=1, max_length=255)  # what it uploads is this project's
    role: Literal["admin", "member", "reader"] = "member"


class SigningSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: int = Field(300, ge=1, le=3600)  # seconds a signed request's timestamp is good for
    clients: dict[str, SigningClient] = Field(default_factory=dict)


class FetchSettings(BaseModel):
    """What lading may fetch from when callers give it a URL (web-download, copy-from)."""

    model_config = ConfigDict(extra="forbid")

    allowed_schemes: list[Literal["http", "https"]] = ["http", "https"]
    allowed_ports: list[int] = [80, 443]
    # Host names, addresses or CIDR networks. Allowed ones may be internal; with any
    # listed, only they are allowed.
    allowed_hosts: list[str] = []
    denied_hosts: list[str] = []
    allow_internal: bool = False  # loopback, link-local, private and reserved addresses
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)  # the longest wait between two pieces
    retries: int = Field(3, ge=0)  # resumed with Range where the server allows it
    max_duration: float = Field(6 * 3600.0, gt=0)  # a whole transfer, so none holds a worker


class CorsSettings(BaseModel):
    """Pages of other origins that may call the API from a browser (Cross-Origin Resource
    Sharing, as Horizon's direct uploads do). None listed: CORS is off."""

    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = []  # scheme://host[:port], as browsers send Origin
    # Origins whose pages may call the OSM face (/api) only, not the rest: the launchpad's
    # UI needs that face, and no more.
    osm_allowed_origins: list[str] = []
    max_age: int = Field(3600, ge=0, le=86400)  # seconds a browser keeps a preflight's answer

    @field_validator("allowed_origins", "osm_allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            try:
                parts = urlsplit(origin)
                parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
            except ValueError:
                parts = None
            if (
                parts is None
                or parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
                or parts.username is not None
            ):
                raise ValueError(
                    f"a CORS origin is scheme://host[:port] (http or https), not {origin!r}"
                )
        return value


class OciSettings(BaseModel):
    """The OCI registry face (docs/api-oci.md), on a listener of its own."""

    model_config = ConfigDict(extra="forbid")

    # Its port, on the address of ``host``; unset: no registry. Never the API's port:
    # the registry's /v2/ and Glance's /v2 are different APIs.
    port: int | None = Field(None, ge=1, le=65535)
    # The largest manifest accepted (the spec asks registries to take at least 4 MiB).
    manifest_size_cap: int = Field(4 * MiB, ge=4 * MiB, le=64 * MiB)
    # Seconds a token of the token endpoint is good for.
    token_lifetime: int = Field(300, ge=30, le=86400)
    # The ``service`` the token challenge names, and tokens are issued for.
    service: str = Field("lading", min_length=1, max_length=255)
    # Seconds a blob no manifest names stays linked to its repository: a push uploads its
    # blobs before the manifest naming them, and must not lose them meanwhile.
    gc_grace: int = Field(3600, ge=60)
    # Seconds between two garbage collection sweeps of every process; 0: none (the
    # ``lading registry gc`` command alone).
    gc_interval: int = Field(3600, ge=0)


class RetentionSettings(BaseModel):
    """Retention (docs/retention.md): the policies are the catalogue's (per project, over
    the API); these are what holds for every policy, and the recurring run."""

    model_config = ConfigDict(extra="forbid")

    # Seconds between runs that apply every policy (a task, one per period across nodes);
    # unset: no recurring run, only those asked for (lading retention apply).
    run_every: float | None = Field(None, ge=60)
    # The tag that keeps an artifact out of every policy's reach.
    keep_tag: str = Field("retention:keep", min_length=1, max_length=255)
    # An artifact whose data was served within this many days is in use: no policy
    # retires it (an image a node boots from, a package a deployment fetches).
    in_use_days: int = Field(7, ge=0, le=36500)
    # Seconds between two writes of one artifact's last download (per process; a
    # conditional write keeps several processes near one write).
    download_record_interval: float = Field(3600.0, ge=1)


class PypiIndexSettings(BaseModel):
    """One index of the Python package index face, as the settings define it."""

    model_config = ConfigDict(extra="forbid")

    # The project that owns it (its callers read a private index and upload to it);
    # unset: ``default_project``.
    owner: str | None = Field(None, min_length=1, max_length=255)
    # public: anyone reads it, without a token; private: its owner's callers and admins.
    visibility: Literal["public", "private"] = "public"
    # The indexes beneath it, in order: a project's page comes from the first index of the
    # chain that has the project, never merged across layers.
    bases: list[str] = Field(default_factory=list, max_length=16)


class PypiSettings(BaseModel):
    """The Python package index face (docs/api-pypi.md), at ``/pypi/<index>/``."""

    model_config = ConfigDict(extra="forbid")

    # Indexes by name; ``main`` exists whatever this says (public, owned by
    # ``default_project``), unless it is given here. Indexes made through the API are kept
    # in the catalogue instead.
    indexes: dict[str, PypiIndexSettings] = Field(default_factory=dict)
    # The largest file an upload may bring (PyPI's own limit is 100 MiB by default).
    file_size_cap: int = Field(GiB, gt=0)
    # The largest core metadata (a wheel's METADATA) kept to be served beside it.
    metadata_size_cap: int = Field(MiB, ge=4 * KiB, le=64 * MiB)

    @field_validator("indexes")
    @classmethod
    def _index_names(cls, value: dict[str, PypiIndexSettings]) -> dict[str, PypiIndexSettings]:
        for name in value:
            if not re.fullmatch(PYPI_INDEX_NAME, name):
                raise ValueError(f"index name {name!r} must match {PYPI_INDEX_NAME}")
        for name in value:  # bases that lead back to their index: no page could be found
            path, current = [name], value[name].bases
            while current:
                base = current[0]
                if base == name:
                    raise ValueError(f"index {name!r} lies over itself through its bases")
                following = value.get(base)
                current = current[1:] + (following.bases if following and base not in path else [])
                path.append(base)
        return value


class UploadsSettings(BaseModel):
    """Resumable uploads (tus 1.0) at ``/uploads/`` (docs/uploads.md)."""

    model_config = ConfigDict(extra="forbid")

    # Seconds an unfinished upload is kept after its last byte (tus's Upload-Expires);
    # then it answers 410 and recovery removes its bytes and, if the upload made it, its
    # queued artifact. A finished upload's record (HEAD tells its full offset) goes too.
    expire_after: float = Field(24 * 3600.0, gt=0)
    # Uploads whose running md5 and sha256 a process keeps between two PATCHes; one it
    # does not keep (evicted, another node, a restart) has its hashes rebuilt by reading
    # back the bytes stored so far.
    hashers: int = Field(64, ge=1, le=4096)


class PndaSettings(BaseModel):
    """The PNDA package repository face (``/packages``)."""

    model_config = ConfigDict(extra="forbid")
    # Keys still taken under their old name (lading.settings_keys knows them).
    RENAMED: ClassVar[dict[str, str]] = {"overwrite": "immutable"}

    # A PUT by the owning project of a file that exists replaces it (atomically), as
    # PNDA's repository did; immutable: it is 409, and a deleted file's name stays taken.
    immutable: bool = False
    # What requests without a token may do there (PNDA had no authentication): nothing,
    # read (list, download) or write (upload, delete too), as ``anonymous_project``.
    anonymous: Literal["none", "read", "write"] = "none"
    anonymous_project: str = Field("default", min_length=1, max_length=255)
    # PNDA's own pr-config.json: its store becomes the store named "pnda", where the face
    # keeps what is uploaded to it. Unset: the face uses ``store``.
    config: Path | None = None
    # The store uploads to /packages go to; None: default_store ("pnda" with ``config``).
    store: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _overwrite_was_renamed(cls, data: object) -> object:
        """``overwrite`` (before package names had owners) is ``immutable``'s opposite."""
        if isinstance(data, dict) and "overwrite" in data:
            data = dict(data)
            overwrite = TypeAdapter(bool).validate_python(data.pop("overwrite"))
            logging.getLogger(__name__).warning(
                "[pnda] overwrite is now immutable = %s: rename it", not overwrite
            )
            data.setdefault("immutable", not overwrite)
        return data


class PublishingSettings(BaseModel):
    """Whether what a face creates starts published. Until it is published, an artifact
    is seen only by its owner and administrators."""

    model_config = ConfigDict(extra="forbid")

    glance_v2: bool = True
    click: bool = False
    web: bool = True  # what the web UI's uploads and imports create


GLANCE_FAMILY = "image.*"  # Glance's notifications: a webhook names them to get them


class WebhookSettings(BaseModel):
    """A URL told of events (``docs/events.md``), each body signed with ``secret``.

    The operator, not a caller, chooses it: the fetch rules do not apply, and loopback and
    internal addresses are allowed."""

    model_config = ConfigDict(extra="forbid")

    url: str
    secret: SecretStr = Field(min_length=32)
    # Event types, ``artifact.*``, ``task.*``, ``retention.*``, ``pypi.*``, ``image.*``
    # (Glance's notifications), or ``*`` for lading's own (every family but Glance's,
    # which tell the same changes again, only when named).
    events: list[str] = Field(default_factory=lambda: ["*"], min_length=1)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a webhook's url is an http(s) URL with a host, not {value!r}")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: list[str]) -> list[str]:
        known = {"*", *EventType, *{f"{kind.partition('.')[0]}.*" for kind in EventType}}
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; use some of {sorted(known)}")
        return value

    def wants(self, event: EventType) -> bool:
        family = f"{event.partition('.')[0]}.*"
        every = () if family == GLANCE_FAMILY else ("*",)
        return any(name in (*every, family, event) for name in self.events)


class WebhookDeliverySettings(BaseModel):
    """How every webhook's deliveries are tried: up to ``attempts`` times. After the n-th
    failed try the next waits min(``backoff`` * 2^(n-1), ``backoff_max``) seconds, less up
    to half of it at random."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(12, ge=1, le=100)
    backoff: float = Field(30.0, gt=0)  # seconds
    backoff_max: float = Field(3600.0, gt=0)
    timeout: float = Field(5.0, gt=0)  # seconds for one try, from connecting to the answer


class ImageFormatSettings(BaseModel):
    """Glance's ``[image_format]``: what the data of an image upload or import must be
    (lading.services.inspection). Unsafe images are refused whatever these say."""

    model_config = ConfigDict(extra="forbid")

    # The format found in the data must be the image's disk_format (raw also holds a
    # partition table); off: a mismatch is logged and accepted.
    require_image_format_match: bool = True
    # A partition table (MBR, GPT) that fails its checks is logged and accepted.
    gpt_safety_checks_nonfatal: bool = False


class ImageConversionSettings(BaseModel):
    """Glance's ``[image_conversion]``: imports convert disk images to ``output_format``
    with qemu-img (lading.services.conversion); unset: no conversion."""

    model_config = ConfigDict(extra="forbid")

    output_format: Literal["raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi"] | None = None


class ImageCacheSettings(BaseModel):
    """This node's disk cache of images whose bytes are in a remote store (Glance's image
    cache, lading.services.image_cache): filled by downloads and by ``/v2/cache``'s queue,
    served from local disk after, least recently used images evicted first."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    directory: Path | None = None  # None: ``<data_dir>/image-cache``; one per node
    max_size: int = Field(10 * GiB, gt=0)  # bytes the cached images hold together
    # The stores whose images are cached; None: every s3, swift and http store (a
    # filesystem store's files are sent as they are already).
    stores: list[str] | None = None
    queue_size: int = Field(1000, ge=1)  # images waiting to be cached, at most
    poll_interval: float = Field(1.0, gt=0)  # seconds between looks at the queue
    # Seconds between passes that drop what must not stay cached (images deleted,
    # deactivated or with other data, possibly through another node).
    prune_interval: float = Field(60.0, gt=0)
    # Blocks of zeros of the cached files left as holes, as a filesystem store's (sparse).
    sparse: bool = True


class GlanceDownloadSettings(BaseModel):
    """Glance's ``[glance_download_properties]``: what a glance-download import copies from
    the other region's image besides its data, disk_format and container_format."""

    model_config = ConfigDict(extra="forbid")

    # Prefixes: a property of the remote image whose name starts with one is copied.
    extra_properties: list[str] = ["hw_", "trait:", "os_distro", "os_secure_boot", "os_type"]


class ServerSettings(BaseModel):
    """The HTTP server's edge: how long and how many clients it waits for, and what it
    reads of a body it answered early (docs/configuration.md, docs/reliability.md)."""

    model_config = ConfigDict(extra="forbid")

    # Seconds a client has to send a request's head (line and headers) from its first
    # byte; an idle kept-alive connection is closed after as long (hyper times both).
    header_timeout: float = Field(5.0, ge=0.001, le=60)
    # Connections one worker serves at once; more wait in the listen queue. A file each.
    connections: int = Field(16384, ge=1, le=1_000_000)
    backlog: int = Field(4096, ge=128, le=65535)  # the listen queue (the kernel may cap it)
    # An early answer (a 409 before the body was read) first reads and drops this much of
    # what is left of the body, within drain_timeout, so that the client reads the answer.
    drain_bytes: int = Field(64 * MiB, ge=0)
    drain_timeout: float = Field(30.0, gt=0)  # seconds
    # Past drain_bytes: after the answer, what arrives is still read and dropped until
    # the client stops sending for linger_timeout or linger_time is over (a lingering
    # close, as nginx's), so that the answer is not wiped by a reset.
    linger_time: float = Field(30.0, ge=0)  # seconds
    linger_timeout: float = Field(5.0, gt=0)  # seconds
    # Addresses or CIDR networks of the proxies in front: from them alone, X-Forwarded-For
    # and X-Forwarded-Proto are believed (lading.http.forwarded). None: never.
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies holds addresses or CIDR networks, not {entry!r}"
                ) from None
        return value


ONE_YEAR = 365 * 24 * 3600


class TlsSettings(BaseModel):
    """HTTPS served by lading itself (granian's TLS). No certificate: plain HTTP."""

    model_config = ConfigDict(extra="forbid")

    certificate: Path | None = None  # PEM: the server's certificate, then intermediates
    key: Path | None = None  # PEM: its private key, unencrypted
    # TLS 1.2 too (granian's default is 1.3 only): clients of the seed systems' era
    # (Java 8, OpenSSL 1.0.2) speak 1.2 at most, and 1.2 with granian's ciphers is sound.
    minimum_version: Literal["1.2", "1.3"] = "1.2"
    # A plain-HTTP listener on ``host`` that answers every request with a permanent
    # redirect to the same path on HTTPS; None: none.
    redirect_port: int | None = Field(None, ge=1, le=65535)
    # Strict-Transport-Security on HTTPS answers: browsers then use only HTTPS for the host
    # this long (seconds); 0: no header.
    hsts_max_age: int = Field(ONE_YEAR, ge=0)

    @model_validator(mode="after")
    def _certificate_and_key(self) -> TlsSettings:
        if (self.certificate is None) != (self.key is None):
            raise ValueError("tls.certificate and tls.key go together: set both or neither")
        if self.redirect_port is not None and self.certificate is None:
            raise ValueError("tls.redirect_port redirects to HTTPS: it needs tls.certificate")
        return self

    @property
    def enabled(self) -> bool:
        return self.certificate is not None


def _store_type(value: object) -> str:
    # ``type`` may be left out for the filesystem, the default backend.
    if isinstance(value, dict):
        return str(value.get("type", "filesystem"))
    return str(getattr(value, "type", "filesystem"))


StoreSettings = Annotated[
    Annotated[FilesystemStoreSettings, Tag("filesystem")]
    | Annotated[S3StoreSettings, Tag("s3")]
    | Annotated[SwiftStoreSettings, Tag("swift")]
    | Annotated[RbdStoreSettings, Tag("rbd")]
    | Annotated[HttpStoreSettings, Tag("http")],
    Discriminator(_store_type),
]


def _one_filesystem_store() -> dict[
    str,
    FilesystemStoreSettings
    | S3StoreSettings
    | SwiftStoreSettings
    | RbdStoreSettings
    | HttpStoreSettings,
]:
    return {"default": FilesystemStoreSettings()}


class Settings(BaseSettings):
    """Everything a lading process needs to know, validated once."""

    model_config = SettingsConfigDict(
        env_prefix="LADING_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(9292, ge=0, le=65535)
    data_dir: Path = Path("data")
    database_url: str | None = None
    database_threads: int = Field(2, ge=1, le=64)
    stores: dict[str, StoreSettings] = Field(default_factory=_one_filesystem_store)
    default_store: str = "default"
    image_size_cap: int = Field(TiB, gt=0)
    chunk_size: int = Field(512 * KiB, ge=4096, le=64 * MiB)
    # What a filesystem store reads at a time when lading sends a file itself (ranges).
    # Larger reads save a little CPU per byte, but granian holds about ten of them per
    # download, so memory grows with them (docs/performance.md).
    read_size: int = Field(512 * KiB, ge=4096, le=64 * MiB)
    # A package read as an archive (OSM onboarding), once inflated: at most this size, and
    # past the allowance at most ratio times the bytes received (gzip bombs inflate 1,000
    # times, real tarballs 2 to 16 times).
    package_size_cap: int = Field(8 * GiB, gt=0)
    package_inflate_ratio: float = Field(100.0, ge=1)
    package_inflate_allowance: int = Field(64 * MiB, ge=0)
    upload_stuck_after: float = Field(300.0, gt=0)  # seconds an upload may receive nothing
    # Seconds without a heartbeat (one every third of it) after which a process is dead and
    # its uploads are recovered; on its own host, a dead process is known at once.
    upload_heartbeat: float = Field(30.0, gt=0)
    staging_ttl: float = Field(24 * 3600.0, gt=0)  # staged data waits this long for an import
    # Deleting keeps the data scrub_delay seconds (status pending_delete), then scrubs it.
    delayed_delete: bool = False
    scrub_delay: float = Field(3600.0, ge=0)
    task_poll_interval: float = Field(1.0, gt=0)  # seconds between looks for waiting tasks
    task_lease: float = Field(60.0, gt=0)  # seconds a dead process keeps its task
    task_attempts: int = Field(3, ge=1)  # runs of one task before it fails for good
    task_time_to_live: float = Field(48 * 3600.0, gt=0)  # finished tasks stay listed this long
    default_project: str = "default"
    policy_file: Path | None = None  # YAML: action -> roles; unset: Glance's defaults
    # INI, as Glance's property-protections-roles.conf; unset: no property is protected.
    property_protection_file: Path | None = None
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    signing: SigningSettings = Field(default_factory=SigningSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    # Seals secrets kept for later (a URL's credentials); alike in every process sharing the
    # database. Unset: a key made in data_dir/secret.key, enough for one node.
    secret_key: SecretStr | None = Field(None, min_length=32)
    published_by_default: PublishingSettings = Field(default_factory=PublishingSettings)
    pnda: PndaSettings = Field(default_factory=PndaSettings)
    oci: OciSettings = Field(default_factory=OciSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    pypi: PypiSettings = Field(default_factory=PypiSettings)
    uploads: UploadsSettings = Field(default_factory=UploadsSettings)
    # Where an artifact's data lies, shown to callers the get_image_location policy admits.
    show_image_direct_url: bool = False
    show_multiple_locations: bool = False
    public_endpoint: str | None = None
    # Host names (or addresses, CIDR networks, ".example.org" for a domain and its names,
    # "*" for any) that requests may name, besides loopback, ``host`` and
    # ``public_endpoint``'s: any other Host is refused (DNS rebinding).
    allowed_hosts: list[str] = []
    cors: CorsSettings = Field(default_factory=CorsSettings)
    keystone: KeystoneSettings = Field(default_factory=KeystoneSettings)
    # VISoR store names (s3, walrus, file, ...) -> stores here; unset names go by kind.
    visor_stores: dict[str, str] = Field(default_factory=dict)
    # Named URLs told of events, and how deliveries are tried (docs/events.md).
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)
    webhook_delivery: WebhookDeliverySettings = Field(default_factory=WebhookDeliverySettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    tls: TlsSettings = Field(default_factory=TlsSettings)
    image_format: ImageFormatSettings = Field(default_factory=ImageFormatSettings)
    image_conversion: ImageConversionSettings = Field(default_factory=ImageConversionSettings)
    image_cache: ImageCacheSettings = Field(default_factory=ImageCacheSettings)
    glance_download_properties: GlanceDownloadSettings = Field(
        default_factory=GlanceDownloadSettings
    )
    # Glance's do_secure_hash: a location added with v2.17's POST /locations has its data
    # hashed by a task (checksum, os_hash_value), checked against its validation_data.
    do_secure_hash: bool = True
    # The algorithm of that hash when the client gives none (Glance's hashing_algorithm;
    # the data lading stores itself is always hashed with sha256).
    location_hash_algorithm: Literal["sha256", "sha384", "sha512"] = "sha512"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, for collectors

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts_without_ports(cls, value: list[str]) -> list[str]:
        for host in value:
            bare = host.strip("[]")
            try:
                ipaddress.ip_network(bare, strict=False)
            except ValueError:
                if not bare or any(c in bare for c in ":/@ ") or bare != host:
                    raise ValueError(
                        f"allowed_hosts holds host names, addresses or networks without a "
                        f"port, not {host!r}"
                    ) from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _pnda_config_adds_a_store(cls, data: object) -> object:
        """``pnda.config`` names PNDA's pr-config.json: its store joins ``stores`` as
        "pnda" and takes the PNDA face's uploads. A file that cannot be read raises
        ConfigFileError, one line, past pydantic's report."""
        if not isinstance(data, dict):
            return data
        pnda = data.get("pnda")
        if isinstance(pnda, PndaSettings):
            pnda = pnda.model_dump(exclude_unset=True)
        if not isinstance(pnda, dict) or not pnda.get("config"):
            return data
        store = read_pnda_config(Path(pnda["config"]))
        stores = data.get("stores")
        stores = dict(_one_filesystem_store() if stores is None else stores)
        if PNDA_STORE in stores:
            raise ValueError(
                f"pnda.config makes the store {PNDA_STORE!r}: stores has one of that name"
            )
        stores[PNDA_STORE] = store
        return {**data, "stores": stores, "pnda": {"store": PNDA_STORE, **pnda}}

    @model_validator(mode="after")
    def _default_store_exists(self) -> Settings:
        if self.default_store not in self.stores:
            raise ValueError(f"default_store {self.default_store!r} is not one of the stores")
        if isinstance(self.stores[self.default_store], HttpStoreSettings):
            raise ValueError("default_store cannot be an http store: those are read-only")
        for name, store in self.visor_stores.items():
            if store not in self.stores:
                raise ValueError(f"visor_stores maps {name!r} to {store!r}, not one of the stores")
        pnda_store = self.stores.get(self.pnda.store or self.default_store)
        if pnda_store is None:
            raise ValueError(f"pnda.store {self.pnda.store!r} is not one of the stores")
        if isinstance(pnda_store, HttpStoreSettings):
            raise ValueError("pnda.store cannot be an http store: those are read-only")
        for store in self.image_cache.stores or ():
            if store not in self.stores:
                raise ValueError(f"image_cache.stores names {store!r}, not one of the stores")
        return self

    @model_validator(mode="after")
    def _deliveries_end_within_a_lease(self) -> Settings:
        # A try that outlived its task's lease would be taken over by another process and
        # sent twice at once.
        if self.webhooks and self.webhook_delivery.timeout >= self.task_lease:
            raise ValueError("webhook_delivery.timeout must be shorter than task_lease")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lading.db').resolve()}"

    @property
    def image_cache_directory(self) -> Path:
        """Where this node keeps its image cache."""
        return (self.image_cache.directory or self.data_dir / "image-cache").resolve()

    def cached_stores(self) -> set[str]:
        """The stores whose images the image cache keeps (none while it is off)."""
        if not self.image_cache.enabled:
            return set()
        if self.image_cache.stores is not None:
            return set(self.image_cache.stores)
        return {
            name
            for name, store in self.stores.items()
            if not isinstance(store, FilesystemStoreSettings)
        }

    def store_path(self, name: str) -> Path:
        """Where the filesystem store ``name`` keeps its objects."""
        store = self.stores[name]
        assert isinstance(store, FilesystemStoreSettings)
        return (store.path or self.data_dir / "stores" / name).resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then LADING_* variables, then the TOML file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get() or os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(f"config file {config_file} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    @classmethod
    def load(
        cls,
        config_file: Path | None = None,
        pnda_config: Path | None = None,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> Settings:
        """Read the settings; ``config_file`` wins over ``LADING_CONFIG``, ``pnda_config``
        over ``pnda.config``, ``host`` and ``port`` (``lading serve``'s flags) over every
        source. The process's environment is left as it is: ``lading serve`` hands the
        same arguments to its workers (``lading.cli.launch``).

        A ``LADING_*`` variable or a key of the file that is no setting raises
        UnknownSetting (lading.settings_keys), naming the nearest setting."""
        named = config_file or os.environ.get(CONFIG_FILE_VARIABLE)
        check_names(cls, Path(named) if named else None)
        given: dict[str, Any] = {}
        if pnda_config is not None:  # an argument outranks the variables and the file
            given["pnda"] = {"config": pnda_config}
        if host is not None:
            given["host"] = host
        if port is not None:
            given["port"] = port
        if config_file is None:
            return cls(**given)
        chosen = _config_file.set(config_file.resolve())
        try:
            return cls(**given)
        finally:
            _config_file.reset(chosen)
