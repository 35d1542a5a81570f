"""Which roles may do what: Glance's policy names, with defaults that match Glance's.

A policy file (YAML, ``policy_file`` in settings) maps action names to the roles that
may take them, replacing the defaults it names; the rest keep theirs:

    publicize_image: [admin, member]
    delete_image: [admin]

Roles imply those below them (admin > member > reader), so ``[member]`` admits admins
too. Ownership and visibility are not policy: they are checked apart, always.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from lading.services.protections import Operation, PropertyProtections
from lading.services.roles import ADMIN, MEMBER, READER, ROLES, PolicyError

DEFAULT_RULES: dict[str, frozenset[str]] = {
    action: frozenset(roles)
    for action, roles in {
        "get_image": [READER],
        "get_images": [READER],
        "download_image": [READER],
        "add_image": [MEMBER],
        "modify_image": [MEMBER],
        "upload_image": [MEMBER],
        "delete_image": [MEMBER],
        "publicize_image": [ADMIN],
        "communitize_image": [MEMBER],
        "deactivate": [ADMIN],
        "reactivate": [ADMIN],
        "get_members": [READER],
        "get_member": [READER],
        "add_member": [MEMBER],
        "delete_member": [MEMBER],
        "modify_member": [MEMBER],
        "get_image_location": [ADMIN],
        "delete_image_location": [ADMIN],
        "get_task": [READER],  # of the caller's project; admins see every project's
        "get_tasks": [READER],
        # lading's own: the Click review gate (a signing client may also publish its own)
        "publish_image": [ADMIN],
        # lading's own: package names (their owner is checked apart, as an image's is)
        "get_package_name": [READER],
        "modify_package_name": [MEMBER],
        "give_package_name": [ADMIN],
    }.items()
}


class Policy:
    """The action rules, and the property protections when some are configured."""

    def __init__(
        self,
        overrides: Mapping[str, frozenset[str]] | None = None,
        protections: PropertyProtections | None = None,
    ) -> None:
        self.rules = {**DEFAULT_RULES, **(overrides or {})}
        self.protections = protections

    def allows(self, roles: frozenset[str], action: str) -> bool:
        return not self.rules[action].isdisjoint(roles)

    def allows_property(self, roles: frozenset[str], name: str, operation: Operation) -> bool:
        return self.protections is None or self.protections.allows(roles, name, operation)

    @classmethod
    def load(cls, path: Path | None, protection_file: Path | None = None) -> Policy:
        protections = None if protection_file is None else PropertyProtections.load(protection_file)
        return cls(cls._overrides(path), protections)

    @staticmethod
    def _overrides(path: Path | None) -> dict[str, frozenset[str]]:
        if path is None:
            return {}
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyError(f"cannot read the policy file {path}: {exc}") from None
        if not isinstance(document, dict):
            raise PolicyError(f"{path}: a policy file maps action names to lists of roles")
        overrides: dict[str, frozenset[str]] = {}
        for action, roles in document.items():
            if action not in DEFAULT_RULES:
                raise PolicyError(f"{path}: unknown action {action!r}")
            if not isinstance(roles, list) or not set(roles) <= set(ROLES):
                raise PolicyError(f"{path}: {action} must list roles among {', '.join(ROLES)}")
            overrides[action] = frozenset(roles)
        return overrides
