"""The signature a webhook's receiver checks, as docs/examples/webhook_receiver.py checks
it, and the waits between tries."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from lading.services.webhooks import backoff, signature
from tests.webhook_receiver import example

SECRET = "k" * 32
BODY = b'{"id":"e1","type":"artifact.created","time":"2026-01-01T00:00:00.000Z","data":{}}'


def signed(timestamp: str, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {"X-Lading-Timestamp": timestamp,
            "X-Lading-Signature": signature(secret, timestamp, body)}  # fmt: skip


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    digest = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, "1700000000", BODY) == f"sha256={digest}"


def test_the_documented_receiver_accepts_what_lading_signs_and_nothing_else() -> None:
    now = str(int(time.time()))
    assert example.verify(SECRET, signed(now), BODY)
    assert not example.verify(SECRET, signed(now), BODY.replace(b"created", b"deleted"))
    assert not example.verify("x" * 32, signed(now), BODY)
    assert not example.verify(SECRET, signed(now, secret="x" * 32), BODY)
    # The timestamp is signed: a replay cannot be made to look new.
    old = str(int(time.time()) - 301)
    assert not example.verify(SECRET, signed(old), BODY)
    assert not example.verify(SECRET, {**signed(old), "X-Lading-Timestamp": now}, BODY)
    assert not example.verify(SECRET, {}, BODY)


@pytest.mark.parametrize(
    ("tries", "shortest", "longest"),
    [(1, 5, 10), (2, 10, 20), (3, 20, 40), (6, 50, 100), (60, 50, 100)],
)
def test_waits_double_up_to_the_cap_less_up_to_half_at_random(
    tries: int, shortest: float, longest: float
) -> None:
    assert backoff(tries, 10, 100, 0.0) == shortest
    assert backoff(tries, 10, 100, 1.0) == longest
    assert shortest < backoff(tries, 10, 100, 0.5) < longest
