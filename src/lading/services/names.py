"""Package names belong to projects.

The project that first publishes under a name (a PNDA file's name, a Click package, an OSM
descriptor id, a package made through the v2 API) owns it: from then on only that project,
the projects it lets publish under it (``publishers``) and administrators may add versions,
whatever their visibility. An administrator may give a name to another project. A name is
taken when a package under it becomes active, never by a failed attempt, and never if it
looks like another project's name (``lading.services.name_rules``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from lading.db import names as queries
from lading.db.engine import Database
from lading.domain import PackageName
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services.access import Caller
from lading.services.name_rules import Folded, check_name, key, lookup_form
from lading.services.validation import check_project

# PNDA, Click and OSM list and serve each other's packages: one catalogue of names.
NAMESPACE = "packages"
MAX_PUBLISHERS = 100
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class SharedName:
    """A name with live versions from projects that may not publish under it now (from
    before names had owners, or given away since)."""

    name: str
    owner: str | None  # None: no project owns it
    projects: dict[str, int]  # each other project, with how many live versions it has


class PackageNames:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def check_publisher(self, caller: Caller, name: str) -> None:
        """Refuse, before any bytes come, a name the caller may not publish under."""
        name = check_name("the package name", name)
        await self._database.read(self.check, caller.project, caller.is_admin, name)

    def check(
        self, connection: Connection, project: str, admin: bool, name: str, for_update: bool = False
    ) -> PackageName | None:
        """In the caller's transaction: the name's record if it has one, None for a new
        name; Forbidden if ``project`` may not publish under it (or, new, it looks like
        another project's name), unless ``admin``."""
        return self._check(connection, project, admin, Folded.of(name), for_update)

    def claim(
        self,
        connection: Connection,
        project: str,
        name: str,
        moment: datetime,
        admin: bool = False,
    ) -> PackageName:
        """In the transaction that makes a package under ``name`` active: the name, which
        ``project`` (the package's owner) may publish under, recorded as that project's
        if it is new. Forbidden otherwise (``check``)."""
        folded = Folded.of(name)
        found = self._check(connection, project, admin, folded, for_update=True)
        if found is not None:
            return found
        new = PackageName(name, project, [], moment)
        if queries.insert_name(connection, NAMESPACE, folded.key, folded.skeleton, new):
            return new
        # Another upload recorded it meanwhile: its owner's rules apply.
        found = self._check(connection, project, admin, folded, for_update=True)
        if found is None:  # pragma: no cover - inserted and gone within one transaction
            raise NotFound(f"package name {name!r} vanished while it was taken")
        return found

    def _check(
        self, connection: Connection, project: str, admin: bool, folded: Folded, for_update: bool
    ) -> PackageName | None:
        found = queries.find(connection, NAMESPACE, folded.key, for_update)
        if found is not None:
            if not (admin or found.may_publish(project)):
                raise Forbidden(_who_may_publish(found))
            return found
        if for_update:  # a look-alike claimed meanwhile is seen: claims of one skeleton queue
            queries.lock_skeleton(connection, NAMESPACE, folded.skeleton)
        for other in queries.look_alikes(connection, NAMESPACE, folded.skeleton, folded.key):
            if not other.may_publish(project):
                raise Forbidden(
                    f"package name {folded.name!r} looks like {other.name!r}, which belongs "
                    f"to project {other.owner}: choose a name that cannot be mistaken for it"
                )
        return None

    async def show(self, caller: Caller, name: str) -> PackageName:
        caller.require("get_package_name")
        return await self._database.read(self._existing, name)

    async def names(self, caller: Caller, marker: str | None, limit: int) -> list[PackageName]:
        """The names the caller's project owns or publishes under (all: administrators),
        ordered, after the name ``marker``."""
        caller.require("get_package_name")
        if not 0 < limit <= MAX_PAGE:
            raise BadRequest(f"limit must be from 1 to {MAX_PAGE}")
        project = None if caller.is_admin else caller.project
        after = None if marker is None else key(lookup_form(marker))
        found = await self._database.read(queries.list_names, NAMESPACE, project, after, limit)
        return [name for _, name in found]

    async def give(self, caller: Caller, name: str, project: str) -> PackageName:
        """An administrator's: the name becomes ``project``'s (its publishers stay)."""
        caller.require("give_package_name")
        project = check_project("owner", project)

        def give(connection: Connection) -> PackageName:
            current = self._existing(connection, name, for_update=True)
            queries.set_owner(connection, NAMESPACE, key(name), project)
            others = [other for other in current.publishers if other != project]
            queries.set_publishers(connection, NAMESPACE, key(name), others)
            return self._existing(connection, name)

        return await self._database.write(give)

    async def set_publishers(
        self, caller: Caller, name: str, projects: Sequence[object]
    ) -> PackageName:
        """The owner's (or an administrator's): which other projects may publish under it."""
        caller.require("modify_package_name")
        if len(projects) > MAX_PUBLISHERS:
            raise BadRequest(f"a name takes at most {MAX_PUBLISHERS} publishers")
        chosen = sorted({check_project("publisher", project) for project in projects})

        def write(connection: Connection) -> PackageName:
            current = self._existing(connection, name, for_update=True)
            if not caller.is_admin and current.owner != caller.project:
                raise Forbidden(
                    f"package name {current.name!r} belongs to project {current.owner}: only "
                    "it chooses who else publishes under it"
                )
            others = [project for project in chosen if project != current.owner]
            queries.set_publishers(connection, NAMESPACE, key(name), others)
            return self._existing(connection, name)

        return await self._database.write(write)

    async def shared(self) -> list[SharedName]:
        """Names with live versions from projects that may not publish under them."""
        return await self._database.read(_shared)

    def _existing(self, connection: Connection, name: str, for_update: bool = False) -> PackageName:
        try:  # names from before the character set are found too
            found = queries.find(connection, NAMESPACE, key(lookup_form(name)), for_update)
        except BadRequest:  # no package can have it
            found = None
        if found is None:
            raise NotFound(f"no package name {name!r}")
        return found


def _who_may_publish(name: PackageName) -> str:
    others = ""
    if name.publishers:
        others = f", the projects it lets publish under it ({', '.join(name.publishers)})"
    return (
        f"package name {name.name!r} belongs to project {name.owner}: only that project"
        f"{others} and administrators may publish under it (its owner may add your project "
        "to its publishers; an administrator may give the name to another project)"
    )


def _shared(connection: Connection) -> list[SharedName]:
    records: dict[str, PackageName | None] = {}
    shared: dict[str, SharedName] = {}
    for name, project, count in queries.package_owners(connection):
        name_key = key(name)
        if name_key not in records:
            records[name_key] = queries.find(connection, NAMESPACE, name_key)
        record = records[name_key]
        if record is not None and record.may_publish(project):
            continue
        owner = None if record is None else record.owner
        entry = shared.setdefault(name_key, SharedName(record.name if record else name, owner, {}))
        entry.projects[project] = entry.projects.get(project, 0) + count
    return list(shared.values())
