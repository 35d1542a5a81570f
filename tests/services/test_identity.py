"""lading's API tokens: open (an admin of the default project) until the first token,
closed for good from then on; a token acts for its project and role until revoked (by
itself or its id) or expired; only its digest is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lading.db import tokens
from lading.db.engine import Database
from lading.errors import BadRequest, NotFound, Unauthorized
from lading.services.identity import TOKEN_PREFIX, Identities, digest
from lading.services.policy import Policy
from lading.services.roles import ADMIN, IMPLIED_ROLES
from tests.clock import MovableClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def identities(database: Database, clock: MovableClock) -> Identities:
    return Identities(database, "default", Policy(), clock=clock)


async def test_open_until_the_first_token_then_closed_for_good(identities: Identities) -> None:
    anyone = await identities.authenticate(None)
    assert anyone is not None and (anyone.project, anyone.roles) == (
        "default",
        IMPLIED_ROLES[ADMIN],
    )
    made = await identities.create("p", "reader")
    assert await identities.authenticate(None) is None  # anonymous now
    await identities.revoke(made.record.id)
    assert not await identities.is_open()  # revoking the last token never reopens


async def test_a_token_acts_for_its_project_and_role(
    identities: Identities, database: Database
) -> None:
    made = await identities.create("p", "member", description="ci")
    assert made.token.startswith(TOKEN_PREFIX)
    caller = await identities.authenticate(made.token)
    assert caller is not None and (caller.project, caller.roles) == ("p", IMPLIED_ROLES["member"])
    assert database.run(False, tokens.find_by_digest, digest(made.token)) == made.record
    assert database.run(False, tokens.find_by_digest, made.token) is None  # never in clear
    with pytest.raises(Unauthorized, match="unknown"):
        await identities.authenticate(TOKEN_PREFIX + "guess")


async def test_a_revoked_or_expired_token_is_refused(
    identities: Identities, clock: MovableClock
) -> None:
    by_token = await identities.create("p", "member")
    by_id = await identities.create("p", "member")
    await identities.authenticate(by_token.token)  # cached: the revocation must still tell
    assert (await identities.revoke(by_token.token)).id == by_token.record.id
    await identities.revoke(by_id.record.id)
    for revoked in (by_token, by_id):
        with pytest.raises(Unauthorized, match="revoked"):
            await identities.authenticate(revoked.token)
    with pytest.raises(NotFound):
        await identities.revoke("nobody")
    expiring = await identities.create("p", "member", clock.now() + timedelta(hours=1))
    assert await identities.authenticate(expiring.token) is not None
    clock.move(hours=1)
    with pytest.raises(Unauthorized, match="expired"):
        await identities.authenticate(expiring.token)


async def test_a_token_needs_a_role_a_project_and_a_future_expiry(
    identities: Identities, clock: MovableClock
) -> None:
    for project, role, expiry in (
        ("p", "owner", None),
        ("", "member", None),
        ("p", "member", clock.now() - timedelta(seconds=1)),
    ):
        with pytest.raises(BadRequest):
            await identities.create(project, role, expiry)
    assert await identities.is_open()  # nothing was made
    assert [made.id for made in await identities.list()] == []
