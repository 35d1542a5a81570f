"""Who is calling, and what they may see and do.

Visibility and ownership follow Glance v2: admins see everything; others see what their
project owns, public and community artifacts, and shared ones their project is a member
of, once published (Click's review gate; the Glance face publishes at once). What a
caller may not see does not exist for it (404); what it may see but not change is
refused (403). Which roles may take which action is the policy's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from lading.domain import Artifact, Namespace, Visibility
from lading.errors import Forbidden
from lading.services.policy import TARGET_FIELDS, Policy
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
    # The Keystone token the request came with: what glance-download sends to the other
    # region's image service, as Glance sends the user's. Never shown nor compared.
    keystone_token: str | None = field(default=None, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def may(
        self,
        action: str,
        artifact: Artifact | None = None,
        member: str | None = None,
        namespace: Namespace | None = None,
    ) -> bool:
        """Whether the policy lets the caller take the action on the artifact (none: on
        its own project); ``member``: the project a membership action is about;
        ``namespace``: the metadata definitions namespace acted on, instead of an artifact."""
        if self.signed_by is not None and action in SIGNED_ACTIONS:
            return True
        target = self._target(artifact, member)
        if namespace is not None:
            target.update(
                project_id=namespace.owner,
                owner=namespace.owner,
                visibility=namespace.visibility,
                namespace=namespace.namespace,
            )
        return self.policy.allows(self.credentials, action, target)

    def require(
        self,
        action: str,
        artifact: Artifact | None = None,
        member: str | None = None,
        namespace: Namespace | None = None,
    ) -> None:
        if not self.may(action, artifact, member, namespace):
            raise Forbidden(f"the policy does not allow {action} to this caller")

    @property
    def credentials(self) -> dict[str, object]:
        """The caller as a policy rule sees it (oslo.policy's credentials)."""
        return {
            "roles": sorted(self.roles),
            "project_id": self.project,
            "user_id": self.user,
            "service_roles": sorted(self.service_roles),
        }

    def _target(self, artifact: Artifact | None, member: str | None) -> dict[str, object]:
        if artifact is None:
            target: dict[str, object] = {"project_id": self.project, "owner": self.project}
        else:
            target = {**artifact.properties}
            target.update({name: _plain(getattr(artifact, name)) for name in TARGET_FIELDS})
            target.update(project_id=artifact.owner, owner=artifact.owner)
        if member is not None:
            target["member_id"] = member
        return target

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
        self.require(action, artifact)
        if not self.is_admin and artifact.owner != self.project:
            raise Forbidden(f"artifact {artifact.id} belongs to another project")

    def may_change(self, artifact: Artifact, action: str) -> bool:
        """Whether ``require_owner`` lets the caller take the action on the artifact."""
        return self.may(action, artifact) and (self.is_admin or artifact.owner == self.project)

    @classmethod
    def with_role(cls, project: str, role: str, policy: Policy | None = None) -> Caller:
        return cls(project, IMPLIED_ROLES[role], policy or Policy())


def _plain(value: object) -> object:
    """An attribute as a check string compares it: enums by their value."""
    return value.value if isinstance(value, Enum) else value


def can_see(caller: Caller, artifact: Artifact, is_member: bool = False) -> bool:
    """``is_member``: the caller's project is a member of the artifact (any status)."""
    if caller.is_admin or artifact.owner == caller.project:
        return True
    if not artifact.published:
        return False
    if artifact.visibility is Visibility.SHARED:
        return is_member
    return artifact.visibility in (Visibility.PUBLIC, Visibility.COMMUNITY)
