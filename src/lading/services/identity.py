"""API tokens: created and revoked by operators, checked on every request.

A token is a long random string shown once; only its SHA-256 digest is stored. Each
token carries a project and a role; a role implies the ones below it (an admin is also a
member and a reader). Until the first token (or VISoR access key) is created lading runs
open: every request is an admin of the default project. From then on every request needs
one, even if all are later revoked, so that revoking the last one never opens the server.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import tokens, visor_keys
from lading.db.engine import Database
from lading.db.tokens import TokenRecord
from lading.errors import BadRequest, NotFound, Unauthorized
from lading.services import validation
from lading.services.access import Caller
from lading.services.policy import Policy
from lading.services.roles import ADMIN, ROLES

if TYPE_CHECKING:
    from lading.services.keystone import KeystoneTokens

TOKEN_PREFIX = "lt_"  # makes a lading token recognisable in a leaked text
# While open, how long an answer to "does a token exist?" holds: a token created by another
# process (lading token create) closes a running server within this time, and open
# requests do not each pay a database read.
OPEN_RECHECK_SECONDS = 1.0
# How long a token found in the database is trusted without looking again: a revocation
# by another process takes effect within this time, and requests do not each pay a read.
TOKEN_RECHECK_SECONDS = 1.0
MAX_CACHED_TOKENS = 10_000


@dataclass(frozen=True, slots=True)
class NewToken:
    record: TokenRecord
    token: str  # the only time it exists in clear


def any_credential(connection: Connection) -> bool:
    """Whether a token or a VISoR access key was ever made: from then on, requests need one."""
    return tokens.any_token(connection) or visor_keys.any_key(connection)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Identities:
    def __init__(
        self,
        database: Database,
        default_project: str,
        policy: Policy,
        keystone: KeystoneTokens | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._database = database
        self._default_project = default_project
        self._policy = policy
        self.keystone = keystone  # tokens that are not lading's are Keystone's to judge
        self._secured = False  # a token has existed: never open again in this process
        self._recheck_at = 0.0  # time.monotonic() of the next look while open
        self._found: dict[str, tuple[TokenRecord, float]] = {}  # digest -> record, looked at

    @property
    def challenge(self) -> str | None:
        """What a 401 tells a client to authenticate with: Keystone's, when it judges
        tokens; otherwise none beyond the message."""
        return None if self.keystone is None else self.keystone.challenge

    async def is_open(self) -> bool:
        if self.keystone is not None:
            return False  # Keystone's tokens are in use: never an anonymous admin
        if not self._secured and time.monotonic() >= self._recheck_at:
            self._secured = await self._database.read(any_credential)
            self._recheck_at = time.monotonic() + OPEN_RECHECK_SECONDS
        return not self._secured

    def secure(self) -> None:
        """A credential now exists (a token, a VISoR key): never open again here."""
        self._secured = True

    async def authenticate(
        self, token: str | None, service_token: str | None = None
    ) -> Caller | None:
        """The caller a token stands for; None when no token is given (anonymous).
        ``service_token``: an X-Service-Token, for Keystone's tokens only."""
        if await self.is_open():
            return Caller.with_role(self._default_project, ADMIN, self._policy)
        if token is None:
            return None
        if self.keystone is not None and not token.startswith(TOKEN_PREFIX):
            return await self.keystone.caller(token, service_token)
        record = await self._record(digest(token))
        if record is None:
            raise Unauthorized("the token is unknown")
        if record.revoked_at is not None:
            raise Unauthorized("the token was revoked")
        if record.expires_at is not None and record.expires_at <= self._clock.now():
            raise Unauthorized("the token has expired")
        return Caller.with_role(record.project, record.role, self._policy)

    def anonymous(self, project: str, role: str) -> Caller:
        """Who a request without a token is, where a face lets such requests in."""
        return Caller.with_role(project, role, self._policy)

    async def _record(self, key: str) -> TokenRecord | None:
        """The token's record, from the database at most once a TOKEN_RECHECK_SECONDS."""
        cached = self._found.get(key)
        if cached is not None and time.monotonic() - cached[1] < TOKEN_RECHECK_SECONDS:
            return cached[0]
        record = await self._database.read(tokens.find_by_digest, key)
        if len(self._found) >= MAX_CACHED_TOKENS:
            self._found.clear()
        if record is not None:
            self._found[key] = (record, time.monotonic())
        return record

    async def create(
        self, project: str, role: str, expires_at: datetime | None = None, description: str = ""
    ) -> NewToken:
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        validation.check_project("project", project)
        created = self._clock.now()
        if expires_at is not None and expires_at <= created:
            raise BadRequest("the expiry is in the past")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        record = TokenRecord(
            secrets.token_hex(8), project, role, description[:255], created, expires_at, None
        )
        await self._database.write(tokens.insert_token, record, digest(token))
        self._secured = True
        return NewToken(record, token)

    async def revoke(self, token_or_id: str) -> TokenRecord:
        key = digest(token_or_id) if token_or_id.startswith(TOKEN_PREFIX) else token_or_id
        record = await self._database.write(tokens.revoke, key, self._clock.now())
        if record is None:
            raise NotFound("no such token")
        self._found.clear()  # here at once; other processes within TOKEN_RECHECK_SECONDS
        return record

    async def list(self) -> list[TokenRecord]:
        return await self._database.read(tokens.list_tokens)
