"""Sharing an artifact, as Glance v2's image members: only a shared artifact's owner adds
and removes members, each member answers for itself and sees only itself, and others
are told nothing exists (404)."""

from __future__ import annotations

import pytest

from lading.domain import Artifact, MemberStatus
from lading.errors import BadRequest, Conflict, Forbidden, NotFound
from lading.services import Services
from lading.services.access import Caller
from lading.services.policy import Policy
from lading.services.roles import ADMIN, MEMBER
from lading.services.validation import Changes

pytestmark = pytest.mark.anyio
OWNER = Caller.with_role("A", MEMBER)
GUEST = Caller.with_role("B", MEMBER)
OTHER = Caller.with_role("C", MEMBER)


async def shared(services: Services) -> Artifact:
    return await services.catalogue.create(OWNER, Changes({"visibility": "shared"}))


async def test_only_a_shared_artifacts_owner_adds_members(services: Services) -> None:
    private = await services.catalogue.create(OWNER, Changes({"visibility": "private"}))
    with pytest.raises(Forbidden, match="only shared"):
        await services.members.add(OWNER, private.id, "B")
    artifact = await shared(services)
    added = await services.members.add(OWNER, artifact.id, "B")
    assert (added.member, added.status) == ("B", MemberStatus.PENDING)
    with pytest.raises(Conflict):
        await services.members.add(OWNER, artifact.id, "B")
    with pytest.raises(BadRequest):
        await services.members.add(OWNER, artifact.id, "   ")
    with pytest.raises(Forbidden):  # a member sees the artifact, and may not share it on
        await services.members.add(GUEST, artifact.id, "C")
    with pytest.raises(NotFound):  # for others it does not exist
        await services.members.add(OTHER, artifact.id, "C")


async def test_a_member_sees_only_itself_and_answers_only_for_itself(
    services: Services,
) -> None:
    artifact = await shared(services)
    for project in ("B", "C"):
        await services.members.add(OWNER, artifact.id, project)
    assert [m.member for m in await services.members.list(OWNER, artifact.id)] == ["B", "C"]
    assert [m.member for m in await services.members.list(GUEST, artifact.id)] == ["B"]
    with pytest.raises(NotFound):
        await services.members.get(GUEST, artifact.id, "C")
    with pytest.raises(Forbidden, match="policy does not allow modify_member"):
        await services.members.set_status(OWNER, artifact.id, "B", "accepted")
    # A policy file that opens modify_member to every member still cannot let the owner
    # answer for its member: that rule is the service's, not the policy's.
    loose = Caller.with_role("A", MEMBER, Policy({"modify_member": "role:member"}))
    with pytest.raises(Forbidden, match="only the member itself"):
        await services.members.set_status(loose, artifact.id, "B", "accepted")
    with pytest.raises(BadRequest, match="status must be one of"):
        await services.members.set_status(GUEST, artifact.id, "B", "maybe")
    answered = await services.members.set_status(GUEST, artifact.id, "B", "accepted")
    assert answered.status is MemberStatus.ACCEPTED
    admin = Caller.with_role("Z", ADMIN)
    rejected = await services.members.set_status(admin, artifact.id, "C", "rejected")
    assert (await services.members.get(OWNER, artifact.id, "C")) == rejected


async def test_only_the_owner_removes_a_member_once(services: Services) -> None:
    artifact = await shared(services)
    await services.members.add(OWNER, artifact.id, "B")
    with pytest.raises(Forbidden):
        await services.members.remove(GUEST, artifact.id, "B")
    await services.members.remove(OWNER, artifact.id, "B")
    with pytest.raises(NotFound):
        await services.members.remove(OWNER, artifact.id, "B")
    with pytest.raises(NotFound):  # no longer a member: the artifact is gone for it
        await services.members.list(GUEST, artifact.id)
