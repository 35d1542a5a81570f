"""Fetching data from URLs that callers give (web-download, copy-from), safely: under
the URL rules (``lading.url_rules``), checked on every redirect hop.

A transfer that breaks is resumed with ``Range`` (guarded by ``If-Range``) where the
server allows it; the announced length is checked.

Credentials (HTTP basic or bearer) go only to the origin (scheme, host and port) of the
URL they were given with, never to another one a redirect leads to, as curl does.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import anyio

from lading.domain import SEALED
from lading.errors import BadRequest
from lading.lazy import LazyModule
from lading.services.sealing import Sealer
from lading.url_rules import UrlRefused, UrlRules, guarded_client

if TYPE_CHECKING:
    import httpcore
    import httpx
else:  # only once something is fetched (lading.lazy)
    httpcore = LazyModule("httpcore")
    httpx = LazyModule("httpx")

MAX_REDIRECTS = 5
CREDENTIAL_FIELDS = ("username", "password", "bearer_token")
CREDENTIALS = f"{SEALED}credentials"  # kept sealed in a task's input, never shown


class FetchFailed(BadRequest):
    """The URL could not be read whole."""


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a URL's server wants: a user and password (basic), a bearer token, or a
    Keystone token (``X-Auth-Token``, what an OpenStack service reads)."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None
    auth_token: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        if self.auth_token is not None:
            return {"x-auth-token": self.auth_token}
        if self.bearer_token is not None:
            return {"authorization": f"Bearer {self.bearer_token}"}
        pair = f"{self.username or ''}:{self.password or ''}".encode()
        return {"authorization": f"Basic {base64.b64encode(pair).decode()}"}

    def as_dict(self) -> dict[str, str]:
        return {name: value for name, value in asdict(self).items() if value is not None}


def without_userinfo(url: str) -> tuple[str, Credentials | None]:
    """The URL with any ``user:password@`` taken out, and those credentials."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url, None  # the rules refuse it with a clear message
    if not parsed.userinfo:
        return url, None
    found = Credentials(parsed.username, parsed.password)
    return str(parsed.copy_with(username=None, password=None)), found


def credentials_given(
    url: Any, fields: Mapping[str, Any], url_field: str
) -> tuple[str, Credentials | None]:
    """A URL to fetch, and the credentials its server wants: in the URL
    (``user:password@``), or as ``username``/``password`` or ``bearer_token`` among
    ``fields``."""
    if not isinstance(url, str):
        raise BadRequest(f"{url_field} must be a URL")
    url, in_url = without_userinfo(url)
    given = {key: fields[key] for key in CREDENTIAL_FIELDS if fields.get(key) is not None}
    if not all(isinstance(value, str) and value for value in given.values()):
        raise BadRequest(f"{', '.join(CREDENTIAL_FIELDS)} must be non-empty strings")
    if given and in_url:
        raise BadRequest(f"give the credentials in the {url_field} or as fields, not both")
    if "bearer_token" in given and len(given) > 1:
        raise BadRequest("give a bearer_token, or a username and password, not both")
    if "password" in given and "username" not in given:
        raise BadRequest("a password needs a username")
    return url, in_url or (Credentials(**given) if given else None)


def seal_credentials(credentials: Credentials | None, sealer: Sealer) -> dict[str, str]:
    """What a task's input keeps of the credentials: sealed, apart (none: nothing)."""
    return {} if credentials is None else {CREDENTIALS: sealer.seal(credentials.as_dict())}


def open_credentials(task_input: Mapping[str, Any], sealer: Sealer) -> Credentials | None:
    sealed = task_input.get(CREDENTIALS)
    return Credentials(**sealer.open(sealed)) if sealed else None


@dataclass(slots=True)
class Fetch:
    """One URL's bytes: ``size`` is known once the first answer came (None if unannounced)."""

    url: str
    rules: UrlRules
    credentials: Credentials | None = None
    size: int | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes as they arrive (re-chunked downstream), resumed after a break.

        The retry policy is here, each attempt (one GET, resumed from where the last one
        broke off) in ``_attempt``, as httpx layers ``send`` over its transports."""
        settings = self.rules.settings
        progress = _Progress(time.monotonic() + settings.max_duration)
        failures = 0
        async with guarded_client(self.rules) as client:
            while True:
                try:
                    async with contextlib.aclosing(self._attempt(client, progress)) as attempt:
                        async for chunk in attempt:
                            yield chunk
                except (httpx.TransportError, httpcore.NetworkError) as exc:
                    failures += 1
                    # Nothing passed on yet: start again; else go on only if resumable.
                    resumable = progress.done == 0 or (
                        progress.validator is not None and self.size is not None
                    )
                    if failures > settings.retries or not resumable:
                        raise FetchFailed(f"reading {self.url} failed: {exc}") from None
                    await anyio.sleep(min(2**failures * 0.1, 2.0))
                    continue
                if self.size is None or progress.done == self.size:
                    return
                failures += 1  # the body ended early: resume
                if failures > settings.retries:
                    raise FetchFailed(
                        f"{self.url} ended after {progress.done} of {self.size} bytes"
                    )

    async def _attempt(
        self, client: httpx.AsyncClient, progress: _Progress
    ) -> AsyncGenerator[bytes]:
        """One GET, from the start or resumed after ``progress.done`` bytes (``If-Range``:
        only while the data is the same); its bytes as they arrive, counted in
        ``progress``. FetchFailed for an answer that cannot go on; a broken transfer is
        httpx's error, for ``chunks`` to judge."""
        done = progress.done
        headers = {"accept-encoding": "identity"}
        if done:
            headers["range"] = f"bytes={done}-"
            if progress.validator:
                headers["if-range"] = progress.validator
        async with self._open(client, headers) as response:
            resumed = response.headers.get("content-range", "")
            if done and not (response.status_code == 206 and resumed.startswith(f"bytes {done}-")):
                raise FetchFailed(
                    f"{self.url} cannot be resumed (answered "
                    f"{response.status_code} to a Range request)"
                )
            if not done:
                self.size = _announced(response)
                progress.validator = response.headers.get("etag") or response.headers.get(
                    "last-modified"
                )
            async for chunk in response.aiter_raw():
                if time.monotonic() > progress.deadline:
                    raise FetchFailed(
                        f"{self.url} took longer than {self.rules.settings.max_duration} s"
                    )
                progress.done += len(chunk)
                if self.size is not None and progress.done > self.size:
                    raise FetchFailed(f"{self.url} sent more than it announced")
                yield chunk

    def _open(self, client: httpx.AsyncClient, headers: dict[str, str]) -> _Following:
        return _Following(client, self.url, headers, self.rules, self.credentials)


@dataclass(slots=True)
class _Progress:
    """How far a fetch got, across its attempts."""

    deadline: float  # time.monotonic() past which the fetch fails
    done: int = 0  # bytes passed on
    validator: str | None = None  # the first answer's ETag or Last-Modified, for If-Range


class _Following:
    """GET that follows redirects itself, checking every hop against the rules."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        headers: dict[str, str],
        rules: UrlRules,
        credentials: Credentials | None,
    ) -> None:
        self._client, self._url, self._headers, self._rules = client, url, headers, rules
        self._credentials = credentials
        self._response: httpx.Response | None = None

    async def __aenter__(self) -> httpx.Response:
        url = origin = self._rules.check_url(self._url)
        for _ in range(MAX_REDIRECTS + 1):
            headers = dict(self._headers)
            if self._credentials is not None and _same_origin(url, origin):
                headers.update(self._credentials.headers)
            request = self._client.build_request("GET", url, headers=headers)
            response = await self._client.send(request, stream=True)
            if response.is_redirect:
                await response.aclose()
                target = response.headers.get("location", "")
                try:
                    joined = str(url.join(target))
                except (httpx.InvalidURL, UnicodeError):
                    raise UrlRefused(f"{url} redirects to an invalid URL {target!r}") from None
                url = self._rules.check_url(joined)
                continue
            if response.status_code not in (200, 206):
                await response.aclose()
                raise FetchFailed(f"{url} answered {response.status_code}")
            self._response = response
            return response
        raise FetchFailed(f"{self._url} redirects more than {MAX_REDIRECTS} times")

    async def __aexit__(self, *exc_info: object) -> None:
        if self._response is not None:
            await self._response.aclose()


def _same_origin(one: httpx.URL, other: httpx.URL) -> bool:
    return (one.scheme, one.host, one.port) == (other.scheme, other.host, other.port)


def _announced(response: httpx.Response) -> int | None:
    length = response.headers.get("content-length")
    if length is None or not length.isdigit():
        return None
    return int(length)
