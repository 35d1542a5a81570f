"""The OCI registry: repositories of blobs, manifests and tags, and who may do what.

A repository's name is a package name of the ``oci`` namespace: the first project to push
to it owns it (a failed, refused or cut-off push holds nothing: the name is claimed when
a blob or manifest is committed). Its owner's members push, its owner's readers pull,
anyone pulls a public repository; an administrator does anything. Blobs are lading's
blobs, deduplicated by sha256 with every other face: each repository's link to one is a
reference on it, and the last reference gone frees the bytes.

A chunked upload on a store that appends in place (the filesystem) writes every chunk
into the one pending blob it will become, its md5 and sha256 carried on from chunk to
chunk (in the process, or read back from the blob when another process took the last
chunk): finishing checks the digest and links the blob, with no copy. On other stores
each chunk is a pending blob of its own (a part), and finishing streams the parts, hashed
as they pass, into the blob. Parts of an upload left alone for ``upload_stuck_after`` are
swept by recovery like any pending blob.

Registry tokens (the token endpoint's) are sealed: the project, roles and the actions
granted on each repository, good for ``oci.token_lifetime`` seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import blobs, names, usage
from lading.db import oci as queries
from lading.db.engine import Database
from lading.domain import Digests, PackageName
from lading.errors import (
    BlobUnknown,
    BlobUploadUnknown,
    DigestInvalid,
    Forbidden,
    LadingError,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    ObjectNotFound,
    QuotaExceeded,
    RangeNotSatisfiable,
    StoreError,
    TooLarge,
    Unauthorized,
    Unsupported,
)
from lading.processes import ThisProcess
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.container_disks import ContainerDisks, DiskBlob, is_image_repository
from lading.services.digests import DigestingStream, HashStates, RunningHashes, rehash
from lading.services.liveness import beating
from lading.services.name_rules import skeleton
from lading.services.policy import Policy
from lading.services.roles import MEMBER
from lading.services.sealing import Sealer, Unsealable
from lading.settings import Settings
from lading.stores.registry import StoreRegistry

# The spec's grammar of a repository name, and of a tag.
NAME = re.compile(
    r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*"
)
MAX_NAME = 255
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
# lading's blobs are addressed by sha256: the one algorithm taken.
DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
ANY_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")
TOKEN_PREFIX = "oci."
PULL, PUSH, DELETE = "pull", "push", "delete"
PUBLIC, PRIVATE = "public", "private"
MAX_PAGE = 1000

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEXES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = IMAGE_MANIFESTS | INDEXES
# Layers kept elsewhere (Windows base layers): referenced by URL, never pushed here.
FOREIGN_LAYERS = frozenset(
    {
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    }
)


@dataclass(frozen=True, slots=True)
class Access:
    """Who asks: a caller (None: anonymous) and, with a registry token, the actions it
    grants on each repository (None: the caller's own rights, a lading token's)."""

    caller: Caller | None
    scopes: Mapping[str, frozenset[str]] | None = None

    def allows(self, name: str, action: str) -> bool:
        if self.scopes is None:
            return True
        granted = self.scopes.get(name, frozenset())
        return action in granted or "*" in granted


@dataclass(frozen=True, slots=True)
class TokenScope:
    """``repository:<name>:<actions>`` of a token request or a challenge."""

    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> TokenScope | None:
        kind, _, rest = text.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository" or not name:
            return None
        return cls(name, frozenset(action for action in actions.split(",") if action))


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str


@dataclass(frozen=True, slots=True)
class BlobRead:
    """A blob's bytes, ready to stream."""

    digest: str
    size: int
    store: str = ""
    key: str = ""
    disk: DiskBlob | None = None  # a blob of an image's container disk, made when read
    repository: str = ""  # the repository it was found linked to


@dataclass(frozen=True, slots=True)
class UploadState:
    id: str
    repository: str
    size: int  # bytes received so far: the next chunk starts there


@dataclass(frozen=True, slots=True)
class StoredManifest:
    digest: str
    media_type: str
    content: bytes
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    items: list[str]
    more: bool  # another page follows the last of ``items``


@dataclass(slots=True)
class _Parsed:
    media_type: str
    blobs: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    subject: str | None = None
    artifact_type: str | None = None


def check_name(name: str) -> str:
    if len(name) > MAX_NAME or NAME.fullmatch(name) is None:
        raise NameInvalid(f"{name!r} is not a repository name (the spec's grammar, at most 255)")
    return name


def check_digest(digest: str) -> str:
    if DIGEST.fullmatch(digest) is None:
        if ANY_DIGEST.fullmatch(digest) is not None and not digest.startswith("sha256:"):
            raise Unsupported(f"{digest!r}: this registry addresses content by sha256 only")
        raise DigestInvalid(f"{digest!r} is not a digest (sha256:<64 hex digits>)")
    return digest


def is_digest(reference: str) -> bool:
    return ":" in reference


class Registry:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        catalogue: Catalogue,
        sealer: Sealer,
        policy: Policy,
        this_process: ThisProcess,
        clock: Clock | None = None,
        disks: ContainerDisks | None = None,
    ) -> None:
        self._disks = disks
        self._policy = policy
        self._settings = settings
        self._database = database
        self._stores = stores
        self._catalogue = catalogue
        self._sealer = sealer
        self._this_process = this_process
        self._clock = clock or Clock()
        self._hashes = HashStates(settings.uploads.hashers)

    # Tokens

    def issue_token(self, caller: Caller | None, scopes: Iterable[TokenScope]) -> IssuedToken:
        """A token granting what the caller asks of ``scopes`` (the actions it asked,
        as far as it may take them when it uses the token: the repository's rules still
        apply then, so a grant here never widens them)."""
        now = self._clock.now()
        lifetime = self._settings.oci.token_lifetime
        access = {scope.name: sorted(scope.actions & {PULL, PUSH, DELETE}) for scope in scopes}
        if caller is not None and not caller.is_admin and MEMBER not in caller.roles:
            access = {name: [a for a in actions if a == PULL] for name, actions in access.items()}
        claims = {
            "project": None if caller is None else caller.project,
            "roles": [] if caller is None else sorted(caller.roles),
            "user": None if caller is None else caller.user,
            "access": access,
            "exp": now.timestamp() + lifetime,
        }
        token = TOKEN_PREFIX + self._sealer.seal(claims)
        return IssuedToken(token, lifetime, now.isoformat() + "Z")

    def open_token(self, token: str) -> Access:
        """The access a registry token grants; Unauthorized when it is not one of ours,
        or has expired."""
        try:
            claims = self._sealer.open(token.removeprefix(TOKEN_PREFIX))
        except (Unsealable, ValueError):
            raise Unauthorized("the registry token is not valid") from None
        if float(claims.get("exp", 0)) <= self._clock.now().timestamp():
            raise Unauthorized("the registry token has expired")
        scopes = {name: frozenset(actions) for name, actions in claims["access"].items()}
        project = claims.get("project")
        # The configured policy, as every other way in has it: a token's caller under the
        # default rules would take what an operator's policy file forbids.
        caller = None
        if project is not None:
            roles = frozenset(claims["roles"])
            caller = Caller(project, roles, self._policy, user=claims.get("user"))
        return Access(caller, scopes)

    # Who may do what

    def _disks_for(self, access: Access, name: str) -> tuple[ContainerDisks, Caller | None]:
        """For a catalogue image's repository: the caller its token lets pull it."""
        if self._disks is None:
            raise NameUnknown(f"repository {name} is not known")
        if not access.allows(name, PULL):
            if access.caller is None:
                raise Unauthorized(f"pulling from {name} needs a token")
            raise _insufficient(name, PULL)
        return self._disks, access.caller

    async def _readable(self, access: Access, name: str) -> queries.Repository:
        check_name(name)
        if is_image_repository(name):
            # The catalogue's images are no repository of the registry's own: a mount
            # from one finds nothing, and the client uploads.
            raise NameUnknown(f"repository {name} holds no blobs to mount")
        repository = await self._database.read(queries.find_repository, name)
        caller = access.caller
        visible = repository is not None and (
            repository.visibility == PUBLIC
            or (caller is not None and (caller.is_admin or caller.project == repository.owner))
        )
        if caller is not None and not access.allows(name, PULL):
            raise _insufficient(name, PULL)
        if repository is None or not visible or not access.allows(name, PULL):
            if caller is None:
                raise Unauthorized(f"pulling from {name} needs a token")
            raise NameUnknown(f"repository {name} is not known")
        return repository

    def _pushable(
        self, connection: Connection, access: Access, name: str, action: str = PUSH
    ) -> PackageName | None:
        """In a transaction: the name's record (None: a new name); refused unless the
        caller may push to it."""
        caller = access.caller
        if caller is None:
            raise Unauthorized(f"pushing to {name} needs a token with {action} on it")
        if is_image_repository(name):
            raise Forbidden(f"{name} is an image of the catalogue: nothing is pushed there")
        if not access.allows(name, action):
            raise _insufficient(name, action)
        if not (caller.is_admin or MEMBER in caller.roles):
            raise Forbidden(f"a reader may not push to {name}")
        found = names.find(connection, queries.NAMESPACE, name, for_update=True)
        if found is None:
            for other in names.look_alikes(connection, queries.NAMESPACE, skeleton(name), name):
                if other.owner != caller.project and not caller.is_admin:
                    raise Forbidden(
                        f"{name} looks like {other.name}, a repository of another project"
                    )
            return None
        if caller.is_admin or caller.project == found.owner or caller.project in found.publishers:
            return found
        raise Forbidden(f"repository {name} belongs to another project")

    def _claim(self, connection: Connection, access: Access, name: str) -> None:
        """In the transaction that commits a push: the repository, recorded as the
        caller's if it is new."""
        assert access.caller is not None
        if self._pushable(connection, access, name) is None:
            names.lock_skeleton(connection, queries.NAMESPACE, skeleton(name))
            moment = self._clock.now()
            new = PackageName(name, access.caller.project, [], moment)
            if not names.insert_name(connection, queries.NAMESPACE, name, skeleton(name), new):
                self._pushable(connection, access, name)  # taken meanwhile: its rules
        queries.insert_repository(connection, name, self._clock.now())

    async def check_push(self, access: Access, name: str) -> None:
        check_name(name)
        await self._database.read(self._pushable, access, name)

    # Quotas: a project's repositories hold bytes of its byte quota

    async def _check_room(
        self, access: Access, name: str, length: int | None, digest: str | None = None
    ) -> None:
        """QuotaExceeded before any byte comes when the repository's project (the
        caller's, for a new one) has no room for ``length`` more (None: for any) and does
        not hold ``digest`` already. The link's transaction decides (``_charge``)."""
        assert access.caller is not None
        repository = await self._database.read(queries.find_repository, name)
        owner = access.caller.project if repository is None else repository.owner
        limit = self._settings.quota.for_project(owner).bytes
        if limit is None:
            return
        if digest is not None and await self._database.read(queries.holds_digest, owner, digest):
            return
        used = await self._database.read(usage.used_bytes, owner)
        if used + (length or 0) > limit or (length is None and used >= limit):
            raise _over_quota(owner, length or 0, used, limit)

    def _charge(self, connection: Connection, name: str, blob_id: int, size: int) -> None:
        """In the transaction linking a blob (its repository claimed): QuotaExceeded if the
        blob would take its project past its byte quota. A blob the project holds already,
        in any of its repositories, costs nothing more."""
        owner = names.find(connection, queries.NAMESPACE, name)
        assert owner is not None  # claimed
        limit = self._settings.quota.for_project(owner.owner).bytes
        if limit is None or queries.holds_blob(connection, owner.owner, blob_id):
            return
        used = usage.charging(connection, owner.owner).bytes
        if used + size > limit:
            raise _over_quota(owner.owner, size, used, limit)

    async def repositories(
        self, caller: Caller, last: str | None = None, limit: int = MAX_PAGE
    ) -> list[queries.RepositorySummary]:
        """The caller's project's repositories (every one, for an administrator), by name
        after ``last``, with the bytes they hold."""
        project = None if caller.is_admin else caller.project
        return await self._database.read(queries.summaries, project, last, min(limit, MAX_PAGE))

    async def repository(self, caller: Caller, name: str) -> queries.RepositorySummary:
        """One of the caller's project's repositories (any, for an administrator); another
        project's is not known."""
        project = None if caller.is_admin else caller.project
        found = await self._database.read(queries.summary, project, name)
        if found is None:
            raise NameUnknown(f"repository {name} is not known")
        return found

    async def owner(self, name: str) -> str:
        """The project that owns the repository (an operator's look)."""
        repository = await self._database.read(queries.find_repository, check_name(name))
        if repository is None:
            raise NameUnknown(f"repository {name} is not known")
        return repository.owner

    async def set_visibility(self, caller: Caller, name: str, visibility: str) -> None:
        """Make a repository public (anyone pulls) or private (its project only): its
        project's members and administrators; its readers are refused, and it is not known
        to other projects."""
        if visibility not in (PUBLIC, PRIVATE):
            raise Unsupported(f"visibility is public or private, not {visibility!r}")

        def write(connection: Connection) -> None:
            repository = queries.find_repository(connection, name)
            if repository is None or not (caller.is_admin or caller.project == repository.owner):
                raise NameUnknown(f"repository {name} is not known")
            if not (caller.is_admin or MEMBER in caller.roles):
                raise Forbidden("a reader may not change a repository")
            queries.set_visibility(connection, name, visibility)

        await self._database.write(write)

    # Listing

    async def catalog(self, access: Access, n: int | None, last: str | None) -> Page:
        caller = access.caller
        if caller is None:
            project: str | None = ""  # anonymous: public repositories only
        else:
            project = None if caller.is_admin else caller.project
        limit = min(n if n is not None else MAX_PAGE, MAX_PAGE)
        found = await self._database.read(queries.list_repositories, project, last, limit + 1)
        return Page(found[:limit], len(found) > limit)

    async def tags(self, access: Access, name: str, n: int | None, last: str | None) -> Page:
        if is_image_repository(name):
            check_name(name)
            disks, caller = self._disks_for(access, name)
            found = [tag for tag in await disks.tags(caller, name) if last is None or tag > last]
            return Page(found[: n if n is not None else MAX_PAGE], False)
        await self._readable(access, name)
        limit = min(n if n is not None else MAX_PAGE, MAX_PAGE)
        found = await self._database.read(queries.list_tags, name, last, limit + 1)
        return Page(found[:limit], len(found) > limit)

    # Blobs

    async def blob(self, access: Access, name: str, digest: str) -> BlobRead:
        if is_image_repository(name):
            check_name(name)
            disks, caller = self._disks_for(access, name)
            found = await disks.blob(caller, name, check_digest(digest))
            return BlobRead(found.digest, found.size, disk=found)
        await self._readable(access, name)
        check_digest(digest)
        linked = await self._database.read(queries.find_blob, name, digest)
        if linked is None:
            raise BlobUnknown(f"repository {name} holds no blob {digest}")
        return BlobRead(linked.digest, linked.size, linked.store, linked.key, repository=name)

    async def check_bytes(self, blob: BlobRead) -> None:
        """ObjectNotFound (503) when the store lacks the blob's bytes: said before an
        answer starts, rather than a body cut short."""
        if blob.disk is not None:
            return  # the image's download looked already
        try:
            stored = await self._stores.get(blob.store).stat(blob.key)
            if stored.size == blob.size:
                return
            missing = ObjectNotFound(
                f"store {blob.store!r} holds {stored.size} of the {blob.size} bytes "
                f"of {blob.digest}"
            )
        except ObjectNotFound as exc:
            missing = exc
        # Deleted since it was found (a DELETE of the blob, even one a manifest still
        # names, or its collection): unknown, as the spec has it, not data lost.
        linked = await self._database.read(queries.find_blob, blob.repository, blob.digest)
        if linked is None or (linked.store, linked.key) != (blob.store, blob.key):
            raise BlobUnknown(f"repository {blob.repository} holds no blob {blob.digest}")
        raise missing

    def read(self, blob: BlobRead, start: int, end: int) -> AsyncIterator[bytes]:
        if blob.disk is not None:
            return blob.disk.read(start, end)
        return self._stores.get(blob.store).open(blob.key, start, end)

    async def delete_blob(self, access: Access, name: str, digest: str) -> None:
        check_name(name)
        check_digest(digest)

        def write(connection: Connection) -> list[blobs.Blob]:
            self._pushable(connection, access, name, DELETE)
            blob_id = queries.unlink_blob(connection, name, digest)
            if blob_id is None:
                raise BlobUnknown(f"repository {name} holds no blob {digest}")
            return blobs.drop_references(connection, [blob_id])

        await self._catalogue.discard(await self._database.write(write))

    async def mount(self, access: Access, name: str, digest: str, source: str) -> bool:
        """Link the blob ``source`` holds into ``name`` too; False when it cannot be
        (not there, or not the caller's to read): the client then uploads it."""
        check_name(name)
        check_digest(digest)
        try:
            await self._readable(access, source)
        except LadingError:
            return False

        def write(connection: Connection) -> bool:
            linked = queries.find_blob(connection, source, digest)
            if linked is None:
                self._pushable(connection, access, name)
                return False
            self._claim(connection, access, name)
            self._charge(connection, name, linked.blob_id, linked.size)
            if not blobs.add_reference(connection, linked.blob_id):
                return False
            moment = self._clock.now()
            if not queries.link_blob(connection, name, digest, linked.blob_id, linked.size, moment):
                blobs.drop_references(connection, [linked.blob_id])  # held already
            return True

        return await self._database.write(write)

    async def start_upload(self, access: Access, name: str) -> UploadState:
        await self.check_push(access, name)
        await self._check_room(access, name, None)
        assert access.caller is not None
        upload = queries.Upload(
            str(uuid.uuid4()), name, access.caller.project, self._stores.default, 0, 0
        )
        await self._database.write(queries.insert_upload, upload, self._clock.now())
        return UploadState(upload.id, name, 0)

    async def upload_state(self, access: Access, name: str, upload_id: str) -> UploadState:
        upload = await self._upload(access, name, upload_id)
        return UploadState(upload.id, name, upload.size)

    async def _upload(self, access: Access, name: str, upload_id: str) -> queries.Upload:
        await self.check_push(access, name)
        assert access.caller is not None
        upload = await self._database.read(queries.find_upload, upload_id)
        if (
            upload is None
            or upload.repository != name
            or (upload.project != access.caller.project and not access.caller.is_admin)
        ):
            raise BlobUploadUnknown(f"no upload {upload_id} to {name}")
        return upload

    async def append(
        self,
        access: Access,
        name: str,
        upload_id: str,
        body: AsyncIterable[bytes],
        start: int | None,
        length: int | None = None,
    ) -> UploadState:
        """A chunk, at the offset the upload is at (``start``, when the client says)."""
        upload = await self._upload(access, name, upload_id)
        if start is not None and start != upload.size:
            raise RangeNotSatisfiable(
                f"the upload holds {upload.size} bytes: a chunk starts there, not at {start}",
                upload.size,
            )
        room = self._settings.image_size_cap - upload.size
        store = self._stores.get(upload.store)
        if store.appends_in_place:
            return await self._append_in_place(upload, name, body, max(room, 0), length)
        async with self._catalogue.pending_blob(store.name, None) as pending:  # the upload's
            part = pending.blob
            stream = DigestingStream(body, self._settings.chunk_size, max(room, 0), length)
            chunks = beating(
                stream.chunks(),
                self._settings.upload_stuck_after / 4,
                lambda: self._database.write(
                    queries.touch_chunk, upload.id, part.id, self._clock.now()
                ),
            )
            stored = await store.put(part.key, chunks)
            digests = await stream.digests()
            if stored.size != digests.size:
                raise StoreError(f"store {store.name!r} kept {stored.size} of {digests.size} bytes")
            if not await self._database.write(
                queries.add_part, upload, part, digests, self._clock.now()
            ):
                raise RangeNotSatisfiable("another chunk was written meanwhile", upload.size)
        return UploadState(upload.id, name, upload.size + stored.size)

    async def _append_in_place(
        self,
        upload: queries.Upload,
        name: str,
        body: AsyncIterable[bytes],
        room: int,
        length: int | None,
    ) -> UploadState:
        """A chunk appended to the upload's one pending blob, its hashes carried on."""
        store = self._stores.get(upload.store)
        token = uuid.uuid4().hex
        now = self._clock.now()
        until = now + timedelta(seconds=self._settings.upload_stuck_after)
        if not await self._database.write(queries.claim_writer, upload, token, until, now):
            raise RangeNotSatisfiable("another chunk is being written", upload.size)
        first = upload.parts == 0
        try:
            if first:
                key = blobs.new_key()
                blob_id = await self._database.write(blobs.reserve, store.name, key, now, None)
                running = RunningHashes.empty()
            else:
                parts = await self._database.read(queries.parts, upload.id)
                key, blob_id = parts[0].key, parts[0].blob_id
                running = self._hashes.take(upload.id, upload.size) or await rehash(
                    store.open(key, 0, upload.size)
                )
            blob = blobs.Blob(blob_id, store.name, key)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._database.write(queries.release_writer, upload.id, token)
            raise
        try:
            going_on = running.copy()  # the hashes kept are whole chunks' only
            stream = DigestingStream(
                body, self._settings.chunk_size, room, length, running=going_on
            )
            chunks = beating(
                stream.chunks(),
                self._settings.upload_stuck_after / 4,
                lambda: self._database.write(
                    queries.touch_chunk, upload.id, blob_id, self._clock.now(), token,
                    self._clock.now() + timedelta(seconds=self._settings.upload_stuck_after),
                ),
            )  # fmt: skip
            stored = await store.put_part(key, upload.parts, upload.size, chunks)
            digests = await stream.digests()  # of the whole so far; the size, the chunk's
            if stored.size != digests.size:
                raise StoreError(f"store {store.name!r} kept {stored.size} of {digests.size} bytes")
            if not await self._database.write(
                queries.add_part, upload, blob, digests, self._clock.now()
            ):
                raise RangeNotSatisfiable("another chunk was written meanwhile", upload.size)
            going_on.offset = upload.size + digests.size
            self._hashes.keep(upload.id, going_on)
        except BaseException:
            with anyio.CancelScope(shield=True):
                if first:
                    await self._catalogue.discard([blob])
                else:  # the chunks before it stay; what it wrote goes
                    with contextlib.suppress(LadingError):
                        await store.discard_part(key, upload.parts, upload.size)
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await self._database.write(queries.release_writer, upload.id, token)
        return UploadState(upload.id, name, upload.size + digests.size)

    async def finish(
        self,
        access: Access,
        name: str,
        upload_id: str,
        digest: str,
        body: AsyncIterable[bytes] | None,
        start: int | None,
    ) -> str:
        """The last chunk (if any), then the blob made of the parts, checked against
        ``digest``. The upload ends either way; a wrong digest keeps nothing."""
        check_digest(digest)
        if body is not None:
            await self.append(access, name, upload_id, body, start)
        upload = await self._upload(access, name, upload_id)
        if not await self._database.write(queries.claim_upload, upload, self._clock.now()):
            raise BlobUploadUnknown(f"upload {upload_id} is being finished by another request")
        parts = await self._database.read(queries.parts, upload_id)
        try:
            swept = len(parts) != upload.parts or sum(part.size for part in parts) != upload.size
            if swept or any(part.state != blobs.PENDING for part in parts):
                raise BlobUploadUnknown(f"upload {upload_id} was left too long and swept")
            self._hashes.take(upload.id, upload.size)
            if len(parts) == 1 or len({part.blob_id for part in parts}) == 1:
                # One chunk, or chunks appended in place: the blob is whole already.
                await self._adopt(access, name, digest, parts[-1], upload.size)
                return digest
            store = self._stores.get(upload.store)

            beat_every = self._settings.upload_stuck_after / 4
            last_beat = time.monotonic()

            async def joined() -> AsyncIterator[bytes]:
                nonlocal last_beat
                for part in parts:
                    async for chunk in store.open(part.key, 0, part.size):
                        if time.monotonic() - last_beat > beat_every:
                            # A long copy keeps its chunks from recovery's sweep.
                            last_beat = time.monotonic()
                            await self._database.write(
                                queries.touch_upload, upload_id, self._clock.now()
                            )
                        yield chunk

            await self._receive(access, name, digest, joined(), upload.size, upload.store)
        finally:
            with anyio.CancelScope(shield=True):
                doomed = await self._database.write(queries.remove_upload, upload_id)
                await self._catalogue.discard(doomed)
        return digest

    async def _adopt(
        self, access: Access, name: str, digest: str, part: queries.Part, size: int
    ) -> None:
        """An upload of one part, or of chunks appended to one: the pending blob, hashed
        as it came (``part``: its last chunk, whose digests are the whole's), becomes the
        blob."""
        if part.sha256 is None or part.checksum is None or f"sha256:{part.sha256}" != digest:
            raise DigestInvalid(f"the data's digest is sha256:{part.sha256}, not {digest}")
        stored = await self._stores.get(part.store).stat(part.key)
        if stored.size != size:
            raise StoreError(f"store {part.store!r} holds {stored.size} of the {size} bytes "
                             f"of {digest}")  # fmt: skip
        digests = Digests(size, part.checksum, part.sha256)
        redundant = await self._database.write(
            self._link, access, name, digest, part.blob_id, digests
        )
        with anyio.CancelScope(shield=True):
            await self._catalogue.discard(redundant)

    def local_path(self, blob: BlobRead) -> Path | None:
        """The blob's file, when its store is local (the server may send it itself)."""
        if blob.disk is not None:
            return None  # composed as it is read
        return self._stores.get(blob.store).local_path(blob.key)

    def accel_uri(self, blob: BlobRead) -> str | None:
        """Where the proxy in front finds the blob's file (``X-Accel-Redirect``); never
        for a container disk's layer, composed as it is read."""
        if blob.disk is not None:
            return None
        return self._stores.get(blob.store).accel_uri(blob.key)

    async def redirect_url(self, blob: BlobRead) -> str | None:
        """Where the client may fetch the blob itself, when its store hands bytes off."""
        if blob.disk is not None:
            return None
        return await self._stores.get(blob.store).redirect_url(blob.key)

    async def cancel(self, access: Access, name: str, upload_id: str) -> None:
        await self._upload(access, name, upload_id)
        doomed = await self._database.write(queries.remove_upload, upload_id)
        await self._catalogue.discard(doomed)

    async def upload(
        self,
        access: Access,
        name: str,
        digest: str,
        body: AsyncIterable[bytes],
        length: int | None,
    ) -> str:
        """A monolithic upload: the whole blob in one request."""
        check_digest(digest)
        await self.check_push(access, name)
        await self._check_room(access, name, length, digest)
        await self._receive(access, name, digest, body, length, self._stores.default)
        return digest

    async def _receive(
        self,
        access: Access,
        name: str,
        digest: str,
        body: AsyncIterable[bytes],
        length: int | None,
        store_name: str,
    ) -> None:
        """Stream ``body`` into a new blob, hashed as it passes; linked into the
        repository if its sha256 is ``digest``, removed otherwise."""
        store = self._stores.get(store_name)
        async with self._catalogue.pending_blob(store.name, self._this_process.holder) as pending:
            blob_id = pending.blob.id
            stream = DigestingStream(
                body, self._settings.chunk_size, self._settings.image_size_cap, length
            )
            chunks = beating(
                stream.chunks(),
                self._settings.upload_stuck_after / 4,
                lambda: self._database.write(blobs.touch, blob_id, self._clock.now()),
            )
            stored = await store.put(pending.blob.key, chunks)
            digests = await stream.digests()
            if f"sha256:{digests.sha256}" != digest:
                raise DigestInvalid(f"the data's digest is sha256:{digests.sha256}, not {digest}")
            if stored.size != digests.size:
                raise StoreError(f"store {store.name!r} kept {stored.size} of {digests.size} bytes")
            pending.redundant = await self._database.write(
                self._link, access, name, digest, blob_id, digests
            )

    def _link(
        self,
        connection: Connection,
        access: Access,
        name: str,
        digest: str,
        blob_id: int,
        digests: Digests,
    ) -> list[blobs.Blob]:
        """In one transaction: the repository claimed, the pending blob made ready (or
        its bytes shared with identical ones), and linked. What nobody needs now (the
        pending blob's bytes when shared; the blob, when the repository held it already)
        is returned, for its bytes to be removed."""
        self._claim(connection, access, name)
        settled = blobs.settle(connection, blob_id, digests.size, digests.md5, digests.sha256)
        self._charge(connection, name, settled.kept, digests.size)
        redundant = [] if settled.redundant is None else [settled.redundant]
        moment = self._clock.now()
        if not queries.link_blob(connection, name, digest, settled.kept, digests.size, moment):
            redundant += blobs.drop_references(connection, [settled.kept])  # held already
        return redundant

    # Manifests

    async def manifest(self, access: Access, name: str, reference: str) -> StoredManifest:
        if is_image_repository(name):
            check_name(name)
            disks, caller = self._disks_for(access, name)
            if is_digest(reference):
                check_digest(reference)
            else:
                _check_tag(reference)
            made = await disks.manifest(caller, name, reference)
            return StoredManifest(made.digest, OCI_MANIFEST, made.content)
        await self._readable(access, name)
        digest = await self._resolve(name, reference)
        found = await self._database.read(queries.find_manifest, name, digest)
        if found is None:
            raise ManifestUnknown(f"repository {name} has no manifest {reference}")
        return StoredManifest(found.digest, found.media_type, found.content)

    async def _resolve(self, name: str, reference: str) -> str:
        if is_digest(reference):
            return check_digest(reference)
        if TAG.fullmatch(reference) is None:
            # No manifest can be known by it: unknown (404), as the spec's conformance
            # suite expects of a pull by ".INVALID_MANIFEST_NAME"; a push by it is invalid.
            raise ManifestUnknown(f"repository {name} has no manifest {reference!r}")
        digest = await self._database.read(queries.find_tag, name, reference)
        if digest is None:
            raise ManifestUnknown(f"repository {name} has no tag {reference}")
        return digest

    async def put_manifest(
        self, access: Access, name: str, reference: str, content_type: str, content: bytes
    ) -> StoredManifest:
        check_name(name)
        if len(content) > self._settings.oci.manifest_size_cap:
            raise TooLarge(
                f"a manifest may not exceed {self._settings.oci.manifest_size_cap} bytes"
            )
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        if is_digest(reference):
            check_digest(reference)
            if reference != digest:
                raise DigestInvalid(f"the manifest's digest is {digest}, not {reference}")
        else:
            _check_tag(reference)
        parsed = _parse(content, content_type)
        manifest = queries.Manifest(digest, parsed.media_type, content, parsed.artifact_type)

        def write(connection: Connection) -> None:
            self._pushable(connection, access, name)
            missing = [
                *queries.missing_blobs(connection, name, parsed.blobs),
                *queries.missing_manifests(connection, name, parsed.manifests),
            ]
            if missing:
                raise ManifestBlobUnknown(
                    f"the manifest refers to what repository {name} does not hold: "
                    + ", ".join(missing[:10])
                )
            self._claim(connection, access, name)
            moment = self._clock.now()
            queries.put_manifest(connection, name, manifest, parsed.subject, moment, parsed.blobs)
            if not is_digest(reference):
                queries.set_tag(connection, name, reference, digest, moment)

        await self._database.write(write)
        return StoredManifest(digest, parsed.media_type, content, parsed.subject)

    async def delete_manifest(self, access: Access, name: str, reference: str) -> None:
        """By digest: the manifest and its tags; by tag: the tag alone."""
        check_name(name)
        tag = not is_digest(reference)
        if not tag:
            check_digest(reference)

        def write(connection: Connection) -> None:
            self._pushable(connection, access, name, DELETE)
            if tag and TAG.fullmatch(reference) is None:  # names nothing, as in _resolve
                raise ManifestUnknown(f"repository {name} has no manifest {reference!r}")
            if tag:
                digest = queries.find_tag(connection, name, reference)
                if digest is None:
                    raise ManifestUnknown(f"repository {name} has no tag {reference}")
                queries.delete_tag(connection, name, reference)
            elif not queries.delete_manifest(connection, name, reference):
                raise ManifestUnknown(f"repository {name} has no manifest {reference}")

        await self._database.write(write)

    async def referrers(
        self, access: Access, name: str, digest: str, artifact_type: str | None
    ) -> list[dict[str, Any]]:
        """Descriptors of the manifests whose subject is ``digest``."""
        await self._readable(access, name)
        check_digest(digest)
        found = await self._database.read(queries.referrers, name, digest)
        descriptors = []
        for manifest in found:
            if artifact_type is not None and manifest.artifact_type != artifact_type:
                continue
            descriptor: dict[str, Any] = {
                "mediaType": manifest.media_type,
                "digest": manifest.digest,
                "size": len(manifest.content),
            }
            if manifest.artifact_type is not None:
                descriptor["artifactType"] = manifest.artifact_type
            annotations = _annotations(manifest.content)
            if annotations:
                descriptor["annotations"] = annotations
            descriptors.append(descriptor)
        return descriptors


def _over_quota(project: str, adding: int, used: int, limit: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"quota exceeded: adding {adding} bytes to the {used} bytes project {project} holds "
        f"would pass its quota of {limit} bytes; delete something (then run garbage "
        "collection) or ask for a larger quota"
    )


def _insufficient(name: str, action: str) -> Forbidden:
    """A registry token without the action on the repository: 403, as RFC 6750's
    insufficient_scope, so that clients fetch a token for it (the face's challenge)."""
    return Forbidden(f"the token does not grant {action} on {name}")


def _check_tag(tag: str) -> None:
    if TAG.fullmatch(tag) is None:
        raise ManifestInvalid(f"{tag!r} is neither a tag nor a digest")


def _parse(content: bytes, content_type: str) -> _Parsed:
    """What a manifest refers to; ManifestInvalid when it is not one this registry keeps."""
    try:
        document = json.loads(content)
    except (ValueError, RecursionError):
        raise ManifestInvalid("the manifest is not JSON") from None
    if not isinstance(document, dict):
        raise ManifestInvalid("a manifest is a JSON object")
    declared = document.get("mediaType")
    media_type = content_type.partition(";")[0].strip() or declared
    if media_type not in MANIFEST_TYPES:
        raise ManifestInvalid(f"manifests of type {media_type!r} are not kept here")
    if declared is not None and declared != media_type:
        raise ManifestInvalid(f"the manifest says it is {declared}, the request {media_type}")
    if document.get("schemaVersion") != 2:
        raise ManifestInvalid("schemaVersion must be 2")
    parsed = _Parsed(media_type)
    if media_type in IMAGE_MANIFESTS:
        config = _descriptor(document.get("config"), "config")
        layers = document.get("layers")
        if not isinstance(layers, list):
            raise ManifestInvalid("an image manifest has a list of layers")
        parsed.blobs.append(config["digest"])
        for layer in layers:
            found = _descriptor(layer, "layer")
            if found.get("mediaType") not in FOREIGN_LAYERS:
                parsed.blobs.append(found["digest"])
        parsed.artifact_type = document.get("artifactType") or config.get("mediaType")
    else:
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise ManifestInvalid("an index has a list of manifests")
        parsed.manifests.extend(_descriptor(entry, "manifest")["digest"] for entry in entries)
        parsed.artifact_type = document.get("artifactType")
    if not isinstance(parsed.artifact_type, str | None):
        raise ManifestInvalid("artifactType is a string")
    subject = document.get("subject")
    if subject is not None:
        parsed.subject = _descriptor(subject, "subject")["digest"]
    return parsed


def _descriptor(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str):
        raise ManifestInvalid(f"the manifest's {what} is not a descriptor with a digest")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestInvalid(f"the manifest's {what} has no valid size")
    try:
        check_digest(value["digest"])
    except LadingError as exc:
        raise ManifestInvalid(exc.message) from None
    return value


def _annotations(content: bytes) -> dict[str, str] | None:
    document = json.loads(content)
    annotations = document.get("annotations") if isinstance(document, dict) else None
    return annotations if isinstance(annotations, dict) and annotations else None
