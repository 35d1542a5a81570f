"""Packages arrive whole: created, filled and checked in one call, or not at all.

A package is an artifact with a name, a version and a file name, which the package
faces put in their URLs; so none of the three may hold a path separator or a control
character, or be ``.``/``..``.

The PNDA face names packages by file name alone: ``spark-batch-example-app-1.0.23.tar.gz``
is ``spark-batch-example-app`` version ``1.0.23`` (``parse_filename``).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterable
from dataclasses import dataclass, field, replace

import anyio
from sqlalchemy import Connection

from lading.db import packages as queries
from lading.db.engine import Database
from lading.domain import Artifact, EventType, PackageFile
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services.access import Caller
from lading.services.catalogue import Catalogue, now
from lading.services.identity import Identities
from lading.services.roles import MEMBER, READER
from lading.services.transfers import Expected, Transfers
from lading.services.validation import Changes, check_segment
from lading.settings import PndaSettings

# <name>-<version><extension>: the name ends at the first "-" before a digit; the
# extension is the tail of "."-parts that begin with a letter (.tar.gz, .zip, .jar).
FILENAME = re.compile(r"(?P<name>.+?)-(?P<version>\d.*?)(?P<extension>(\.[^\W\d_][^.]*)*)")


@dataclass(slots=True)
class NewPackage:
    name: str
    version: str
    filename: str | None  # None: named later (a replacement takes its name at the end)
    published: bool
    fields: dict[str, str] = field(default_factory=dict)  # visibility and such
    properties: dict[str, str] = field(default_factory=dict)
    expected: Expected | None = None


def parse_filename(filename: str) -> PackageFile:
    """The package a PNDA file name stands for; BadRequest when it names none."""
    check_segment("the file name", filename)
    found = FILENAME.fullmatch(filename)
    if found is None:
        raise BadRequest(
            f"{filename!r} is not <name>-<version><extension>, as "
            "spark-batch-example-app-1.0.23.tar.gz is: the version begins with a digit"
        )
    return PackageFile(found["name"], found["version"], filename)


class Packages:
    def __init__(
        self,
        database: Database,
        catalogue: Catalogue,
        transfers: Transfers,
        identities: Identities,
        pnda: PndaSettings,
    ) -> None:
        self._database = database
        self._catalogue = catalogue
        self._transfers = transfers
        self._identities = identities
        self._pnda = pnda

    def anonymous(self, write: bool) -> Caller | None:
        """Who a PNDA request without a token acts as, if ``pnda.anonymous`` lets it in
        (PNDA had no authentication): a reader, or a member for writes."""
        allowed = self._pnda.anonymous
        if allowed == "write" or (allowed == "read" and not write):
            role = MEMBER if allowed == "write" else READER
            return self._identities.anonymous(self._pnda.anonymous_project, role)
        return None

    async def newest(self, caller: Caller, recency: int) -> list[PackageFile]:
        """The ``recency`` newest versions of every package the caller may see."""
        caller.require("get_images")
        viewer = None if caller.is_admin else caller.project
        return await self._database.read(queries.newest_versions, viewer, recency)

    async def find_file(self, caller: Caller, filename: str) -> Artifact:
        """The package a PNDA file name stands for, with data the caller may read."""
        package = parse_filename(filename)
        return await self._catalogue.find_package(
            caller, package.name, package.version, package.filename
        )

    async def put_file(self, caller: Caller, filename: str, data: AsyncIterable[bytes]) -> Artifact:
        """Store a package under its PNDA file name. A file that exists (or existed) is a
        Conflict, unless ``pnda.overwrite``: then the new bytes are stored first and take
        the name in one transaction, so a reader gets the old file or the new, whole."""
        package = parse_filename(filename)
        new = NewPackage(package.name, package.version, filename, published=True)
        if not self._pnda.overwrite:
            return await self.add(caller, new, data)
        caller.require("delete_image")
        with contextlib.suppress(NotFound):  # refused before the bytes come, when it can be
            current = await self.find_file(caller, filename)
            caller.require_owner(current, "delete_image")
            if current.protected:
                raise Forbidden(f"{filename} is protected and cannot be replaced")
        unnamed = await self.add(caller, replace(new, filename=None), data)
        owner = None if caller.is_admin else caller.project
        try:
            # The replaced bytes are left to the next recovery pass (minutes), not removed
            # now: downloads under way finish with them.
            await self._database.write(self._take_name, unnamed.id, filename, owner)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._catalogue.drop(unnamed.id)
            raise
        return await self._catalogue.get(caller, unnamed.id)

    def _take_name(
        self, connection: Connection, artifact_id: str, filename: str, owner: str | None
    ) -> None:
        """The replaced package deleted, the new one named: both events."""
        for replaced in queries.take_name(connection, artifact_id, filename, now(), owner):
            self._catalogue.events.artifact(connection, EventType.ARTIFACT_DELETED, replaced)
        self._catalogue.events.artifact(connection, EventType.ARTIFACT_UPDATED, artifact_id)

    async def add(
        self, caller: Caller, package: NewPackage, data: AsyncIterable[bytes]
    ) -> Artifact:
        """The package, active; any failure leaves nothing behind."""
        for label in ("name", "version", "filename"):
            if (value := getattr(package, label)) is not None:
                check_segment(label, value)
        digests = package.expected
        if caller.signed_by is not None and not (digests and (digests.sha256 or digests.md5)):
            raise BadRequest(
                "a signed upload needs the file's sha256 (or md5): it binds the file to the "
                "signature"
            )
        fields = {**package.fields, "name": package.name, "version": package.version}
        artifact = await self._catalogue.create(
            caller,
            Changes(fields, package.properties),
            published=package.published,
            filename=package.filename,
        )
        try:
            return await self._transfers.upload(
                caller, artifact.id, data, expected=package.expected
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._catalogue.drop(artifact.id)
            raise
