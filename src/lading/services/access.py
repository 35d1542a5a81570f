"""Who is calling, and what they may see.

Until tokens exist every request is an admin of the default project; the rules
below are the ones Glance v2 applies to visibility and ownership.
"""

from __future__ import annotations

from dataclasses import dataclass

from lading.domain import Artifact, Visibility

ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Caller:
    project: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @classmethod
    def open_admin(cls, project: str) -> Caller:
        """The caller of a lading that runs open, with no tokens configured."""
        return cls(project, frozenset({ADMIN}))


def can_see(caller: Caller, artifact: Artifact) -> bool:
    if caller.is_admin or artifact.owner == caller.project:
        return True
    return artifact.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY)
