"""OSM package onboarding: a package archive is received (uploaded, or fetched from a URL
by a task), checked as it streams into a store, and named after its descriptor.

Each onboarding is a task (its id is OSM's transaction id) whose events tell its course:
started, download started/succeeded/failed, what was wrong with the package, success.
An upload runs in its request (``Tasks.run_here``); a URL is fetched by a task that any
process may run. Either way, a package that fails is not kept.

The archive is stored uncompressed (a gzip is inflated on the fly), so that each file
inside it is a range of the stored object: listed and read without unpacking.
A package is named ``<descriptor id>``, version ``<descriptor version>``, file
``<id>-<version>.tar``; its kind (vnfd, nsd, pnfd) is the property ``osm_descriptor_type``.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import packages as queries
from lading.db.engine import Database
from lading.db.packages import KIND_PROPERTY, OnboardedName
from lading.domain import ArchiveMember, Artifact, EventType, Task
from lading.errors import BadRequest, Conflict, LadingError, NotFound
from lading.lazy import LazyModule
from lading.services.access import Caller
from lading.services.archive_bounds import (
    ArchiveBounds,
    PackageInvalid,
    PackageTooLarge,
    bounded_archive,
)
from lading.services.catalogue import Catalogue
from lading.services.events import Outbox
from lading.services.fetching import (
    Fetch,
    FetchFailed,
    credentials_given,
    open_credentials,
    seal_credentials,
)
from lading.services.identity import Identities
from lading.services.name_rules import package_address
from lading.services.names import PackageNames
from lading.services.package_archive import DESCRIPTOR_KINDS, ArchiveReader
from lading.services.package_export import (
    EXPORT_SUFFIX,
    GRAMMARS,
    Export,
    package_root,
    tree,
)
from lading.services.package_images import ImagesReleased, PackageImage, PackageImages, image_files
from lading.services.roles import ADMIN, MEMBER
from lading.services.sealing import Sealer
from lading.services.tasks import Progress, Tasks, reporting
from lading.services.transfers import Download, Transfers
from lading.services.validation import Changes, is_uuid
from lading.settings import Settings
from lading.url_rules import UrlRules

if TYPE_CHECKING:
    import httpx
else:  # only once a package is onboarded from a URL (lading.lazy)
    httpx = LazyModule("httpx")

# OSM's two flows: a new package (onboard), or a new version of one (update).
TASK_TYPES = {"onboard": "osm_onboard", "update": "osm_update"}
EXPORT_TASK = "osm_export"
NAMED_CANDIDATES = 20  # versions by one name looked at for one the caller may read
ATTEMPTS = uuid.UUID("4f0a2d55-8a52-4c52-9d0e-3b6f4d3f7a10")  # names each attempt's artifact


class Onboarding:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        catalogue: Catalogue,
        transfers: Transfers,
        tasks: Tasks,
        identities: Identities,
        names: PackageNames,
        sealer: Sealer,
        images: PackageImages,
        outbox: Outbox,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._outbox = outbox
        self._rules = UrlRules(settings.fetch)
        self._names = names
        self._database = database
        self._catalogue = catalogue
        self._transfers = transfers
        self._tasks = tasks
        self._identities = identities
        self._sealer = sealer
        self._bounds = ArchiveBounds.of(settings)
        self._images = images
        for task_type in TASK_TYPES.values():
            tasks.register(task_type, self._run)
        tasks.register(EXPORT_TASK, _export_cut_off)

    async def upload(
        self,
        caller: Caller,
        mode: str,
        filename: str,
        chunks: AsyncIterable[bytes],
        *,
        request_id: str | None = None,
    ) -> Task:
        """Onboard the package a request brings; its task has ended when this returns.
        ``request_id``: the request's, which the task keeps, with the caller's user."""
        caller.require("add_image")

        async def work(task: Task, progress: Progress) -> dict[str, Any]:
            await progress.event(f"{mode}-started", f"{mode} of {filename} started")
            return await self._onboard(task, progress, caller, chunks)

        task_input = {"source": "upload", "filename": filename, "role": _role(caller)}
        return await self._tasks.run_here(
            caller.project, TASK_TYPES[mode], task_input, work,
            request_id=request_id, user_id=caller.user,
        )  # fmt: skip

    async def from_url(
        self,
        caller: Caller,
        mode: str,
        request: Mapping[str, Any],
        *,
        request_id: str | None = None,
    ) -> Task:
        """A task that fetches the package at the request's ``external_url`` (with its
        ``username`` and ``password``, if any) and onboards it, as the caller: the package
        is recorded as made by its project and user. ``request_id`` as in ``upload``."""
        caller.require("add_image")
        url, credentials = credentials_given(request.get("external_url"), request, "external_url")
        self._rules.check_url(url)
        task_input = {"source": "url", "url": url, "role": _role(caller),
                      **seal_credentials(credentials, self._sealer)}  # fmt: skip
        return await self._tasks.submit(
            caller.project, TASK_TYPES[mode], task_input,
            request_id=request_id, user_id=caller.user,
        )  # fmt: skip

    async def transaction(self, caller: Caller, mode: str, transaction_id: str) -> Task:
        """An onboarding of the caller's project (any, for admins); NotFound otherwise."""
        task = await self._tasks.get(caller, transaction_id)
        if task.type != TASK_TYPES[mode]:
            raise NotFound(f"no {mode} transaction {transaction_id}")
        return task

    async def files(self, caller: Caller, package_id: str) -> list[ArchiveMember]:
        artifact = await self._package(caller, package_id)
        return await self._database.read(queries.list_files, artifact.id)

    async def file(self, caller: Caller, package_id: str, path: str) -> Download:
        """One file inside a package, as a range of the stored archive."""
        artifact = await self._package(caller, package_id)
        member = await self._database.read(queries.find_file, artifact.id, path.strip("/"))
        if member is None:
            raise NotFound(f"package {package_id} holds no {path}")
        return await self._part(caller, artifact, member, path)

    async def _part(
        self, caller: Caller, artifact: Artifact, member: ArchiveMember, path: str
    ) -> Download:
        if member.kind != "file":
            raise BadRequest(f"{path} is a {member.kind}, not a file")
        whole = await self._transfers.download_of(caller, artifact)
        return whole.part(member.data_offset, member.size, member.md5)

    async def export(self, caller: Caller, package_id: str) -> Download:
        artifact = await self._package(caller, package_id)
        return await self._transfers.download_of(caller, artifact)

    async def named(self, caller: Caller, kind: str, name: str) -> Artifact:
        """A package as the launchpad names it: by kind and descriptor id, its newest
        version the caller may see (or by its artifact id). NotFound otherwise."""
        if kind not in DESCRIPTOR_KINDS:
            raise NotFound(f"no package kind {kind}: vnfd, nsd or pnfd")
        viewer = None if caller.is_admin else caller.project
        found = await self._database.read(
            queries.onboarded_named, viewer, kind, name, NAMED_CANDIDATES
        )
        for package_id in found:  # checked again: the policy, and pending members
            with contextlib.suppress(NotFound):
                return await self._catalogue.get(caller, package_id)
        if is_uuid(name):
            artifact = await self._package(caller, name)
            if artifact.properties.get(KIND_PROPERTY) == kind:
                return artifact
        raise NotFound(f"no {kind} package {name}")

    async def browse(
        self, caller: Caller, kind: str, name: str, path: str
    ) -> dict[str, Any] | Download:
        """What the launchpad's file browser reads at a path inside a package (from the
        package's directory): a directory as a tree, a file's bytes."""
        artifact = await self.named(caller, kind, name)
        parts = [part for part in path.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise NotFound(f"package {name} holds no {path}")
        members = await self._database.read(queries.list_files, artifact.id)
        root = package_root(members)
        wanted = posixpath.join(root, *parts) if parts else root
        if wanted == root:
            return tree(members, root, root)
        member = next((m for m in members if m.path == wanted), None)
        if member is None:
            raise NotFound(f"package {name} holds no {path}")
        if member.kind == "directory":
            return tree(members, root, wanted)
        return await self._part(caller, artifact, member, path)

    async def start_export(
        self, caller: Caller, kind: str, name: str, grammar: str | None, *,
        request_id: str | None = None,
    ) -> Task:  # fmt: skip
        """An export transaction: the package, named as the launchpad names it, ready to
        be fetched as ``<transaction id>.tar.gz`` while the transaction is kept."""
        if grammar is not None and grammar.lower() not in GRAMMARS:
            raise BadRequest(
                f"lading exports a package as it was onboarded (grammar osm), not {grammar}"
            )
        artifact = await self.named(caller, kind, name)
        await self._transfers.download_of(caller, artifact)  # may the caller read it?

        async def work(task: Task, progress: Progress) -> dict[str, Any]:
            await progress.event("export-started", f"export of {kind} {name} started")
            filename = f"{task.id}{EXPORT_SUFFIX}"
            await progress.event(
                "export-success", f"{artifact.name} {artifact.version}: {filename}"
            )
            return {"package_id": artifact.id, "filename": filename}

        return await self._tasks.run_here(
            caller.project, EXPORT_TASK, {"kind": kind, "name": name}, work,
            request_id=request_id, user_id=caller.user,
        )  # fmt: skip

    async def export_transaction(self, caller: Caller, transaction_id: str) -> Task:
        task = await self._tasks.get(caller, transaction_id)
        if task.type != EXPORT_TASK:
            raise NotFound(f"no export transaction {transaction_id}")
        return task

    async def exported(self, caller: Caller, filename: str) -> Export:
        """The file an export transaction made (``<transaction id>.tar.gz``): the
        package, which the caller must still be able to read."""
        transaction_id = filename.removesuffix(EXPORT_SUFFIX)
        task = await self.export_transaction(caller, transaction_id)
        if task.result is None:
            raise NotFound(f"export {transaction_id} made no file")
        artifact = await self._package(caller, task.result["package_id"])
        download = await self._transfers.download_of(caller, artifact)
        if download.location is None:
            raise NotFound(f"package {artifact.id} has no data")
        label = f"{artifact.name}-{artifact.version}" if artifact.version else artifact.name
        return Export(download, f"{label or artifact.id}{EXPORT_SUFFIX}")

    async def images(self, caller: Caller, package_id: str) -> list[tuple[str, Artifact]]:
        """The images a package brought that the caller may see, by path."""
        artifact = await self._package(caller, package_id)
        return await self._images.linked(caller, artifact.id)

    async def delete(self, caller: Caller, package_id: str, delete_images: bool) -> ImagesReleased:
        """Delete a package as the v2 face would (policy, protection); then its images
        are kept and unlinked, or, with ``delete_images``, deleted where they may be
        (``PackageImages.release``)."""
        artifact = await self._package(caller, package_id)
        await self._catalogue.delete(caller, artifact.id)
        return await self._images.release(caller, artifact.id, delete_images)

    async def _package(self, caller: Caller, package_id: str) -> Artifact:
        artifact = await self._catalogue.get(caller, package_id)
        if KIND_PROPERTY not in artifact.properties:
            raise NotFound(f"{package_id} is not an onboarded package")
        return artifact

    async def _run(self, task: Task, progress: Progress) -> dict[str, Any]:
        """A task a worker claimed: fetch a URL and onboard it, or give up on an upload
        whose process died (it cannot be resumed: the client must send it again)."""
        mode = _mode(task)
        for attempt in range(1, task.attempts):  # what earlier attempts left
            await self._drop(attempt_id(task.id, attempt))
        # The caller who submitted the task, as far as the task knows it: what the work
        # makes is recorded as made by that project and user.
        caller = replace(
            self._identities.anonymous(task.owner, task.input.get("role", MEMBER)),
            user=task.user_id,
        )
        if task.input["source"] == "upload":
            message = "the upload was cut off before the package was whole: send it again"
            await progress.event(f"{mode}-error", message, "error")
            raise BadRequest(message)
        url = task.input["url"]
        credentials = open_credentials(task.input, self._sealer)
        await progress.event(f"{mode}-started", f"{mode} from {url} started")
        await progress.event("download-started", f"downloading {url}")
        fetch = Fetch(url, self._rules, credentials)
        return await self._onboard(task, progress, caller, _announced(fetch, progress))

    async def _onboard(
        self, task: Task, progress: Progress, caller: Caller, chunks: AsyncIterable[bytes]
    ) -> dict[str, Any]:
        mode = _mode(task)
        label = task.input.get("filename") or posixpath.basename(
            httpx.URL(task.input.get("url", "")).path
        )
        changes = Changes({"name": (label or "package")[:255], "os_hidden": True})
        artifact = await self._catalogue.create(caller, changes, attempt_id(task.id, task.attempts))
        reader = ArchiveReader()
        images: list[PackageImage] = []
        try:
            stream = reader.chunks(bounded_archive(reporting(chunks, progress), self._bounds))
            try:
                stored = await self._transfers.upload(caller, artifact.id, stream)
            finally:
                reader.close()
            report = await reader.report()
            descriptor = report.descriptor
            files = image_files(report.members, posixpath.dirname(descriptor.path))
            images = await self._images.register(caller, stored, files, progress, mode)
            try:
                address = package_address(
                    descriptor.id, descriptor.version, f"{descriptor.id}-{descriptor.version}.tar"
                )
            except BadRequest as exc:
                raise PackageInvalid("descriptor-error", str(exc)) from None
            name = OnboardedName(
                address.name, address.version, address.filename, descriptor.kind,
                update=mode == "update",
            )  # fmt: skip
            await self._database.write(
                self._name, caller, artifact.id, name, report.members, images
            )
        except FetchFailed as exc:
            await self._failed(progress, caller, artifact.id, images, "download-failed",
                               f"download failed: {exc}")  # fmt: skip
            raise
        except (PackageInvalid, PackageTooLarge) as exc:
            await self._failed(
                progress, caller, artifact.id, images, f"{mode}-{exc.event}", str(exc)
            )
            raise
        except LadingError as exc:
            await self._failed(progress, caller, artifact.id, images, f"{mode}-error", str(exc))
            raise
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._images.drop(caller, images)
                await self._drop(artifact.id, caller)
            raise
        text = f"{descriptor.kind} {descriptor.id} {descriptor.version}: package {artifact.id}"
        if report.checked:
            text += f" ({report.checked} checksums verified)"
        await progress.event(f"{mode}-success", text)
        shown = [{"path": image.path, "image_id": image.image_id, "registered": image.registered}
                 for image in images]  # fmt: skip
        return {"package_id": artifact.id, "kind": descriptor.kind, "id": descriptor.id,
                "version": descriptor.version, "files": len(report.members),
                "images": shown}  # fmt: skip

    def _name(
        self,
        connection: Connection,
        caller: Caller,
        artifact_id: str,
        name: OnboardedName,
        members: list[ArchiveMember],
        images: list[PackageImage],
    ) -> None:
        """The checked package named (a name the caller may publish under) and shown
        (``os_hidden`` no more), with its images: an update."""
        self._names.claim(connection, caller.project, name.name, self._clock.now(), caller.is_admin)
        unnamed = queries.name_onboarded(connection, artifact_id, name, members, self._clock.now())
        if unnamed is not None:  # raised: the transaction is undone
            raise _unnamed_error(unnamed, artifact_id, name)
        self._images.reveal(connection, artifact_id, images)
        self._outbox.record(connection, EventType.ARTIFACT_UPDATED, artifact_id, caller)

    async def _failed(
        self,
        progress: Progress,
        caller: Caller,
        artifact_id: str,
        images: list[PackageImage],
        event: str,
        text: str,
    ) -> None:
        with anyio.CancelScope(shield=True):
            await self._images.drop(caller, images)
            await self._drop(artifact_id, caller)
            await progress.event(event, text, "error")

    async def _drop(self, artifact_id: str, by: Caller | None = None) -> None:
        """``by``: whose attempt failed; None for what an earlier attempt left behind."""
        with contextlib.suppress(NotFound):
            await self._catalogue.drop(artifact_id, by)


async def _announced(fetch: Fetch, progress: Progress) -> AsyncIterator[bytes]:
    """The URL's bytes, then a word that the download is done."""
    size = 0
    async for chunk in fetch.chunks():
        size += len(chunk)
        yield chunk
    await progress.event("download-success", f"package downloaded ({size} bytes)")


async def _export_cut_off(task: Task, progress: Progress) -> dict[str, Any]:
    """An export whose process died before it ended (it takes no time): ask again."""
    await progress.event("export-error", "the export was cut off: ask for it again", "error")
    raise BadRequest("the export was cut off: ask for it again")


def _mode(task: Task) -> str:
    return next(mode for mode, task_type in TASK_TYPES.items() if task_type == task.type)


def attempt_id(task_id: str, attempt: int) -> str:
    """The artifact an attempt at a transaction makes: known to the attempts after it,
    which drop it if it was left behind."""
    return str(uuid.uuid5(ATTEMPTS, f"{task_id}/{attempt}"))


def _role(caller: Caller) -> str:
    return ADMIN if caller.is_admin else MEMBER


def _unnamed_error(unnamed: queries.Unnamed, artifact_id: str, name: OnboardedName) -> LadingError:
    match unnamed:
        case queries.Unnamed.NOT_ACTIVE:
            return NotFound(f"no active artifact with id {artifact_id}")
        case queries.Unnamed.NOTHING_TO_UPDATE:
            return Conflict(f"there is no package {name.name} to update: onboard it first")
        case queries.Unnamed.ALREADY_ONBOARDED:
            return Conflict(f"package {name.name} exists: send a new version as an update")
        case queries.Unnamed.VERSION_EXISTS:
            return Conflict(f"{name.name} version {name.version} exists")
