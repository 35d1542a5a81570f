"""The roles a token carries: each grants itself and the roles below it, and no more."""

from __future__ import annotations

from lading.services.roles import ADMIN, IMPLIED_ROLES, MEMBER, READER, ROLES


def test_each_role_implies_itself_and_those_below_it() -> None:
    assert ROLES == (ADMIN, MEMBER, READER)  # highest first: the order below relies on it
    for rank, role in enumerate(ROLES):
        assert IMPLIED_ROLES[role] == frozenset(ROLES[rank:])
    assert set(IMPLIED_ROLES) == set(ROLES)
