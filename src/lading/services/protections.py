"""Property protections: which roles may create, read, update or delete which properties.

The file is Glance's ``property-protections-roles.conf`` format (INI): each section is a
regular expression over property names, and lists roles per operation; ``@`` admits
every role and ``!`` none. The first section whose pattern matches a name (searched, in
file order) decides; a name no section matches is refused every operation, as in Glance,
so files usually end with a catch-all ``[.*]``:

    [^x_billing_.*]
    create = admin
    read = admin, member
    update = admin
    delete = admin

    [.*]
    create = @
    read = @
    update = @
    delete = @

Roles imply those below them, as in the policy (``member`` admits admins too).
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lading.services.roles import ROLES, PolicyError

Operation = Literal["create", "read", "update", "delete"]
OPERATIONS: tuple[Operation, ...] = ("create", "read", "update", "delete")
EVERYONE, NOBODY = "@", "!"


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: re.Pattern[str]
    roles: dict[str, frozenset[str]]  # operation -> roles; EVERYONE stands for all


class PropertyProtections:
    def __init__(self, rules: list[Rule]) -> None:
        self._rules = rules

    def allows(self, roles: frozenset[str], name: str, operation: Operation) -> bool:
        for rule in self._rules:
            if rule.pattern.search(name):
                allowed = rule.roles[operation]
                return EVERYONE in allowed or not allowed.isdisjoint(roles)
        return False

    @classmethod
    def load(cls, path: Path) -> PropertyProtections:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with path.open() as file:
                parser.read_file(file)
        except (OSError, configparser.Error) as exc:
            raise PolicyError(f"cannot read the property protection file {path}: {exc}") from None
        rules = [_rule(path, section, parser[section]) for section in parser.sections()]
        if not rules:
            raise PolicyError(f"{path}: no property protection rules")
        return cls(rules)


def _rule(path: Path, section: str, options: configparser.SectionProxy) -> Rule:
    try:
        pattern = re.compile(section)
    except re.error as exc:
        raise PolicyError(f"{path}: [{section}] is not a regular expression: {exc}") from None
    unknown = set(options) - set(OPERATIONS)
    if unknown:
        raise PolicyError(f"{path}: [{section}] has unknown operations {sorted(unknown)}")
    roles: dict[str, frozenset[str]] = {}
    for operation in OPERATIONS:
        if operation not in options:
            raise PolicyError(f"{path}: [{section}] does not say who may {operation}")
        named = frozenset(role.strip() for role in options[operation].split(",") if role.strip())
        if not named <= {*ROLES, EVERYONE, NOBODY} or (NOBODY in named and len(named) > 1):
            raise PolicyError(
                f"{path}: [{section}] {operation} must list roles among {', '.join(ROLES)}, "
                f"or be {EVERYONE} (everyone) or {NOBODY} (nobody)"
            )
        roles[operation] = named - {NOBODY}
    return Rule(pattern, roles)
