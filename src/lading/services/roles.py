"""The roles a token carries, and the error for rule files that cannot be used."""

from __future__ import annotations

ADMIN, MEMBER, READER = "admin", "member", "reader"
ROLES = (ADMIN, MEMBER, READER)
# A token has one role; it grants the roles below it too.
IMPLIED_ROLES = {
    ADMIN: frozenset(ROLES),
    MEMBER: frozenset({MEMBER, READER}),
    READER: frozenset({READER}),
}


class PolicyError(ValueError):
    """A policy or property protection file that cannot be used."""
