"""The Python package index: indexes of projects' files, uploads, yanks and deletes, and
who may do what.

An index is defined by the settings (``pypi.indexes``; ``main`` always) or through the API
(an administrator's). It is public (anyone reads it) or private (its owner's callers and
administrators read it); members of any project upload to a public index, its owner's to a
private one. A project's name is a package name of the index's own namespace
(``pypi:<index>``), compared in PEP 503's normal form: the first project to upload a name
owns it there, and only it, the projects it lets publish and administrators upload under it.

An index may lie over others (``bases``, as devpi's): a project's page is the page of the
first index of the chain that has the project. A project found in an upper index is never
looked for beneath, even if the upper one has no file for a version the lower one has:
merging layers is how a public name shadows a private one (dependency confusion).

A file's bytes are a lading blob, deduplicated with every face; a wheel's core metadata
is read from it at upload (``python_dists``) and kept, to be served beside it (PEP 658).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import anyio
from packaging.version import InvalidVersion, Version
from sqlalchemy import Connection

from lading.clock import Clock, timestamp
from lading.db import blobs, names, usage
from lading.db import pypi as queries
from lading.db.engine import Database
from lading.domain import EventType, PackageName
from lading.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ObjectNotFound,
    QuotaExceeded,
    StoreError,
    Unauthorized,
)
from lading.processes import ThisProcess
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.digests import DigestingStream
from lading.services.events import Outbox
from lading.services.liveness import beating
from lading.services.name_rules import skeleton
from lading.services.python_dists import (
    WHEEL,
    Distribution,
    check_filename,
    normalize,
    parse_version,
    wheel_metadata,
)
from lading.services.roles import MEMBER
from lading.settings import PYPI_INDEX_NAME, PypiIndexSettings, Settings
from lading.stores.registry import StoreRegistry

PUBLIC, PRIVATE = "public", "private"
MAIN = "main"
MAX_CHAIN = 16  # indexes one chain may walk
MAX_REASON = 1000
MAX_CACHED_FILES = 100_000  # about 100 MiB of pages, rendered twice (JSON and HTML)
HEX = re.compile(r"[0-9a-f]+")
# The challenge of a 401: pip, uv and twine answer Basic with the credentials they have.
BASIC = 'Basic realm="lading"'


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    owner: str
    visibility: str
    bases: tuple[str, ...]
    configured: bool  # by the settings (then the API does not change it)


@dataclass(frozen=True, slots=True)
class ProjectPage:
    index: str  # the index of the chain the page comes from
    name: str  # normalised
    files: list[queries.FileRow]
    versions: list[str]  # every version with a file, in PEP 440's order
    serial: int  # the project's serial in ``index`` when its files were read
    # The page as the face wrote it, by media type, with its ETag: kept with the page while
    # it is current.
    rendered: dict[str, tuple[bytes, str]] = field(default_factory=dict, compare=False)


class PageCache:
    """This node's current project pages, by index and project, least recently used first
    out, within ``MAX_CACHED_FILES`` files in all. A page is used only while its serial is
    the project's: one small read says so, where reading and rendering a page of 1,000
    files takes tens of milliseconds."""

    def __init__(self, max_files: int) -> None:
        self._pages: OrderedDict[tuple[str, str], ProjectPage] = OrderedDict()
        self._max_files = max_files
        self._files = 0

    def get(self, index: str, project: str, serial: int) -> ProjectPage | None:
        page = self._pages.get((index, project))
        if page is None or page.serial != serial:
            return None
        self._pages.move_to_end((index, project))
        return page

    def put(self, page: ProjectPage) -> None:
        key = (page.index, page.name)
        old = self._pages.pop(key, None)
        if old is not None:
            self._files -= len(old.files)
        if len(page.files) > self._max_files:
            return
        self._pages[key] = page
        self._files += len(page.files)
        while self._files > self._max_files:
            _, gone = self._pages.popitem(last=False)
            self._files -= len(gone.files)


@dataclass(frozen=True, slots=True)
class Room:
    """What a file may still bring under the byte quota of the project that owns its name."""

    owner: str
    used: int
    limit: int

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass(frozen=True, slots=True)
class UploadForm:
    """The legacy upload API's fields (those the index keeps or checks)."""

    name: str
    version: str
    filetype: str
    pyversion: str = "source"
    requires_python: str | None = None
    md5: str | None = None
    sha256: str | None = None
    blake2_256: str | None = None

    @classmethod
    def of(cls, fields: Mapping[str, str]) -> UploadForm:
        if fields.get(":action", "file_upload") != "file_upload":
            raise BadRequest(f":action {fields[':action']!r} is not taken: file_upload only")
        if fields.get("protocol_version", "1") != "1":
            raise BadRequest("protocol_version must be 1")
        missing = [key for key in ("name", "version", "filetype") if not fields.get(key)]
        if missing:
            raise BadRequest(f"the upload lacks {', '.join(missing)}")
        return cls(
            fields["name"], fields["version"], fields["filetype"],
            fields.get("pyversion") or "source", fields.get("requires_python") or None,
            _digest("md5_digest", fields, 32), _digest("sha256_digest", fields, 64),
            _digest("blake2_256_digest", fields, 64),
        )  # fmt: skip


def _digest(key: str, fields: Mapping[str, str], length: int) -> str | None:
    value = fields.get(key, "").strip().lower()
    if not value:
        return None
    if len(value) != length or HEX.fullmatch(value) is None:
        raise BadRequest(f"{key} must be {length} hexadecimal digits")
    return value


class PythonIndexes:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        stores: StoreRegistry,
        catalogue: Catalogue,
        this_process: ThisProcess,
        outbox: Outbox,
        clock: Clock | None = None,
    ) -> None:
        self._settings = settings
        self._outbox = outbox
        self._database = database
        self._stores = stores
        self._catalogue = catalogue
        self._this_process = this_process
        self._clock = clock or Clock()
        self._pages = PageCache(MAX_CACHED_FILES)
        configured = {MAIN: PypiIndexSettings(), **settings.pypi.indexes}
        self._configured = {
            name: Index(
                name, entry.owner or settings.default_project, entry.visibility,
                tuple(entry.bases), configured=True,
            )
            for name, entry in configured.items()
        }  # fmt: skip

    # Indexes

    async def index(self, name: str) -> Index:
        """The index of that name (NotFound: none)."""
        found = await self._find(name)
        if found is None:
            raise NotFound(f"no index {name}")
        return found

    async def _find(self, name: str) -> Index | None:
        if name in self._configured:
            return self._configured[name]
        if re.fullmatch(PYPI_INDEX_NAME, name) is None:
            return None
        row = await self._database.read(queries.find_index, name)
        if row is None:
            return None
        return Index(row.name, row.owner, row.visibility, row.bases, configured=False)

    async def indexes(self, caller: Caller | None) -> list[Index]:
        """The indexes the caller may read."""
        rows = await self._database.read(queries.list_indexes)
        made = [Index(r.name, r.owner, r.visibility, r.bases, False) for r in rows]
        every = {**{index.name: index for index in made}, **self._configured}
        return [every[name] for name in sorted(every) if _may_read(caller, every[name])]

    async def readable(self, caller: Caller | None, name: str) -> Index:
        """The index, if the caller may read it: Unauthorized for an anonymous caller
        (its client then sends credentials), NotFound for one of another project."""
        found = await self._find(name)
        if found is not None and _may_read(caller, found):
            return found
        if caller is None:
            raise Unauthorized(f"reading index {name} needs a token", BASIC)
        raise NotFound(f"no index {name}")

    async def put_index(
        self, caller: Caller, name: str, owner: str, visibility: str, bases: list[str]
    ) -> Index:
        """An administrator's: make an index, or change one made through the API."""
        if not caller.is_admin:
            raise Forbidden("only administrators make or change indexes")
        if re.fullmatch(PYPI_INDEX_NAME, name) is None:
            raise BadRequest(f"an index's name matches {PYPI_INDEX_NAME}")
        if name in self._configured:
            raise Conflict(f"index {name} is defined by the settings: change it there")
        if visibility not in (PUBLIC, PRIVATE):
            raise BadRequest("visibility is public or private")
        if not 0 < len(owner) <= 255:
            raise BadRequest("owner is a project of 1 to 255 characters")
        if len(bases) > MAX_CHAIN or len(set(bases)) != len(bases):
            raise BadRequest(f"bases are at most {MAX_CHAIN} distinct indexes")
        for base in bases:
            if base == name:
                raise BadRequest("an index cannot lie over itself")
            await self.index(base)
        new = Index(name, owner, visibility, tuple(bases), configured=False)
        await self._chain(new, {name: new})  # refused if the bases lead back to it
        row = queries.IndexRow(name, owner, visibility, tuple(bases))
        await self._database.write(queries.put_index, row, self._clock.now())
        return new

    async def delete_index(self, caller: Caller, name: str) -> None:
        """An administrator's: remove an empty index made through the API."""
        if not caller.is_admin:
            raise Forbidden("only administrators remove indexes")
        if name in self._configured:
            raise Conflict(f"index {name} is defined by the settings: remove it there")

        def write(connection: Connection) -> None:
            if queries.has_files(connection, name):
                raise Conflict(f"index {name} holds files: delete them first")
            if not queries.delete_index(connection, name):
                raise NotFound(f"no index {name}")
            queries.forget_names(connection, name)

        await self._database.write(write)

    async def _chain(self, index: Index, known: dict[str, Index] | None = None) -> list[Index]:
        """The index, then its bases' chains in order, each index once; Conflict when the
        bases lead back to an index already on the way down (a cycle)."""
        known = dict(known or {})
        chain: list[Index] = []

        async def walk(current: Index, path: tuple[str, ...]) -> None:
            if current.name in path:
                raise Conflict(f"index {current.name} lies over itself through its bases")
            if any(seen.name == current.name for seen in chain):
                return
            if len(chain) == MAX_CHAIN:
                raise Conflict(f"index {index.name} lies over more than {MAX_CHAIN} indexes")
            chain.append(current)
            for base in current.bases:
                found = known.get(base) or await self._find(base)
                if found is None:  # removed since: nothing is found in it
                    continue
                known[base] = found
                await walk(found, (*path, current.name))

        await walk(index, ())
        return chain

    # Reading

    async def projects(self, caller: Caller | None, name: str) -> list[str]:
        """The projects an index serves (its own and its bases'), normalised, in order."""
        index = await self.readable(caller, name)
        chain = [link.name for link in await self._chain(index)]

        def read(connection: Connection) -> list[str]:
            found = {
                normalize(p) for link in chain for p in queries.project_names(connection, link)
            }
            return sorted(found)

        return await self._database.read(read)

    async def project(self, caller: Caller | None, name: str, project: str) -> ProjectPage:
        """A project's page: its files in the first index of the chain that has it."""
        index = await self.readable(caller, name)
        chain = [link.name for link in await self._chain(index)]
        project = normalize(project)

        def locate(connection: Connection) -> tuple[str, int]:
            holder = queries.first_holder(connection, chain, project)
            if holder is None:
                raise NotFound(f"index {name} has no project {project}")
            return holder, queries.serial(connection, holder, project)

        def read(connection: Connection, holder: str) -> ProjectPage:
            serial = queries.serial(connection, holder, project)
            files = queries.files(connection, holder, project)
            return ProjectPage(holder, project, files, _versions(files), serial)

        holder, serial = await self._database.read(locate)
        cached = self._pages.get(holder, project, serial)
        if cached is not None:
            return cached
        page = await self._database.read(read, holder)
        self._pages.put(page)
        return page

    async def file(
        self, caller: Caller | None, name: str, project: str, filename: str
    ) -> queries.StoredFile:
        """A file of the project's page (the same index of the chain serves both)."""
        page_index = (await self.project(caller, name, project)).index
        found = await self._database.read(
            queries.find_file, page_index, normalize(project), filename
        )
        if found is None:
            raise NotFound(f"project {project} has no file {filename}")
        return found

    async def core_metadata(
        self, caller: Caller | None, name: str, project: str, filename: str
    ) -> bytes:
        """A wheel's core metadata (PEP 658): NotFound for a file that has none."""
        page_index = (await self.project(caller, name, project)).index
        found = await self._database.read(
            queries.core_metadata, page_index, normalize(project), filename
        )
        if found is None:
            raise NotFound(f"project {project} has no metadata for {filename}")
        return found

    async def check_bytes(self, stored: queries.StoredFile) -> None:
        """ObjectNotFound (503) when the store lacks the file's bytes: said before an
        answer starts, rather than a body cut short."""
        found = await self._stores.get(stored.store).stat(stored.key)
        if found.size != stored.size:
            raise ObjectNotFound(f"store {stored.store!r} lacks the bytes of {stored.filename}")

    def read(self, stored: queries.StoredFile) -> AsyncIterator[bytes]:
        return self._stores.get(stored.store).open(stored.key, 0, stored.size)

    def local_path(self, stored: queries.StoredFile) -> Path | None:
        return self._stores.get(stored.store).local_path(stored.key)

    def accel_uri(self, stored: queries.StoredFile) -> str | None:
        return self._stores.get(stored.store).accel_uri(stored.key)

    async def redirect_url(self, stored: queries.StoredFile) -> str | None:
        return await self._stores.get(stored.store).redirect_url(stored.key)

    # Uploads

    async def upload(
        self,
        caller: Caller | None,
        name: str,
        form: UploadForm,
        filename: str,
        body: AsyncIterable[bytes],
        size_at_least: int | None = None,
    ) -> None:
        """A file into the index, checked against the upload's name, version and
        digests (a file name the index had and deleted is never taken again, as PyPI
        says), and the byte quota of the project that owns the name (``size_at_least``:
        what the request says of the file's size, to refuse before its bytes come); any
        failure keeps nothing and takes no name."""
        index = await self.uploadable(caller, name)
        assert caller is not None
        distribution = check_filename(filename, form.name, form.version, form.filetype)

        def refuse_early(connection: Connection) -> Room | None:
            found = self._publishable(connection, caller, index, distribution.project, False)
            if queries.file_exists(connection, index.name, filename):
                raise BadRequest(_exists(filename))
            if queries.is_burned(connection, index.name, filename):
                raise BadRequest(_reused(filename))
            owner = caller.project if found is None else found.owner  # a new name: the caller's
            return self._room(connection, owner, form.sha256)

        room = await self._database.read(refuse_early)  # before the bytes come
        if room is not None and (size_at_least or 0) > room.left:
            raise _over_quota(room, size_at_least or 0)
        store = self._stores.get(self._stores.default)
        async with self._catalogue.pending_blob(store.name, self._this_process.holder) as pending:
            blob_id, key = pending.blob.id, pending.blob.key
            # Beating as the pieces come: the stream holds them back until a chunk is full.
            pieces = self._beating(body, blob_id)
            if room is not None:  # refused as soon as it passes the room (the commit decides)
                pieces = _within(pieces, room)
            stream = DigestingStream(
                pieces, self._settings.chunk_size, self._settings.pypi.file_size_cap
            )
            blake = hashlib.blake2b(digest_size=32)
            stored = await store.put(key, _hashed(stream.chunks(), blake))
            digests = await stream.digests()
            if stored.size != digests.size:
                raise StoreError(f"store {store.name!r} kept {stored.size} of {digests.size} bytes")
            _check_digests(form, digests.md5, digests.sha256, blake.hexdigest())
            metadata = None
            if distribution.filetype == WHEEL:
                metadata = await self._wheel_metadata(
                    store.name, key, digests.size, distribution, blob_id
                )
            new = queries.NewFile(
                index.name, filename, distribution.project, distribution.version,
                distribution.filetype, form.pyversion[:64],
                None if form.requires_python is None else form.requires_python[:255],
                digests.size, digests.sha256, digests.md5, metadata,
                None if metadata is None else hashlib.sha256(metadata).hexdigest(), caller.project,
            )  # fmt: skip
            pending.redundant = await self._database.write(
                self._commit, caller, index, distribution, new, blob_id
            )

    def _commit(
        self,
        connection: Connection,
        caller: Caller,
        index: Index,
        distribution: Distribution,
        new: queries.NewFile,
        blob_id: int,
    ) -> list[blobs.Blob]:
        """In one transaction: the name claimed, the blob made ready (or shared), the file
        recorded. What nobody needs now is returned, for its bytes to be removed."""
        self._claim(connection, caller, index, distribution)
        # Read once the name is held: a delete of the same name committed meanwhile is seen.
        if queries.is_burned(connection, index.name, new.filename):
            raise BadRequest(_reused(new.filename))
        settled = blobs.settle(connection, blob_id, new.size, new.md5, new.sha256)
        self._charge(connection, index, distribution.project, settled.kept, new.size)
        redundant = [] if settled.redundant is None else [settled.redundant]
        if not queries.insert_file(connection, new, settled.kept, self._clock.now()):
            raise BadRequest(_exists(new.filename))  # the transaction's undoing drops it all
        queries.bump(connection, index.name, new.project)
        self._tell(connection, EventType.PYPI_UPLOADED, index, new.project, caller,
                   lambda: queries.chosen_files(connection, index.name, new.project,
                                                filename=new.filename))  # fmt: skip
        return redundant

    def _tell(
        self,
        connection: Connection,
        event: EventType,
        index: Index,
        project: str,
        caller: Caller,
        files: Callable[[], list[queries.FileRow]],
    ) -> None:
        """In the change's transaction: its event, with the files as the change left them
        (as they were, for a delete); read only when a webhook wants the event."""

        def data() -> dict[str, Any]:
            found = names.find(connection, queries.namespace(index.name), project)
            told = files()
            return {
                "index": index.name,
                "project": project,
                "name": None if found is None else found.name,
                "owner": None if found is None else found.owner,
                "version": told[0].version if told else None,
                "files": [_file_data(file) for file in told],
            }

        self._outbox.python_files(connection, event, data, caller)

    # Quotas: the project that owns a name pays for its files (as a registry's repository's
    # owner does), in the one total of every face's bytes (lading.db.usage)

    def _room(self, connection: Connection, owner: str, sha256: str | None) -> Room | None:
        """The room the owner's quota leaves (None: no limit, or the bytes are the owner's
        already, by the sha256 the upload names); QuotaExceeded when none is left."""
        limit = self._settings.quota.for_project(owner).bytes
        if limit is None:
            return None
        if sha256 is not None and queries.holds_sha256(connection, owner, sha256):
            return None
        room = Room(owner, usage.used_bytes(connection, owner), limit)
        if room.left == 0:
            raise _over_quota(room, 0)
        return room

    def _charge(
        self, connection: Connection, index: Index, project: str, blob_id: int, size: int
    ) -> None:
        """In the transaction recording the file (its name claimed): QuotaExceeded if it
        would take the name's owner past its byte quota. Bytes the owner holds already,
        in a file of any of its index projects, cost nothing more."""
        found = names.find(connection, queries.namespace(index.name), project)
        assert found is not None  # claimed
        limit = self._settings.quota.for_project(found.owner).bytes
        if limit is None or queries.holds_blob(connection, found.owner, blob_id):
            return
        room = Room(found.owner, usage.charging(connection, found.owner).bytes, limit)
        if size > room.left:
            raise _over_quota(room, size)

    def _beating(self, chunks: AsyncIterable[bytes], blob_id: int) -> AsyncIterator[bytes]:
        """The chunks, with the pending blob touched while they keep coming."""

        async def touch() -> None:
            await self._database.write(blobs.touch, blob_id, self._clock.now())

        return beating(chunks, self._settings.upload_stuck_after / 4, touch)

    async def _wheel_metadata(
        self, store_name: str, key: str, size: int, distribution: Distribution, blob_id: int
    ) -> bytes:
        """The wheel's METADATA, read on a thread: from the store's file when it is local,
        else from a temporary copy (its size is capped: ``pypi.file_size_cap``)."""
        cap = self._settings.pypi.metadata_size_cap
        store = self._stores.get(store_name)
        path = store.local_path(key)
        if path is not None:
            return await anyio.to_thread.run_sync(wheel_metadata, path, distribution, cap)
        descriptor, name = tempfile.mkstemp(prefix="lading-wheel-", suffix=".whl")
        copy = Path(name)
        try:
            with os.fdopen(descriptor, "wb") as out:
                async for chunk in self._beating(store.open(key, 0, size), blob_id):
                    await anyio.to_thread.run_sync(out.write, chunk)
            return await anyio.to_thread.run_sync(wheel_metadata, copy, distribution, cap)
        finally:
            await anyio.to_thread.run_sync(lambda: copy.unlink(missing_ok=True))

    async def uploadable(self, caller: Caller | None, name: str) -> Index:
        if caller is None:
            raise Unauthorized(f"uploading to index {name} needs a token", BASIC)
        index = await self.readable(caller, name)
        if not (caller.is_admin or MEMBER in caller.roles):
            raise Forbidden("a reader may not upload")
        return index

    def _publishable(
        self,
        connection: Connection,
        caller: Caller,
        index: Index,
        project: str,
        for_update: bool = True,
    ) -> PackageName | None:
        """In a transaction: the project's name record in the index (None: a new name);
        Forbidden unless the caller may publish under it."""
        namespace = queries.namespace(index.name)
        found = names.find(connection, namespace, project, for_update)
        if found is None:
            for other in names.look_alikes(connection, namespace, skeleton(project), project):
                if not (caller.is_admin or other.may_publish(caller.project)):
                    raise Forbidden(
                        f"{project} looks like {other.name}, a project of another lading "
                        f"project in index {index.name}"
                    )
            return None
        if caller.is_admin or found.may_publish(caller.project):
            return found
        raise Forbidden(
            f"project {found.name} of index {index.name} belongs to lading project "
            f"{found.owner}: only it, the projects it lets publish and administrators "
            "upload under it"
        )

    def _claim(
        self, connection: Connection, caller: Caller, index: Index, distribution: Distribution
    ) -> None:
        project = distribution.project
        if self._publishable(connection, caller, index, project) is not None:
            return
        namespace = queries.namespace(index.name)
        names.lock_skeleton(connection, namespace, skeleton(project))
        new = PackageName(distribution.name, caller.project, [], self._clock.now())
        if not names.insert_name(connection, namespace, project, skeleton(project), new):
            self._publishable(connection, caller, index, project)  # taken meanwhile

    # Deletes and yanks

    async def delete(
        self,
        caller: Caller | None,
        name: str,
        project: str,
        version: str | None = None,
        filename: str | None = None,
    ) -> int:
        """Remove a release (every file of ``version``) or one file: how many went. Their
        project's publishers and administrators may."""
        index = await self.uploadable(caller, name)
        assert caller is not None
        project = normalize(project)
        wanted = None if version is None else str(parse_version(version))

        def write(connection: Connection) -> tuple[int, list[blobs.Blob]]:
            if self._publishable(connection, caller, index, project) is None:
                raise NotFound(f"index {name} has no project {project}")
            gone = queries.chosen_files(connection, index.name, project, wanted, filename)
            removed = queries.remove_files(connection, index.name, project, wanted, filename)
            if not removed:
                raise NotFound(f"project {project} has no {filename or wanted} in index {name}")
            burned = [file.filename for file in gone]
            queries.burn(connection, index.name, burned, self._clock.now())
            queries.bump(connection, index.name, project)
            self._tell(connection, EventType.PYPI_DELETED, index, project, caller, lambda: gone)
            return len(removed), blobs.drop_references(connection, removed)

        count, doomed = await self._database.write(write)
        await self._catalogue.discard(doomed)
        return count

    async def allow_reuse(self, caller: Caller | None, name: str, filename: str) -> None:
        """An administrator's: let a deleted file's name be uploaded again (NotFound when
        it was not deleted). Installers that saw the old file's hash then find other bytes
        under its name: a lock file pinning it fails its hash check."""
        index = await self.uploadable(caller, name)
        assert caller is not None
        if not caller.is_admin:
            raise Forbidden("only administrators let a deleted file's name be used again")
        if not await self._database.write(queries.unburn, index.name, filename):
            raise NotFound(f"index {name} has no deleted file {filename}")

    async def yank(
        self,
        caller: Caller | None,
        name: str,
        project: str,
        version: str,
        yanked: bool,
        reason: str | None = None,
    ) -> int:
        """Yank a release (PEP 592: installers skip it unless pinned to it), with an
        optional reason, or restore it: how many files it has."""
        index = await self.uploadable(caller, name)
        assert caller is not None
        project = normalize(project)
        wanted = str(parse_version(version))
        if reason is not None and len(reason) > MAX_REASON:
            raise BadRequest(f"a reason is at most {MAX_REASON} characters")

        def write(connection: Connection) -> int:
            if self._publishable(connection, caller, index, project) is None:
                raise NotFound(f"index {name} has no project {project}")
            before = queries.chosen_files(connection, index.name, project, wanted)
            changed = queries.set_yanked(connection, index.name, project, wanted, yanked, reason)
            if not changed:
                raise NotFound(f"project {project} has no release {wanted} in index {name}")
            queries.bump(connection, index.name, project)
            reason_kept = reason if yanked else None
            if any((f.yanked, f.yanked_reason) != (yanked, reason_kept) for f in before):
                event = EventType.PYPI_YANKED if yanked else EventType.PYPI_UNYANKED
                after = partial(queries.chosen_files, connection, index.name, project, wanted)
                self._tell(connection, event, index, project, caller, after)
            return changed

        return await self._database.write(write)


def _may_read(caller: Caller | None, index: Index) -> bool:
    if index.visibility == PUBLIC:
        return True
    return caller is not None and (caller.is_admin or caller.project == index.owner)


def _versions(files: list[queries.FileRow]) -> list[str]:
    def order(version: str) -> tuple[int, Version | str]:
        try:
            return (1, Version(version))
        except InvalidVersion:
            return (0, version)

    return sorted({file.version for file in files}, key=order)


def _file_data(file: queries.FileRow) -> dict[str, Any]:
    """A file as events tell it (as the JSON page shows it, without its URL)."""
    return {
        "filename": file.filename,
        "version": file.version,
        "filetype": file.filetype,
        "size": file.size,
        "sha256": file.sha256,
        "requires_python": file.requires_python,
        "core_metadata_sha256": file.core_metadata_sha256,
        "yanked": file.yanked,
        "yanked_reason": file.yanked_reason,
        "uploaded_at": timestamp(file.uploaded_at, "microseconds"),
    }


def _check_digests(form: UploadForm, md5: str, sha256: str, blake2_256: str) -> None:
    for label, given, found in (
        ("md5_digest", form.md5, md5),
        ("sha256_digest", form.sha256, sha256),
        ("blake2_256_digest", form.blake2_256, blake2_256),
    ):
        if given is not None and given != found:
            raise BadRequest(f"the file's {label} is {found}, not {given}: nothing was kept")


async def _hashed(chunks: AsyncIterator[bytes], blake: hashlib.blake2b) -> AsyncIterator[bytes]:
    """The chunks, each hashed with blake2b on a thread as it passes (twine sends that
    digest, and it is checked like the others)."""
    async for chunk in chunks:
        await anyio.to_thread.run_sync(blake.update, chunk)
        yield chunk


async def _within(chunks: AsyncIterable[bytes], room: Room) -> AsyncIterator[bytes]:
    """The chunks, until they pass the room left: then QuotaExceeded (nothing is kept)."""
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > room.left:
            raise _over_quota(room, size, more=True)
        yield chunk


def _over_quota(room: Room, adding: int, more: bool = False) -> QuotaExceeded:
    # The owner of the name, who pays, is not always the uploader: say whose quota it is.
    adding_text = f"{'more than ' if more else ''}{adding} bytes"
    return QuotaExceeded(
        f"quota exceeded: adding {adding_text} to the {room.used} bytes lading project "
        f"{room.owner} holds would pass its quota of {room.limit} bytes (every face's bytes "
        "count); delete files or images, or ask for a larger quota: nothing was kept"
    )


def _reused(filename: str) -> str:
    # PyPI's words (its 400 for a burned name), which twine's --skip-existing does not skip.
    return (
        "This filename has already been used, use a different version. "
        f"{filename!r} was deleted from this index, and a deleted file's name is never "
        "uploaded again: an installer that saw its hash must not find other bytes under it"
    )


def _exists(filename: str) -> str:
    # twine's --skip-existing recognises a 400 saying "already exist" (as PyPI's does).
    return f"File already exists: {filename!r}; a file is never replaced, upload a new version"
