"""Keystone tokens, validated as keystonemiddleware's auth_token validates them.

lading signs in as its service user (keystoneauth1, which also finds Keystone's endpoint
in the catalogue and signs in again when its own token runs out) and asks Keystone about
each token it does not know: ``GET /v3/auth/tokens`` with ``X-Subject-Token``. What
Keystone says is kept ``cache_seconds`` (never past the token's expiry) in a bounded
cache, so a revoked token stops working within that time, and tokens already known keep
working while Keystone is down; a token not yet known then gets 503, never 401. A token
in use is asked about again in the background before its cache time ends, so that its
requests never wait for Keystone once it is known.

The mapping, as Glance's secure defaults read a token: the project of a project-scoped
token owns what it creates, its highest of Keystone's ``admin``, ``member`` and
``reader`` roles is the lading role (other roles are ignored), and a system-scoped token
with ``admin`` is a cloud admin. A domain-scoped or unscoped token, or one with none of
those roles, is valid but may do nothing here: 403, as Glance's policies refuse it. An
``X-Service-Token`` (Nova, Cinder) must be valid and carry one of
``service_token_roles``; its roles are kept on the caller as the service's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

import anyio
import requests
from keystoneauth1 import access, adapter, session
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1.identity import v3

from lading.clock import Clock
from lading.errors import Forbidden, IdentityUnavailable, NotFound, Unauthorized
from lading.services.access import Caller
from lading.services.policy import Policy
from lading.services.roles import ADMIN, ROLES
from lading.settings import KeystoneSettings

log = logging.getLogger(__name__)

MAX_CACHED_TOKENS = 10_000  # about 2 KB each: a bound on memory whatever the traffic
TIMEOUT_SECONDS = 10.0  # to connect to Keystone and between its bytes
# Threads asking Keystone at once (keystoneauth1 is synchronous): more would only queue
# at a Keystone that is slow, and the event loop's own threads stay free.
VALIDATING_THREADS = 4
# Fernet tokens are about 200 characters of URL-safe base64, JWS tokens some 800: a token
# of other characters or far longer is not Keystone's (and is not sent on in a header).
TOKEN_FORM = re.compile(r"[\x21-\x7e]{1,8192}")
# A valid token in use is asked about again in the background once half its cache time
# has passed, or this long before it ends if that is sooner, its cached answer holding
# meanwhile. Without it, every request with a busy token waited one round trip each time
# its cache time ended (with cache_seconds = 2 the token served 0.63 of a lading token's
# requests per second; bench/keystone.py). A revoked token still stops working within
# cache_seconds: an answer is never kept longer than that after Keystone was asked.
REFRESH_AHEAD_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class _Verdict:
    """What Keystone said of a token: its caller, or the error to give it again."""

    caller: Caller | None
    error: Unauthorized | Forbidden | None
    until: float  # time.monotonic() after which Keystone is asked again
    # time.monotonic() from which a request with the token has Keystone asked again in
    # the background, this verdict holding meanwhile; inf: never ahead (a refused token,
    # or one that expires before ``until``)
    refresh_at: float = math.inf


class _Asking:
    """A question to Keystone under way, which requests with the same token wait for."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.verdict: _Verdict | None = None
        self.failure: IdentityUnavailable | None = None


class KeystoneTokens:
    def __init__(
        self,
        settings: KeystoneSettings,
        policy: Policy,
        system_project: str,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        assert settings.auth_url is not None
        self._settings = settings
        self._policy = policy
        self._system_project = system_project  # the project a system-scoped admin acts in
        self.challenge = f'Keystone uri="{settings.www_authenticate_uri or settings.auth_url}"'
        auth = v3.Password(
            auth_url=settings.auth_url,
            username=settings.username,
            password=settings.password.get_secret_value(),
            project_name=settings.project_name,
            user_domain_name=settings.user_domain_name,
            project_domain_name=settings.project_domain_name,
        )
        self._identity = adapter.Adapter(
            session.Session(auth=auth, timeout=TIMEOUT_SECONDS),
            service_type="identity",
            interface=settings.interface,
            region_name=settings.region_name,
            version="3",
        )
        self._cache: OrderedDict[str, _Verdict] = OrderedDict()
        self._asking: dict[str, _Asking] = {}  # the tokens Keystone is being asked about
        self._limiter = anyio.CapacityLimiter(VALIDATING_THREADS)
        self._refreshing: set[asyncio.Task[None]] = set()  # held: the loop keeps weak refs

    async def caller(self, token: str, service_token: str | None = None) -> Caller:
        """The caller a Keystone token stands for; Unauthorized, Forbidden or
        IdentityUnavailable (Keystone cannot be asked and the token is not known)."""
        caller = replace(await self._verdict(token, service=False), keystone_token=token)
        if service_token is None:
            return caller
        service = await self._verdict(service_token, service=True)
        return replace(caller, service_roles=service.service_roles)

    async def endpoint(self, token: str, service_type: str, region: str, interface: str) -> str:
        """The URL of ``service_type`` in ``region`` on ``interface`` in the catalogue of
        ``token``, as Glance finds the other region's image service for glance-download
        (the catalogue keystonemiddleware gives it is the token's). Keystone is asked
        again: the token may have expired since its request. NotFound: no such endpoint."""
        return await anyio.to_thread.run_sync(
            self._endpoint, token, service_type, region, interface, limiter=self._limiter
        )

    def _endpoint(self, token: str, service_type: str, region: str, interface: str) -> str:
        try:
            response = self._identity.get(
                "/auth/tokens", headers={"X-Subject-Token": token}, raise_exc=False,
                authenticated=True,
            )  # fmt: skip
        except (ks_exceptions.ClientException, requests.RequestException) as exc:
            raise IdentityUnavailable("the identity service (Keystone) cannot be reached") from exc
        if response.status_code == 404:
            raise Unauthorized("the token is no longer valid (expired or revoked)")
        if response.status_code != 200:
            raise IdentityUnavailable(
                f"the identity service (Keystone) answered {response.status_code}"
            )
        try:
            info = access.create(body=response.json(), auth_token=token)
            url = info.service_catalog.url_for(
                service_type=service_type, interface=interface, region_name=region
            )
        except ks_exceptions.EndpointNotFound:
            raise NotFound(
                f"the catalogue has no {service_type} endpoint in region {region!r} on the "
                f"{interface!r} interface"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise IdentityUnavailable("the identity service (Keystone) answered nonsense") from exc
        return str(url)

    async def _verdict(self, token: str, service: bool) -> Caller:
        if not TOKEN_FORM.fullmatch(token):  # never sent on: Keystone's are printable ASCII
            raise Unauthorized("the token is malformed", self.challenge)
        key = ("s:" if service else "u:") + hashlib.sha256(token.encode()).hexdigest()
        verdict = self._cache.get(key)
        moment = time.monotonic()
        if verdict is None or moment >= verdict.until:
            verdict = await self._ask(key, token, service)
        else:
            self._cache.move_to_end(key)
            if moment >= verdict.refresh_at and key not in self._asking:
                self._refresh(key, token, service, verdict)
        if isinstance(verdict.error, Unauthorized):  # a new one each time: no shared traceback
            raise Unauthorized(verdict.error.message, self.challenge)
        if verdict.error is not None:
            raise Forbidden(verdict.error.message)
        assert verdict.caller is not None
        return verdict.caller

    async def _ask(self, key: str, token: str, service: bool) -> _Verdict:
        """Keystone's verdict on a token: one question at a time for each token, so that
        a burst of requests with a new token costs one round trip, not one each."""
        while True:
            asking = self._asking.get(key)
            if asking is None:
                break
            await asking.done.wait()
            if asking.verdict is not None:
                return asking.verdict
            if asking.failure is not None:
                raise IdentityUnavailable(asking.failure.message)
            # the one asking was cancelled: ask again
        asking = self._asking[key] = _Asking()
        try:
            asking.verdict = await anyio.to_thread.run_sync(
                self._validate, token, service, limiter=self._limiter
            )
            self._keep(key, asking.verdict)
            return asking.verdict
        except IdentityUnavailable as exc:
            asking.failure = exc
            raise
        finally:
            del self._asking[key]
            asking.done.set()

    def _refresh(self, key: str, token: str, service: bool, verdict: _Verdict) -> None:
        """Ask Keystone about a known token in the background; the verdict holds until then."""
        # Once per verdict, whatever comes of it: a Keystone that is down is not asked
        # again by every request until the verdict's time is up.
        self._cache[key] = replace(verdict, refresh_at=math.inf)
        task = asyncio.get_running_loop().create_task(self._refreshed(key, token, service))
        self._refreshing.add(task)
        task.add_done_callback(self._refreshing.discard)

    async def _refreshed(self, key: str, token: str, service: bool) -> None:
        # Not one of the questions in _asking that requests wait for: this task's event
        # loop may not be theirs (a CLI or a test runs more than one), and an event set
        # from another loop's thread may never wake them. A request that finds the cache
        # time over before this ends asks Keystone itself, rarely: half the cache time
        # (or 10 s) is left for it.
        try:
            verdict = await anyio.to_thread.run_sync(
                self._validate, token, service, limiter=self._limiter
            )
        except IdentityUnavailable:
            return  # logged; the cached verdict holds until its time, then requests get 503
        kept = self._cache.get(key)
        if kept is None or kept.until <= verdict.until:  # not over a later question's answer
            self._keep(key, verdict)

    def _keep(self, key: str, verdict: _Verdict) -> None:
        self._cache[key] = verdict
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED_TOKENS:
            self._cache.popitem(last=False)  # the least recently used

    def _validate(self, token: str, service: bool) -> _Verdict:
        """Ask Keystone (in a worker thread: keystoneauth1 blocks)."""
        kept = time.monotonic() + self._settings.cache_seconds
        try:
            response = self._identity.get(
                "/auth/tokens",
                headers={"X-Subject-Token": token},
                raise_exc=False,
                authenticated=True,
            )
        except (ks_exceptions.ClientException, requests.RequestException) as exc:
            # Cannot connect, times out, or lading's own sign-in is refused.
            log.warning("Keystone cannot validate tokens: %s", exc)
            raise IdentityUnavailable("the identity service (Keystone) cannot be reached") from exc
        if response.status_code == 404:
            refused = Unauthorized("the token is unknown, revoked or expired", self.challenge)
            return _Verdict(None, refused, kept)
        if response.status_code != 200:
            # lading's own token or role is refused (keystoneauth1 already signed in again
            # once): the operator's configuration, not the caller's token.
            log.warning("Keystone answered %s to a token validation", response.status_code)
            raise IdentityUnavailable(
                f"the identity service (Keystone) answered {response.status_code}"
            )
        try:
            info = access.create(body=response.json(), auth_token=token)
        except (ValueError, KeyError, TypeError) as exc:
            raise IdentityUnavailable("the identity service (Keystone) answered nonsense") from exc
        expiry = info.expires.timestamp() if info.expires is not None else math.inf
        expires = expiry - self._clock.seconds()
        expires_at = time.monotonic() + expires
        until = min(kept, expires_at)
        if expires <= 0:
            refused = Unauthorized("the token has expired", self.challenge)
            return _Verdict(None, refused, kept)
        try:
            caller = self._service(info) if service else self._mapped(info)
        except (Unauthorized, Forbidden) as exc:
            return _Verdict(None, exc, until)
        # A token that expires before its cache time ends is not worth asking about again.
        ahead = min(self._settings.cache_seconds / 2, REFRESH_AHEAD_SECONDS)
        refresh_at = kept - ahead if expires_at > kept else math.inf
        return _Verdict(caller, None, until, refresh_at)

    def _mapped(self, info: Any) -> Caller:
        roles = set(info.role_names or [])
        best = next((role for role in ROLES if role in roles), None)  # highest first
        if info.system_scoped:
            if ADMIN not in roles:
                raise Forbidden("a system-scoped token needs the admin role here")
            admin = Caller.with_role(self._system_project, ADMIN, self._policy)
            return replace(admin, user=info.user_id)
        if not info.project_scoped:
            raise Forbidden("the token is not scoped to a project (domain-scoped or unscoped)")
        if best is None:
            raise Forbidden("the token has none of the roles reader, member or admin")
        caller = Caller.with_role(info.project_id, best, self._policy)
        return replace(caller, user=info.user_id)

    def _service(self, info: Any) -> Caller:
        roles = frozenset(info.role_names or []) & frozenset(self._settings.service_token_roles)
        if not roles:
            raise Unauthorized("the service token has no service role", self.challenge)
        return Caller(info.project_id or "", frozenset(), self._policy, service_roles=roles)
