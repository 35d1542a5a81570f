"""The images inside an OSM package: the files of its ``images/`` directory, registered
in the catalogue as images, as OSM's onboarding put them into the VIM's image service.

Each image goes through the catalogue's own paths, as a Glance upload does: made by the
caller's project, private; its bytes streamed from the stored package (the file's range
of the archive) through the upload, which hashes them, inspects their format (the
``disk_format`` is the one their first MiB shows, raw when none) and checks their MD5
against the archive's. An image refused or cut off is dropped, never left ``active``.
An image of the project with the same name and bytes (a package's earlier version
brought it) is linked again rather than registered twice, as OSM left an image the VIM
had already.

They stay hidden (``os_hidden``) until the package is named, in the same transaction
(``reveal``): a package that fails takes its images with it.

Deleting a package keeps its images by default: a VIM image outlives the package that
brought it, as with OSM, since instances may run from it. They are unlinked and stay
the project's own. Asked to, the delete removes the images the package alone brought,
except protected ones and those another package still holds (see ``release``).
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import packages as queries
from lading.db.engine import Database
from lading.domain import ArchiveMember, Artifact
from lading.errors import LadingError, NotFound
from lading.services.access import Caller
from lading.services.archive_bounds import PackageInvalid
from lading.services.catalogue import Catalogue
from lading.services.inspection import detected_format
from lading.services.tasks import Progress
from lading.services.transfers import Download, Expected, Transfers
from lading.services.validation import Changes

IMAGES_DIRECTORY = "images"
HEAD = 1024 * 1024  # what tells a disk image's format


@dataclass(frozen=True, slots=True)
class PackageImage:
    path: str  # inside the package
    image_id: str
    registered: bool  # False: an image the project had already, linked


@dataclass(slots=True)
class ImagesReleased:
    """What a package's delete did with its images (ids)."""

    kept: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def image_files(members: Sequence[ArchiveMember], root: str) -> list[ArchiveMember]:
    """The files right inside the package's ``images/`` directory (``root``: the
    descriptor's directory)."""
    folder = posixpath.join(root, IMAGES_DIRECTORY)
    return [
        member
        for member in members
        if member.kind == "file" and posixpath.dirname(member.path) == folder
    ]


class PackageImages:
    def __init__(
        self, database: Database, catalogue: Catalogue, transfers: Transfers, clock: Clock
    ) -> None:
        self._clock = clock
        self._database = database
        self._catalogue = catalogue
        self._transfers = transfers

    async def register(
        self,
        caller: Caller,
        package: Artifact,
        files: Sequence[ArchiveMember],
        progress: Progress,
        mode: str,
    ) -> list[PackageImage]:
        """Each file an image of the caller's project, hidden until ``reveal``; on any
        failure the images registered so far are dropped and PackageInvalid says which
        file could not be."""
        done: list[PackageImage] = []
        whole: Download | None = None
        try:
            for member in files:
                name = posixpath.basename(member.path)
                assert member.md5 is not None
                existing = await self._database.read(
                    queries.image_like, caller.project, name, member.md5
                )
                if existing is not None:
                    done.append(PackageImage(member.path, existing, registered=False))
                    await progress.event(
                        "image-exists", f"image {name}: the project has it already, {existing}"
                    )
                    continue
                whole = whole or await self._transfers.download_of(caller, package)
                image = await self._upload(caller, whole, member, name)
                done.append(PackageImage(member.path, image.id, registered=True))
                await progress.event(
                    "image-registered",
                    f"image {name} registered: {image.id} ({image.disk_format}, "
                    f"{image.size} bytes)",
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.drop(caller, done)
            raise
        return done

    async def _upload(
        self, caller: Caller, whole: Download, member: ArchiveMember, name: str
    ) -> Artifact:
        part = whole.part(member.data_offset, member.size, member.md5)
        head = bytearray()
        async for chunk in part.read(0, min(member.size, HEAD)):
            head += chunk
        changes = Changes(
            {"name": name, "disk_format": detected_format(bytes(head)),
             "container_format": "bare", "os_hidden": True},
        )  # fmt: skip
        try:
            image = await self._catalogue.create(caller, changes)
        except LadingError as exc:
            raise PackageInvalid("image-error", f"image {member.path}: {exc}") from exc
        try:
            return await self._transfers.upload(
                caller, image.id, part.read(0, member.size), member.size,
                expected=Expected(md5=member.md5), require_formats=True,
            )  # fmt: skip
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._forget(image.id, caller)
            if isinstance(exc, LadingError):
                raise PackageInvalid("image-error", f"image {member.path}: {exc}") from exc
            raise

    def reveal(
        self, connection: Connection, package_id: str, images: Sequence[PackageImage]
    ) -> None:
        """In the transaction that names the package: its new images shown, all linked."""
        queries.show(
            connection, [image.image_id for image in images if image.registered], self._clock.now()
        )
        queries.link_images(connection, package_id, [(i.path, i.image_id) for i in images])

    async def drop(self, caller: Caller, images: Sequence[PackageImage]) -> None:
        """Undo ``register`` (before ``reveal``): the images it made are gone."""
        for image in images:
            if image.registered:
                await self._forget(image.image_id, caller)

    async def linked(self, caller: Caller, package_id: str) -> list[tuple[str, Artifact]]:
        """The package's images the caller may see, by their path in the package."""
        found = []
        for path, image_id in await self._database.read(queries.linked_images, package_id):
            with contextlib.suppress(NotFound):
                found.append((path, await self._catalogue.get(caller, image_id)))
        return found

    async def release(self, caller: Caller, package_id: str, delete: bool) -> ImagesReleased:
        """What becomes of a deleted package's images: kept, unless ``delete`` asks and
        an image is neither protected nor held by another live package nor beyond what
        the caller may delete; either way no longer linked to it."""
        released = ImagesReleased()
        links = await self._database.read(queries.linked_images, package_id)
        for _, image_id in links:
            if delete and not await self._database.read(
                queries.other_holders, image_id, package_id
            ):
                try:
                    await self._catalogue.delete(caller, image_id)
                except LadingError:  # protected, in use, not the caller's: it stays
                    pass
                else:
                    released.deleted.append(image_id)
                    continue
            released.kept.append(image_id)
        await self._database.write(queries.unlink_images, package_id)
        return released

    async def _forget(self, image_id: str, caller: Caller) -> None:
        with contextlib.suppress(NotFound):
            await self._catalogue.drop(image_id, caller)
