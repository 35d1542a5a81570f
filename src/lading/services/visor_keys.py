"""VISoR's access keys and the signatures its clients put on every request.

A VISoR client holds an access key and a secret key and sends
``Authorization: VISOR <access_key>:<signature>``, the signature being base64 of
HMAC-SHA1 with the secret over the canonical request (``canonical``): the method and a
newline; then, sorted by lower-cased name, ``content-md5``, ``content-type`` (both as
empty when absent), ``date`` (when present) and every ``x-image-meta-*`` header, each
with a newline (``name:value`` for ``x-image-meta-*``, the bare value for the others);
then the path without its query.

Keys are made by an operator (``lading visor-key create``) for a project and a role,
as tokens are. Verifying an HMAC needs the secret itself, so it is sealed
(``Sealer``), never hashed and never stored in clear. Every refusal is 403, as VISoR
answered (its clients read a 401 as data). A request whose ``Date`` is more than
``MAX_SKEW`` away from this server's clock is refused, as S3 refuses it: a captured
request cannot be replayed later than that.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from lading.clock import Clock
from lading.db import visor_keys
from lading.db.engine import Database
from lading.db.visor_keys import VisorKeyRecord
from lading.errors import BadRequest, Forbidden, NotFound
from lading.services import validation
from lading.services.access import Caller
from lading.services.identity import Identities
from lading.services.policy import Policy
from lading.services.roles import ROLES
from lading.services.sealing import Sealer, Unsealable

log = logging.getLogger(__name__)

SCHEME = "VISOR"
META_PREFIX = "x-image-meta-"
ALWAYS = ("content-md5", "content-type")  # signed as empty when absent
MAX_SKEW = timedelta(minutes=15)  # S3's RequestTimeTooSkewed bound
# A key found in the database is trusted this long without looking again: a revocation
# by another process takes effect within it.
KEY_RECHECK_SECONDS = 1.0
MAX_CACHED_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class NewVisorKey:
    record: VisorKeyRecord
    secret: str  # the only time it is shown


@dataclass(frozen=True, slots=True)
class _Known:
    record: VisorKeyRecord
    secret: bytes
    looked_at: float


def canonical(method: str, path: str, headers: Mapping[str, str]) -> str:
    """The text a VISoR client signs. ``headers`` maps lower-cased names to values."""
    signed = {name: headers.get(name, "") for name in ALWAYS}
    for name, value in headers.items():
        if name == "date" or name.startswith(META_PREFIX):
            signed[name] = value
    lines = [method.upper()]
    for name in sorted(signed):
        value = signed[name]
        lines.append(f"{name}:{value}" if name.startswith(META_PREFIX) else value)
    return "\n".join(lines) + "\n" + path.partition("?")[0]


def sign(secret: str | bytes, text: str) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, text.encode(), hashlib.sha1).digest()).decode()


class VisorKeys:
    def __init__(
        self,
        database: Database,
        sealer: Sealer,
        policy: Policy,
        identities: Identities,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._database = database
        self._sealer = sealer
        self._policy = policy
        self._identities = identities
        self._known: dict[str, _Known] = {}

    async def create(self, project: str, role: str, description: str = "") -> NewVisorKey:
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        validation.check_project("project", project)
        # 20 upper-case characters and 40 of base64, the shapes VISoR's (and S3's) keys had.
        access_key = base64.b32encode(secrets.token_bytes(15)).decode()[:20]
        secret = base64.b64encode(secrets.token_bytes(30)).decode()
        record = VisorKeyRecord(
            access_key, project, role, description[:255], self._clock.now(), None
        )
        sealed = self._sealer.seal({"secret": secret})
        await self._database.write(visor_keys.insert_key, record, sealed)
        self._identities.secure()
        return NewVisorKey(record, secret)

    async def revoke(self, access_key: str) -> VisorKeyRecord:
        record = await self._database.write(visor_keys.revoke, access_key, self._clock.now())
        if record is None:
            raise NotFound("no such VISoR access key")
        self._known.clear()  # here at once; other processes within KEY_RECHECK_SECONDS
        return record

    async def list(self) -> list[VisorKeyRecord]:
        return await self._database.read(visor_keys.list_keys)

    async def authenticate(
        self, credentials: str, method: str, path: str, headers: Mapping[str, str]
    ) -> Caller:
        """The caller a signed request stands for; Forbidden for any flaw in it.
        ``credentials``: what follows ``VISOR `` in the Authorization header."""
        access_key, colon, presented = credentials.strip().partition(":")
        if not colon or not access_key or not presented:
            raise Forbidden("the Authorization header must be VISOR <access_key>:<signature>")
        try:
            signature = base64.b64decode(presented, validate=True)
        except (binascii.Error, ValueError):
            raise Forbidden("the signature is not base64") from None
        _check_date(headers.get("date"), self._clock.aware())
        known = await self._key(access_key)
        if known is None:
            raise Forbidden("the access key is unknown")
        if known.record.revoked_at is not None:
            raise Forbidden("the access key was revoked")
        text = canonical(method, path, headers)
        expected = hmac.new(known.secret, text.encode(), hashlib.sha1).digest()
        if not hmac.compare_digest(expected, signature):
            raise Forbidden("the signature does not match the request")
        return Caller.with_role(known.record.project, known.record.role, self._policy)

    async def _key(self, access_key: str) -> _Known | None:
        cached = self._known.get(access_key)
        if cached is not None and time.monotonic() - cached.looked_at < KEY_RECHECK_SECONDS:
            return cached
        found = await self._database.read(visor_keys.find_key, access_key)
        if found is None:
            return None
        try:
            secret = str(self._sealer.open(found.sealed_secret)["secret"]).encode()
        except Unsealable as exc:  # the operator's to fix; the client is refused, not a 500
            log.error("VISoR access key %s: %s", access_key, exc.message)
            raise Forbidden("this server cannot check the access key: see its log") from None
        known = _Known(found.record, secret, time.monotonic())
        if len(self._known) >= MAX_CACHED_KEYS:
            self._known.clear()
        self._known[access_key] = known
        return known


def _check_date(value: str | None, now: datetime) -> None:
    if not value:
        raise Forbidden("a signed request needs a Date header")
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        raise Forbidden(f"the Date header is not an HTTP date: {value[:64]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if abs(now - moment) > MAX_SKEW:
        raise Forbidden("the Date header is more than 15 minutes from the server's time")
