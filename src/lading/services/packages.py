"""Packages arrive whole: created, filled and checked in one call, or not at all.

A package is an artifact with a name, a version and a file name, which the package
faces put in their URLs; so none of the three may hold a path separator or a control
character, or be ``.``/``..``.

The PNDA face names packages by file name alone: ``spark-batch-example-app-1.0.23.tar.gz``
is ``spark-batch-example-app`` version ``1.0.23`` (``parse_filename``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from dataclasses import astuple, dataclass, field

from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import packages as queries
from lading.db.engine import Database
from lading.domain import GONE, Artifact, EventType, PackageFile
from lading.errors import BadRequest, Conflict, Forbidden, NotFound
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.events import Outbox
from lading.services.identity import Identities
from lading.services.name_rules import check_segment, package_address
from lading.services.names import PackageNames
from lading.services.roles import MEMBER
from lading.services.transfers import Expected, Transfers
from lading.services.validation import Changes
from lading.settings import PndaSettings

# <name>-<version><extension>: the name ends at the first "-" before a digit; the
# extension is the tail of "."-parts that begin with a letter (.tar.gz, .zip, .jar).
FILENAME = re.compile(r"(?P<name>.+?)-(?P<version>\d.*?)(?P<extension>(\.[^\W\d_][^.]*)*)")
# Why an upload that would take a file name already used is refused.
ONCE = "this upload does not replace files: send a new version"


@dataclass(slots=True)
class NewPackage:
    name: str
    version: str
    filename: str
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
        names: PackageNames,
        pnda: PndaSettings,
        outbox: Outbox,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._outbox = outbox
        self._database = database
        self._names = names
        self._catalogue = catalogue
        self._transfers = transfers
        self._identities = identities
        self._pnda = pnda

    @property
    def replaces_files(self) -> bool:
        """Whether a PNDA PUT may replace a file, and so what is behind a package's URLs
        may change (``pnda.immutable`` says no)."""
        return not self._pnda.immutable

    def anonymous(self, write: bool) -> Caller | None:
        """Who a PNDA request without a token acts as, if ``pnda.anonymous`` lets it in
        (PNDA had no authentication): a member of ``pnda.anonymous_project``, for the
        requests the setting admits (a member, since Glance's rules let a reader list but
        not download)."""
        allowed = self._pnda.anonymous
        if allowed == "write" or (allowed == "read" and not write):
            return self._identities.anonymous(self._pnda.anonymous_project, MEMBER)
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
        """Store a package under its PNDA file name. A file that exists is replaced, as
        PNDA's repository did (the new bytes are stored first and take the name in one
        transaction, so a reader gets the old file or the new, whole); with
        ``pnda.immutable``, a file that exists (or existed) is a Conflict."""
        package = parse_filename(filename)
        new = NewPackage(package.name, package.version, filename, published=True)
        # pnda.store: PNDA's own store (its pr-config.json) keeps what comes this way.
        return await self.add(
            caller, new, data, replace=self.replaces_files, store_name=self._pnda.store
        )

    async def admissible(self, caller: Caller, package: NewPackage, replace: bool = False) -> None:
        """Refuse now what ``add`` would refuse of ``package`` whatever its bytes (its
        address, a name the caller may not publish under, a file name taken): for uploads
        whose bytes come later (resumable uploads)."""
        address = package_address(package.name, package.version, package.filename)
        await self._names.check_publisher(caller, address.name)
        await self._refuse_early(caller, address, replace)

    async def add(
        self,
        caller: Caller,
        package: NewPackage,
        data: AsyncIterable[bytes],
        replace: bool = False,
        store_name: str | None = None,
    ) -> Artifact:
        """The package, active under its file name; any failure leaves nothing behind and
        takes no name. A file name that exists (or existed: its URLs served those bytes) is
        a Conflict, unless ``replace``: then the caller's project's package is replaced."""
        address = package_address(package.name, package.version, package.filename)
        await self._names.check_publisher(caller, address.name)  # before the bytes come
        await self._refuse_early(caller, address, replace)
        digests = package.expected
        if caller.signed_by is not None and not (digests and (digests.sha256 or digests.md5)):
            raise BadRequest(
                "a signed upload needs the file's sha256 (or md5): it binds the file to the "
                "signature"
            )
        fields = {**package.fields, "name": address.name, "version": address.version}
        return await self._transfers.create_uploaded(
            caller, Changes(fields, package.properties), data,
            published=package.published, expected=package.expected, store_name=store_name,
            on_active=lambda connection, artifact_id: self._take_name(
                connection, caller, artifact_id, address, replace
            ),
        )  # fmt: skip

    async def _refuse_early(self, caller: Caller, address: PackageFile, replace: bool) -> None:
        """What the naming would refuse at the end, refused before the bytes come."""
        try:
            current = await self._catalogue.find_package(caller, *astuple(address))
        except NotFound:
            return
        if not replace:
            raise Conflict(f"{address.filename} exists: {ONCE}")
        check_replaceable(caller, current)

    def _take_name(
        self,
        connection: Connection,
        caller: Caller,
        artifact_id: str,
        address: PackageFile,
        replace: bool,
    ) -> None:
        """As it becomes active, the uploaded package takes its file name (and so its
        name: ``Catalogue.activated``); a package it replaces is deleted (an event)."""
        holders = queries.file_holders(connection, artifact_id, address)
        for holder in holders:
            if not replace:
                raise Conflict(f"{address.filename} exists: {ONCE}")
            if holder.status not in GONE:
                check_replaceable(caller, holder)
        replaced = queries.take_name(
            connection, artifact_id, address.filename, holders, self._clock.now()
        )
        for gone in replaced:
            self._outbox.record(connection, EventType.ARTIFACT_DELETED, gone, caller)


def check_replaceable(caller: Caller, package: Artifact) -> None:
    """A package is replaced by its project (or an administrator), unless protected."""
    caller.require_owner(package, "delete_image")
    if package.protected:
        raise Forbidden(f"{package.filename} is protected and cannot be replaced")
