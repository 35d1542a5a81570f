"""Who is calling, and what they may see.

The rules below are the ones Glance v2 applies to visibility and ownership.
"""

from __future__ import annotations

from dataclasses import dataclass

from lading.domain import Artifact, Visibility

ADMIN, MEMBER, READER = "admin", "member", "reader"
ROLES = (ADMIN, MEMBER, READER)
# A token has one role; it grants the roles below it too.
IMPLIED_ROLES = {
    ADMIN: frozenset(ROLES),
    MEMBER: frozenset({MEMBER, READER}),
    READER: frozenset({READER}),
}


@dataclass(frozen=True, slots=True)
class Caller:
    project: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @classmethod
    def with_role(cls, project: str, role: str) -> Caller:
        return cls(project, IMPLIED_ROLES[role])

    @classmethod
    def open_admin(cls, project: str) -> Caller:
        """The caller of a lading that runs open, with no tokens configured."""
        return cls.with_role(project, ADMIN)


def can_see(caller: Caller, artifact: Artifact) -> bool:
    if caller.is_admin or artifact.owner == caller.project:
        return True
    return artifact.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY)
