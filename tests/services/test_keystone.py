"""A Keystone token in use is asked about again in the background before its cache time
ends, against the real Keystone of scripts/services.sh: its requests never wait for
Keystone, a refresh that finds Keystone down is made once, and one that finds the token
revoked refuses it at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from anyio.from_thread import start_blocking_portal

from lading.errors import IdentityUnavailable, Unauthorized
from lading.services.keystone import KeystoneTokens
from lading.services.policy import Policy
from lading.settings import KeystoneSettings

SLOW = 0.3  # seconds a Keystone answer is held back: longer than any cached answer takes


def member_token(keystone_url: str) -> tuple[str, str]:
    """A new token of alpha-member (scripts/services.sh's user) and its project's id."""
    user = {"name": "alpha-member", "domain": {"name": "Default"}, "password": "lading-test"}
    auth = {
        "identity": {"methods": ["password"], "password": {"user": user}},
        "scope": {"project": {"name": "alpha", "domain": {"name": "Default"}}},
    }
    response = httpx.post(f"{keystone_url}/auth/tokens", json={"auth": auth}, timeout=30)
    response.raise_for_status()
    return response.headers["x-subject-token"], response.json()["token"]["project"]["id"]


def keystone_tokens(keystone_url: str, cache_seconds: float) -> KeystoneTokens:
    settings = KeystoneSettings(
        auth_url=keystone_url,
        username="lading",
        password="lading",
        cache_seconds=cache_seconds,
    )
    return KeystoneTokens(settings, Policy(), "default")


def held_back(keystone: KeystoneTokens, delay: float) -> list[float]:
    """Make every question to Keystone ``delay`` slower; the times they were asked."""
    asked: list[float] = []
    validate: Callable[[str, bool], Any] = keystone._validate

    def slower(token: str, service: bool) -> Any:
        asked.append(time.monotonic())
        time.sleep(delay)
        return validate(token, service)

    keystone._validate = slower  # type: ignore[method-assign]
    return asked


def test_a_token_in_steady_use_never_waits_for_keystone(keystone_url: str) -> None:
    keystone = keystone_tokens(keystone_url, cache_seconds=3)
    asked = held_back(keystone, SLOW)
    token, project = member_token(keystone_url)
    waits: list[float] = []
    projects: set[str] = set()

    async def steady() -> None:
        await keystone.caller(token)  # a new token: this one waits
        deadline = time.monotonic() + 4  # past the first cache time
        while time.monotonic() < deadline:
            started = time.monotonic()
            projects.add((await keystone.caller(token)).project)
            waits.append(time.monotonic() - started)
            await anyio.sleep(0.02)

    anyio.run(steady)
    assert len(asked) >= 2  # asked again, while the cached answer held
    assert max(waits) < SLOW, f"a request waited {max(waits):.3f} s for Keystone"
    assert projects == {project}


def test_a_refresh_that_finds_keystone_down_is_made_once(keystone_url: str) -> None:
    keystone = keystone_tokens(keystone_url, cache_seconds=3)
    asked = held_back(keystone, 0)
    token, project = member_token(keystone_url)

    async def keystone_goes_away() -> None:
        await keystone.caller(token)
        # The cache time ends 3 s after Keystone was asked (lading's own sign-in included).
        known = asked[0]
        # Every question to Keystone now meets a closed port (discard).
        keystone._identity.endpoint_override = "http://127.0.0.1:9/v3"
        while time.monotonic() < known + 2.5:  # past half the cache time, before its end
            assert (await keystone.caller(token)).project == project
            await anyio.sleep(0.05)
        assert len(asked) == 2  # the first question and one refresh, not one a request
        await anyio.sleep(known + 3.2 - time.monotonic())
        with pytest.raises(IdentityUnavailable):
            await keystone.caller(token)

    anyio.run(keystone_goes_away)


def test_a_refresh_that_finds_the_token_revoked_refuses_it_at_once(keystone_url: str) -> None:
    keystone = keystone_tokens(keystone_url, cache_seconds=4)
    asked = held_back(keystone, 0)
    token, _ = member_token(keystone_url)

    async def revoked() -> None:
        await keystone.caller(token)
        known = asked[0]  # without a refresh, the token is accepted until known + 4
        async with httpx.AsyncClient(timeout=30) as client:
            gone = await client.delete(
                f"{keystone_url}/auth/tokens",
                headers={"x-auth-token": token, "x-subject-token": token},
            )
        assert gone.status_code == 204
        while time.monotonic() < known + 3.5:
            try:
                await keystone.caller(token)
            except Unauthorized:
                return
            await anyio.sleep(0.05)
        raise AssertionError("the revoked token was still accepted 3.5 s after it was known")

    anyio.run(revoked)


def test_a_refresh_under_way_on_another_event_loop_is_not_waited_for(keystone_url: str) -> None:
    # A refresh runs on the event loop of the request that started it; a request on
    # another loop (a test's anyio.run beside a TestClient, the CLI) that finds the cache
    # time over asks Keystone itself: waiting on the other loop's event could sleep on.
    keystone = keystone_tokens(keystone_url, cache_seconds=2)
    asked = held_back(keystone, 0)
    token, project = member_token(keystone_url)
    with start_blocking_portal() as portal:
        portal.call(keystone.caller, token)
        known = asked[0]  # the cache time ends at known + 2, the refresh from known + 1
        held_back(keystone, 3)  # from now on Keystone answers 3 s late
        time.sleep(max(0.0, known + 1.2 - time.monotonic()))
        portal.call(keystone.caller, token)  # starts the refresh, on the portal's loop
        time.sleep(max(0.0, known + 2.1 - time.monotonic()))  # past the cache time

        async def elsewhere() -> str:
            with anyio.fail_after(10):
                return (await keystone.caller(token)).project

        started = time.monotonic()
        assert anyio.run(elsewhere) == project
        assert time.monotonic() - started < 8  # its own question (3 s), not a 10 s sleep
