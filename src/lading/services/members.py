"""Sharing an artifact with other projects, as Glance v2's image members.

The owner adds and removes members of a ``shared`` artifact; each member answers for
itself (accepted, rejected, or pending again). A member sees the artifact by id whatever
its answer, and in listings once it accepted. Others get 404, as for the artifact.
"""

from __future__ import annotations

from lading.clock import Clock
from lading.db import members as queries
from lading.db.engine import Database
from lading.domain import Artifact, Member, MemberStatus, Visibility
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services import validation
from lading.services.access import Caller
from lading.services.catalogue import Catalogue


class Members:
    def __init__(
        self, database: Database, catalogue: Catalogue, clock: Clock | None = None
    ) -> None:
        self._clock = clock or Clock()
        self._database = database
        self._catalogue = catalogue

    async def add(self, caller: Caller, artifact_id: str, project: object) -> Member:
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require_owner(artifact, "add_member")
        if artifact.visibility is not Visibility.SHARED:
            raise Forbidden(f"only shared artifacts have members; {artifact.id} is not shared")
        moment = self._clock.now()
        member = Member(
            artifact.id, validation.check_project("member", project), MemberStatus.PENDING,
            moment, moment,
        )  # fmt: skip
        await self._database.write(queries.add, member)
        return member

    async def list(self, caller: Caller, artifact_id: str) -> list[Member]:
        """The owner sees every member; a member sees only itself."""
        artifact = await self._catalogue.visible(caller, artifact_id)
        # Seen by a project that does not own it: a shared artifact's member (can_see).
        member = None if artifact.owner == caller.project else caller.project
        caller.require("get_members", artifact, member)
        if artifact.visibility is not Visibility.SHARED:
            raise Forbidden(f"only shared artifacts have members; {artifact.id} is not shared")
        found = await self._database.read(queries.list_members, artifact.id)
        return [member for member in found if _sees_member(caller, artifact, member.member)]

    async def get(self, caller: Caller, artifact_id: str, project: str) -> Member:
        return (await self._find(caller, artifact_id, project))[1]

    async def _find(
        self, caller: Caller, artifact_id: str, project: str
    ) -> tuple[Artifact, Member]:
        artifact = await self._catalogue.visible(caller, artifact_id)
        member = await self._database.read(queries.find, artifact.id, project)
        if member is None or not _sees_member(caller, artifact, project):
            raise NotFound(f"{project} is not a member of {artifact.id}")
        caller.require("get_member", artifact, project)
        return artifact, member

    async def set_status(
        self, caller: Caller, artifact_id: str, project: str, status: object
    ) -> Member:
        """Only the member answers for itself (admins may too)."""
        artifact, member = await self._find(caller, artifact_id, project)
        caller.require("modify_member", artifact, project)
        if project != caller.project and not caller.is_admin:
            raise Forbidden("only the member itself may accept or reject a sharing")
        try:
            answer = MemberStatus(status)  # type: ignore[arg-type]
        except ValueError:
            choices = ", ".join(MemberStatus)
            raise BadRequest(f"status must be one of {choices}") from None
        moment = self._clock.now()
        if not await self._database.write(
            queries.set_status, member.artifact_id, project, answer, moment
        ):
            raise NotFound(f"{project} is not a member of {member.artifact_id}")
        return Member(member.artifact_id, project, answer, member.created_at, moment)

    async def remove(self, caller: Caller, artifact_id: str, project: str) -> None:
        artifact = await self._catalogue.visible(caller, artifact_id)
        if not _sees_member(caller, artifact, project):
            raise NotFound(f"{project} is not a member of {artifact.id}")
        caller.require_owner(artifact, "delete_member")  # a member sees itself, no more
        if not await self._database.write(queries.remove, artifact.id, project):
            raise NotFound(f"{project} is not a member of {artifact.id}")


def _sees_member(caller: Caller, artifact: Artifact, project: str) -> bool:
    """The owner (and admins) see every member; a member sees only itself."""
    return caller.is_admin or artifact.owner == caller.project or project == caller.project
