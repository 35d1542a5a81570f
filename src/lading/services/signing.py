"""Signed requests: services that share a secret with lading sign what they send.

The signature is HMAC-SHA256, in hex, over these lines joined by ``\\n``:

    METHOD            upper case, e.g. POST
    PATH              the request path, percent-encoded as sent, without the query
    TIMESTAMP         Unix seconds, as in the X-Lading-Timestamp header
    NONCE             8 to 128 of [A-Za-z0-9_.-], new for every request
    CLIENT            the client's name in settings
    FIELDS            every form field (the file's value is its file name) or JSON
                      member: name=value pairs, each side percent-encoded (RFC 3986,
                      nothing kept), sorted, joined by &; a JSON value that is not a
                      string is written as compact JSON with sorted keys

A request is refused (401) when the client is unknown, the timestamp is outside the
window, the signature does not match (compared in constant time), or the nonce was
seen before. ``docs/signing.md`` walks through it with Python and curl.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lading.clock import Clock
from lading.db import nonces
from lading.db.engine import Database
from lading.errors import BadRequest, Unauthorized
from lading.services.access import Caller
from lading.services.policy import Policy
from lading.services.roles import IMPLIED_ROLES
from lading.settings import SigningSettings

NONCE_PATTERN = re.compile(r"[A-Za-z0-9_.-]{8,128}")
SIGNATURE_PATTERN = re.compile(r"[0-9a-fA-F]{64}")
TIMESTAMP_DIGITS = 12
# One answer for an unknown client and a wrong signature: client names are not told.
NOT_VALID = "the request's signature is not valid"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a request says about its signature, and what the signature covers."""

    client: str
    timestamp: str
    nonce: str
    signature: str
    method: str
    path: str
    fields: list[tuple[str, str]]


def field_value(value: Any) -> str:
    """How a JSON value enters the signature."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(request: SignedRequest) -> bytes:
    pairs = sorted((quote(name, safe=""), quote(value, safe="")) for name, value in request.fields)
    lines = [
        request.method.upper(),
        request.path,
        request.timestamp,
        request.nonce,
        request.client,
        "&".join(f"{name}={value}" for name, value in pairs),
    ]
    return "\n".join(lines).encode()


def signature(secret: str, request: SignedRequest) -> str:
    return hmac.new(secret.encode(), canonical(request), hashlib.sha256).hexdigest()


class Signatures:
    def __init__(
        self,
        database: Database,
        settings: SigningSettings,
        policy: Policy,
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._database = database
        self._settings = settings
        self._policy = policy

    async def verify(self, request: SignedRequest) -> Caller:
        """The caller a correctly signed, fresh request acts as; Unauthorized otherwise."""
        client = self._settings.clients.get(request.client)
        if client is None or not SIGNATURE_PATTERN.fullmatch(request.signature):
            raise Unauthorized(NOT_VALID)
        timestamp = request.timestamp
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= TIMESTAMP_DIGITS):
            raise Unauthorized("the timestamp must be Unix seconds")
        moment = int(request.timestamp)
        window = self._settings.window
        if abs(self._clock.seconds() - moment) > window:
            raise Unauthorized(f"the timestamp is more than {window} s away from now")
        if not NONCE_PATTERN.fullmatch(request.nonce):
            raise Unauthorized("the nonce must be 8 to 128 of A-Z a-z 0-9 _ . -")
        try:
            expected = signature(client.secret.get_secret_value(), request)
        except UnicodeEncodeError:  # JSON lets a lone surrogate through
            raise BadRequest("every field must be text that UTF-8 can encode") from None
        if not hmac.compare_digest(expected, request.signature.lower()):
            raise Unauthorized(NOT_VALID)
        expires = datetime.fromtimestamp(moment + window, UTC).replace(tzinfo=None)
        if not await self._database.write(
            nonces.remember, request.client, request.nonce, expires, self._clock.now()
        ):
            raise Unauthorized("this nonce was used before: a request is accepted once")
        return Caller(client.project, IMPLIED_ROLES[client.role], self._policy, request.client)
