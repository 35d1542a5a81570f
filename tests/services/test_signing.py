"""Signed requests: the canonical text a signature covers (fields sorted and
percent-encoded, JSON values compact with sorted keys), and a request accepted once,
fresh, from a known client, signed with its secret; refused otherwise, the same way for
an unknown client as for a wrong signature."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from lading.db.engine import Database
from lading.errors import BadRequest, Unauthorized
from lading.services.policy import Policy
from lading.services.roles import IMPLIED_ROLES
from lading.services.signing import (
    NOT_VALID,
    Signatures,
    SignedRequest,
    canonical,
    field_value,
    signature,
)
from lading.settings import SigningClient, SigningSettings
from tests.clock import MovableClock

pytestmark = pytest.mark.anyio
SECRET = "s" * 32
CLIENT = SigningClient(secret=SECRET, project="store", role="reader")


def signed(**values: object) -> SignedRequest:
    unsigned = SignedRequest("shop", str(int(time.time())), "nonce-0001", "", "post",
                             "/click/upload", [("name", "a b"), ("channel", "stable")])  # fmt: skip
    unsigned = replace(unsigned, **values)  # type: ignore[arg-type]
    return replace(unsigned, signature=signature(SECRET, unsigned))


@pytest.fixture
def signatures(database: Database, clock: MovableClock) -> Signatures:
    settings = SigningSettings(window=60, clients={"shop": CLIENT})
    return Signatures(database, settings, Policy(), clock)


def test_the_canonical_text_sorts_and_encodes_the_fields() -> None:
    request = SignedRequest("shop", "17", "n", "", "post", "/p%20q", [("b", "x&y=z"), ("a", "é")])
    assert canonical(request) == b"POST\n/p%20q\n17\nn\nshop\na=%C3%A9&b=x%26y%3Dz"
    assert field_value({"b": 1, "a": [True, None]}) == '{"a":[true,null],"b":1}'
    assert field_value("text") == "text"
    assert field_value("ü") == "ü"


async def test_a_signed_request_acts_as_its_clients_project_once(signatures: Signatures) -> None:
    request = signed()
    caller = await signatures.verify(request)
    assert (caller.project, caller.roles, caller.signed_by) == (
        "store", IMPLIED_ROLES["reader"], "shop",
    )  # fmt: skip
    with pytest.raises(Unauthorized, match="used before"):
        await signatures.verify(request)
    upper = signed(nonce="nonce-0002")
    assert await signatures.verify(replace(upper, signature=upper.signature.upper()))


async def test_a_changed_request_or_an_unknown_client_is_not_valid(
    signatures: Signatures,
) -> None:
    request = signed()
    for forged in (
        replace(request, client="other"),
        replace(request, path="/click/upload2"),
        replace(request, fields=[("name", "a b"), ("channel", "edge")]),
        replace(request, signature="0" * 64),
        replace(request, signature="zz"),
    ):
        with pytest.raises(Unauthorized) as refused:
            await signatures.verify(forged)
        assert refused.value.args[0] == NOT_VALID


async def test_stale_or_malformed_timestamps_and_nonces_are_refused(
    signatures: Signatures, clock: MovableClock
) -> None:
    now = int(time.time())
    for timestamp, complaint in (
        (str(now - 120), "away from now"),
        (str(now + 120), "away from now"),
        ("\u0661\u0662", "Unix seconds"),  # Arabic-Indic digits: digits, not ASCII
        ("1" * 13, "Unix seconds"),
        ("-5", "Unix seconds"),
    ):
        with pytest.raises(Unauthorized, match=complaint):
            await signatures.verify(signed(timestamp=timestamp))
    for nonce in ("short", "n" * 129, "bad nonce!"):
        with pytest.raises(Unauthorized, match="nonce must be"):
            await signatures.verify(signed(nonce=nonce))
    clock.move(seconds=120)  # the clock, not the system's time, says what now is
    with pytest.raises(Unauthorized, match="away from now"):
        await signatures.verify(signed())


async def test_a_field_utf8_cannot_encode_is_a_bad_request(signatures: Signatures) -> None:
    request = signed()
    with pytest.raises(BadRequest, match="UTF-8"):
        await signatures.verify(replace(request, fields=[("name", "\ud800")]))
