"""Who is calling, and what they may see and do.

Visibility and ownership follow Glance v2: admins see everything; others see what their
project owns, public and community artifacts, and shared ones their project is a member
of, once published (Click's review gate; the Glance face publishes at once). What a
caller may not see does not exist for it (404); what it may see but not change is
refused (403). Which roles may take which action is the policy's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lading.domain import Artifact, Visibility
from lading.errors import Forbidden
from lading.services.policy import Policy
from lading.services.protections import Operation
from lading.services.roles import ADMIN, IMPLIED_ROLES

# A signing client is its project's review authority (Click's Software Center): it may
# publish and make public what its project owns, whatever its role.
SIGNED_ACTIONS = frozenset({"publish_image", "publicize_image"})


@dataclass(frozen=True, slots=True)
class Caller:
    project: str
    roles: frozenset[str]
    policy: Policy = field(default_factory=Policy, compare=False, repr=False)
    signed_by: str | None = None  # the signing client, for a signed request
    user: str | None = None  # the user, when the identity names one (lading's tokens do not)
    # The roles of a valid X-Service-Token sent beside the user's (Nova, Cinder), as
    # Glance's service_roles.
    service_roles: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def may(self, action: str) -> bool:
        return self.policy.allows(self.roles, action) or (
            self.signed_by is not None and action in SIGNED_ACTIONS
        )

    def require(self, action: str) -> None:
        if not self.may(action):
            raise Forbidden(f"the policy does not allow {action} to this caller")

    def may_property(self, name: str, operation: Operation) -> bool:
        return self.policy.allows_property(self.roles, name, operation)

    def view(self, artifact: Artifact) -> Artifact:
        """The artifact as this caller sees it: properties it may not read left out."""
        if self.policy.protections is None:
            return artifact
        readable = {
            name: value
            for name, value in artifact.properties.items()
            if self.may_property(name, "read")
        }
        return replace(artifact, properties=readable)

    def require_owner(self, artifact: Artifact, action: str) -> None:
        """The action's policy, and the artifact must be the caller's project's."""
        self.require(action)
        if not self.is_admin and artifact.owner != self.project:
            raise Forbidden(f"artifact {artifact.id} belongs to another project")

    def may_change(self, artifact: Artifact, action: str) -> bool:
        """Whether ``require_owner`` lets the caller take the action on the artifact."""
        return self.may(action) and (self.is_admin or artifact.owner == self.project)

    @classmethod
    def with_role(cls, project: str, role: str, policy: Policy | None = None) -> Caller:
        return cls(project, IMPLIED_ROLES[role], policy or Policy())


def can_see(caller: Caller, artifact: Artifact, is_member: bool = False) -> bool:
    """``is_member``: the caller's project is a member of the artifact (any status)."""
    if caller.is_admin or artifact.owner == caller.project:
        return True
    if not artifact.published:
        return False
    if artifact.visibility is Visibility.SHARED:
        return is_member
    return artifact.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY)
