"""VISoR's access keys and signatures: the canonical text a client signs, a signed and
dated request acting for its key's project and role, and every flaw refused as 403
(Forbidden): unknown, revoked or unsealable keys, wrong signatures, stale dates."""

from __future__ import annotations

from email.utils import format_datetime
from pathlib import Path

import pytest

from lading.db.engine import Database
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services.identity import Identities
from lading.services.policy import Policy
from lading.services.roles import IMPLIED_ROLES
from lading.services.sealing import Sealer
from lading.services.visor_keys import VisorKeys, canonical, sign
from lading.settings import Settings
from tests.clock import MovableClock

pytestmark = pytest.mark.anyio
PATH = "/images/detail?sort_key=name"


def keys_with(database: Database, clock: MovableClock, secret_key: str, tmp: Path) -> VisorKeys:
    sealer = Sealer(Settings(data_dir=tmp, secret_key=secret_key))
    identities = Identities(database, "default", Policy(), clock=clock)
    return VisorKeys(database, sealer, Policy(), identities, clock)


@pytest.fixture
def keys(database: Database, clock: MovableClock, tmp_path: Path) -> VisorKeys:
    return keys_with(database, clock, "k" * 32, tmp_path)


def headers(clock: MovableClock, **more: str) -> dict[str, str]:
    return {"date": format_datetime(clock.aware(), usegmt=True), **more}


def test_the_canonical_text_signs_method_chosen_headers_and_path() -> None:
    text = canonical("get", PATH, {
        "date": "D", "x-image-meta-name": "n", "content-type": "T", "accept": "ignored",
    })  # fmt: skip
    assert text == "GET\n\nT\nD\nx-image-meta-name:n\n/images/detail"


async def test_a_signed_request_acts_for_its_keys_project_and_role(
    keys: VisorKeys, clock: MovableClock
) -> None:
    made = await keys.create("p", "reader", "ci")
    assert len(made.record.access_key) == 20
    sent = headers(clock, **{"x-image-meta-name": "n"})
    signed = sign(made.secret, canonical("GET", PATH, sent))
    caller = await keys.authenticate(f"{made.record.access_key}:{signed}", "GET", PATH, sent)
    assert (caller.project, caller.roles) == ("p", IMPLIED_ROLES["reader"])
    changed = {**sent, "x-image-meta-name": "other"}
    with pytest.raises(Forbidden, match="does not match"):
        await keys.authenticate(f"{made.record.access_key}:{signed}", "GET", PATH, changed)


async def test_every_flaw_is_forbidden(keys: VisorKeys, clock: MovableClock) -> None:
    made = await keys.create("p", "member")
    key = made.record.access_key
    sent = headers(clock)
    good = sign(made.secret, canonical("GET", PATH, sent))
    stale = headers(clock)
    clock.move(minutes=16)
    fresh = headers(clock)
    for credentials, given, complaint in (
        ("no-colon", fresh, "must be VISOR"),
        (f"{key}:not base64!", fresh, "not base64"),
        (f"{key}:{good}", {}, "needs a Date"),
        (f"{key}:{good}", {"date": "yesterday"}, "not an HTTP date"),
        (f"{key}:{good}", stale, "more than 15 minutes"),
        (f"UNKNOWN:{good}", fresh, "unknown"),
    ):
        with pytest.raises(Forbidden, match=complaint):
            await keys.authenticate(credentials, "GET", PATH, given)
    await keys.revoke(key)
    resigned = sign(made.secret, canonical("GET", PATH, fresh))
    with pytest.raises(Forbidden, match="revoked"):
        await keys.authenticate(f"{key}:{resigned}", "GET", PATH, fresh)
    with pytest.raises(NotFound):
        await keys.revoke("UNKNOWN")


async def test_a_key_sealed_with_another_secret_is_refused_not_an_error(
    database: Database, clock: MovableClock, tmp_path: Path
) -> None:
    made = await keys_with(database, clock, "a" * 32, tmp_path).create("p", "member")
    other = keys_with(database, clock, "b" * 32, tmp_path)
    sent = headers(clock)
    signed = sign(made.secret, canonical("GET", PATH, sent))
    with pytest.raises(Forbidden, match="cannot check the access key"):
        await other.authenticate(f"{made.record.access_key}:{signed}", "GET", PATH, sent)


async def test_a_key_needs_a_role_and_a_project_and_closes_an_open_server(
    keys: VisorKeys, database: Database, clock: MovableClock
) -> None:
    for project, role in (("p", "owner"), ("", "member")):
        with pytest.raises(BadRequest):
            await keys.create(project, role)
    assert await keys.list() == []
    identities = Identities(database, "default", Policy(), clock=clock)
    assert await identities.is_open()
    await keys.create("p", "member")
    assert not await Identities(database, "default", Policy(), clock=clock).is_open()
