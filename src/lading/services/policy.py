"""Which callers may take which action: Glance's policy rules, checked by oslo.policy.

The rule names and default check strings are Glance's current defaults (secure RBAC:
project ``reader``, ``member`` and ``admin``), so an operator's Glance ``policy.yaml``
works unchanged (``policy_file`` in settings): the rules it names replace the defaults,
the rest keep theirs, in oslo.policy's check syntax::

    publicize_image: "role:admin or role:image_publisher"
    download_image: "role:admin or (role:reader and project_id:%(project_id)s)"

A rule sees the caller (``roles``, ``project_id``, ``user_id``, ``service_roles``) and a
target: the artifact acted on (``project_id`` and ``owner`` are its owner; its
``visibility``, formats, ``status``, ``name``, ``protected`` and properties), or, for an
action on no artifact yet, the caller's own project. ``member_id`` is the project a
membership action is about. Roles imply those below them (admin > member > reader) for
lading's own tokens, as Keystone's implied roles do for its.

Ownership and visibility are checked apart, whatever the rules say: a rule can narrow
what a caller may do, never widen it to another project's artifacts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import yaml
from oslo_config import cfg
from oslo_policy import _checks as oslo_checks
from oslo_policy import policy as oslo

from lading.services.protections import Operation, PropertyProtections
from lading.services.roles import ROLES, PolicyError

log = logging.getLogger(__name__)

# Glance's building blocks (glance/policies/base.py), by meaning.
_MEMBER = "role:member and project_id:%(project_id)s"
_READER = "role:reader and project_id:%(project_id)s"
_SEEN = (
    "project_id:%(project_id)s or project_id:%(member_id)s or "
    '"community":%(visibility)s or "public":%(visibility)s or "shared":%(visibility)s'
)
ADMIN_OR_MEMBER = f"role:admin or ({_MEMBER})"
ADMIN_OR_READER = f"role:admin or ({_READER})"
# Glance's rules name the admin rule rather than the role (a policy file may widen it).
_METADEF_ADMIN = "rule:context_is_admin"
_METADEF_READER = "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or "
_METADEF_READER += "'public':%(visibility)s))"

GLANCE_RULES: dict[str, str] = {
    "default": "",
    "context_is_admin": "role:admin",
    "add_image": f"role:admin or ({_MEMBER} and project_id:%(owner)s)",
    "get_image": f"role:admin or (role:reader and ({_SEEN}))",
    "get_images": ADMIN_OR_READER,
    "modify_image": ADMIN_OR_MEMBER,
    "upload_image": ADMIN_OR_MEMBER,
    "delete_image": ADMIN_OR_MEMBER,
    "download_image": f"role:admin or (role:member and ({_SEEN}))",
    "publicize_image": "role:admin",
    "communitize_image": ADMIN_OR_MEMBER,
    "deactivate": ADMIN_OR_MEMBER,
    "reactivate": ADMIN_OR_MEMBER,
    "copy_image": "role:admin",
    "get_image_location": ADMIN_OR_READER,
    "delete_image_location": "role:admin",
    "set_image_location": ADMIN_OR_MEMBER,
    # Glance v1's copy-from (x-glance-api-copy-from): open to all, as v1's policy.json had it.
    "copy_from": "",
    # v2.17's location API: made for services (Nova, Cinder) and the image's owner.
    # A service's own token carries the role (Keystone's, mapped to lading's roles,
    # drops it), or its X-Service-Token does, as Nova and Cinder send it.
    "service_api": "role:service or role:admin or service_roles:service",
    "add_image_location": f"rule:service_api or ({_MEMBER})",
    "fetch_image_location": "rule:service_api",
    "add_member": ADMIN_OR_MEMBER,
    "delete_member": ADMIN_OR_MEMBER,
    "get_member": "role:admin or (role:reader and (project_id:%(project_id)s or "
    "project_id:%(member_id)s))",
    "get_members": "role:admin or (role:reader and (project_id:%(project_id)s or "
    "project_id:%(member_id)s))",
    "modify_member": "role:admin or (role:member and project_id:%(member_id)s)",
    "stores_info_detail": "role:admin",
    # The image cache (glance/policies/cache.py); clearing it is cache_delete too.
    "cache_image": "role:admin",
    "cache_list": "role:admin",
    "cache_delete": "role:admin",
    "get_task": "rule:default",
    "get_tasks": "rule:default",
    "add_task": "rule:default",
    # Checked for the legacy POST /v2/tasks alone: lading's CLI and web UI follow a
    # project's imports through GET /v2/tasks, which Glance keeps to this rule too.
    "tasks_api_access": "role:admin",
    # Metadata definitions (glance/policies/metadef.py): reading a namespace and its
    # contents needs a reader of its project, or a public namespace; changes, an admin.
    "metadef_default": "",
    "metadef_admin": _METADEF_ADMIN,
    "get_metadef_namespace": _METADEF_READER,
    "get_metadef_namespaces": f"rule:context_is_admin or ({_READER})",
    "modify_metadef_namespace": "rule:metadef_admin",
    "add_metadef_namespace": "rule:metadef_admin",
    "delete_metadef_namespace": "rule:metadef_admin",
    "get_metadef_object": _METADEF_READER,
    "get_metadef_objects": _METADEF_READER,
    "modify_metadef_object": "rule:metadef_admin",
    "add_metadef_object": "rule:metadef_admin",
    "delete_metadef_object": "rule:metadef_admin",
    "list_metadef_resource_types": _METADEF_READER,
    "get_metadef_resource_type": _METADEF_READER,
    "add_metadef_resource_type_association": "rule:metadef_admin",
    "remove_metadef_resource_type_association": "rule:metadef_admin",
    "get_metadef_property": _METADEF_READER,
    "get_metadef_properties": _METADEF_READER,
    "modify_metadef_property": "rule:metadef_admin",
    "add_metadef_property": "rule:metadef_admin",
    "remove_metadef_property": "rule:metadef_admin",
    "get_metadef_tag": _METADEF_READER,
    "get_metadef_tags": _METADEF_READER,
    "modify_metadef_tag": "rule:metadef_admin",
    "add_metadef_tag": "rule:metadef_admin",
    "add_metadef_tags": "rule:metadef_admin",
    "delete_metadef_tag": "rule:metadef_admin",
    "delete_metadef_tags": "rule:metadef_admin",
}

LADING_RULES: dict[str, str] = {
    # The Click review gate: who may make a package visible beyond its project (a signing
    # client may also publish its own project's).
    "publish_image": "role:admin",
    # Package names: their owner is checked apart, as an image's is.
    "get_package_name": "role:reader",
    "modify_package_name": ADMIN_OR_MEMBER,
    "give_package_name": "role:admin",
    # Retention: a project's members see its plan and manage its policies and runs (the
    # project is checked apart: administrators act on any).
    "get_retention": ADMIN_OR_MEMBER,
    "manage_retention": ADMIN_OR_MEMBER,
    # Naming an object already in one of lading's stores as an image's data (VISoR's
    # s3://, file://... locations, an rbd:// snapshot): the object may be the operator's
    # or another project's, and the image's delete may remove it. Services (Nova's and
    # Cinder's snapshots) and administrators may; members use http(s) locations, unless
    # an operator who trusts them as VISoR did opens this in a policy file.
    "claim_store_object": "rule:service_api",
}

DEFAULT_RULES = {**GLANCE_RULES, **LADING_RULES}

# The attributes of an artifact a rule may name, beside its properties.
TARGET_FIELDS = (
    "id", "name", "version", "visibility", "status", "disk_format", "container_format",
    "protected", "os_hidden", "min_disk", "min_ram", "size", "filename",
)  # fmt: skip


class Policy:
    """The rules (defaults, and a policy file's), and the property protections."""

    def __init__(
        self,
        overrides: Mapping[str, str] | None = None,
        protections: PropertyProtections | None = None,
    ) -> None:
        self.rules = {**DEFAULT_RULES, **(overrides or {})}
        self.protections = protections
        self._enforcer = oslo.Enforcer(cfg.ConfigOpts(), use_conf=False)
        parsed = {name: _parsed(check) for name, check in self.rules.items()}
        self._enforcer.set_rules(oslo.Rules(parsed, "default"), use_conf=False)

    def allows(
        self, credentials: Mapping[str, Any], action: str, target: Mapping[str, Any]
    ) -> bool:
        if action not in self.rules:
            raise KeyError(action)  # a typo in lading, not a rule to default
        return bool(self._enforcer.enforce(action, dict(target), dict(credentials)))

    def allows_property(self, roles: frozenset[str], name: str, operation: Operation) -> bool:
        return self.protections is None or self.protections.allows(roles, name, operation)

    @classmethod
    def load(cls, path: Path | None, protection_file: Path | None = None) -> Policy:
        protections = None if protection_file is None else PropertyProtections.load(protection_file)
        return cls(cls._overrides(path), protections)

    @staticmethod
    def _overrides(path: Path | None) -> dict[str, str]:
        if path is None:
            return {}
        try:
            document = yaml.safe_load(path.read_text()) or {}  # JSON is YAML too
        except (OSError, yaml.YAMLError) as exc:
            raise PolicyError(f"cannot read the policy file {path}: {exc}") from None
        if not isinstance(document, dict):
            raise PolicyError(f"{path}: a policy file maps rule names to check strings")
        overrides = {
            str(name): _check_string(path, str(name), value) for name, value in document.items()
        }
        unused = sorted(set(overrides) - set(DEFAULT_RULES))
        if unused:
            # A Glance file names rules lading has no use for (manage_image_cache...): kept,
            # since other rules may refer to them, and said once.
            log.warning("%s: rules lading does not check: %s", path, ", ".join(unused))
        return overrides


@functools.cache
def _parsed(check: str) -> Any:
    """A check string parsed once per process: a check holds no state (a ``rule:`` check
    looks its rule up as it runs), so every Policy may share it, and parsing the defaults
    took longer than building the rest of the services."""
    _defer_check_plugins()
    return oslo.Rules.from_dict({"rule": check})["rule"]


def _defer_check_plugins() -> None:
    """Import each of oslo.policy's check plugins when a rule uses it, not all of them
    when the first rule is parsed: its own ``http:`` and ``https:`` checks import requests
    (5 MiB of every worker, docs/performance.md), and Glance's default rules use neither.
    oslo.policy looks them up by kind in a table it fills once, when it is still empty
    (``_checks.extension_checks``); this fills it with loaders of the same plugins."""
    if getattr(oslo_checks, "extension_checks", ()) is not None:
        return  # filled already, or an oslo.policy without the table: it loads its own way
    plugins = entry_points(group="oslo.policy.rule_checks")
    oslo_checks.extension_checks = {
        plugin.name: functools.partial(_check_of, plugin) for plugin in plugins
    }


def _check_of(plugin: EntryPoint, kind: str, match: str) -> Any:
    return plugin.load()(kind, match)


def _check_string(path: Path, name: str, value: object) -> str:
    """A rule's check string; a list of roles (lading's first policy format) is read as
    any of those roles."""
    if isinstance(value, list):
        if not set(value) <= set(ROLES):
            raise PolicyError(f"{path}: {name} must list roles among {', '.join(ROLES)}")
        return " or ".join(f"role:{role}" for role in value) or "!"
    if not isinstance(value, str):
        raise PolicyError(f'{path}: {name} must be a check string, e.g. "role:admin"')
    if str(oslo.Rules.from_dict({name: value})[name]) == "!" and value.strip() != "!":
        raise PolicyError(f"{path}: {name}: cannot parse the check string {value!r}")
    return value
