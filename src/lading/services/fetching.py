"""Fetching data from URLs that callers give (web-download, copy-from), safely.

A caller must not be able to make lading reach what lading can reach and they cannot:
loopback, link-local (cloud metadata), private and reserved addresses are refused unless
the settings allow them, as are schemes, ports and hosts outside the allowed lists. The
rules are checked on the URL and on every redirect hop, and once more on the address a
connection actually goes to (after DNS), so a name that resolves somewhere forbidden, or
changes its answer between the check and the connection, is refused too.

A transfer that breaks is resumed with ``Range`` (guarded by ``If-Range``) where the
server allows it; the announced length is checked.

Credentials (HTTP basic or bearer) go only to the origin (scheme, host and port) of the
URL they were given with, never to another one a redirect leads to, as curl does.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass

import anyio
import httpcore
import httpx

from lading.errors import BadRequest
from lading.settings import FetchSettings

MAX_REDIRECTS = 5
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(BadRequest):
    """A URL, a redirect or an address the settings do not let lading fetch from."""


class FetchFailed(BadRequest):
    """The URL could not be read whole."""


@dataclass(frozen=True, slots=True)
class UrlRules:
    settings: FetchSettings

    def check_url(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
            name = parsed.host  # decoded here: a bad IDNA name raises UnicodeError
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise UrlRefused(f"{url!r} is not a URL: {exc}") from None
        if parsed.scheme not in self.settings.allowed_schemes:
            raise UrlRefused(
                f"the scheme {parsed.scheme or 'none'!r} is not allowed; "
                f"use one of {self.settings.allowed_schemes}"
            )
        if not name:
            raise UrlRefused(f"{url!r} names no host")
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if port not in self.settings.allowed_ports:
            allowed = self.settings.allowed_ports
            raise UrlRefused(f"port {port} is not allowed; use one of {allowed}")
        host = name.lower()
        if self._matches(host, self.settings.denied_hosts):
            raise UrlRefused(f"the host {host} is denied")
        if self.settings.allowed_hosts and not self._matches(host, self.settings.allowed_hosts):
            raise UrlRefused(f"the host {host} is not among the allowed hosts")
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None  # a name: its addresses are checked when connecting
        if literal is not None:
            self.check_address(literal, host)
        return parsed

    def check_address(self, address: Address, host: str) -> None:
        """An address a connection is about to go to (and any IPv4 address inside it)."""
        forms = [address, *_embedded_ipv4(address)]
        if any(self._matches(str(form), self.settings.allowed_hosts) for form in forms):
            return
        if any(self._matches(str(form), self.settings.denied_hosts) for form in forms):
            raise UrlRefused(f"{host} is at {address}, which is denied")
        internal = any(not form.is_global or form.is_multicast for form in forms)
        if internal and not self.settings.allow_internal:
            raise UrlRefused(
                f"{host} is at {address}, an internal address (loopback, link-local, private "
                "or reserved): lading does not fetch from those"
            )

    @staticmethod
    def _matches(host: str, patterns: Iterable[str]) -> bool:
        """Names match exactly; addresses also match networks given in CIDR form."""
        try:
            address: Address | None = ipaddress.ip_address(host)
        except ValueError:
            address = None
        for pattern in patterns:
            if host == pattern.lower():
                return True
            if address is not None and "/" in pattern:
                try:
                    if address in ipaddress.ip_network(pattern, strict=False):
                        return True
                except ValueError:
                    continue
        return False


NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 one leads to: mapped, 6to4, NAT64, or IPv4-compatible."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    inside = [address.ipv4_mapped, address.sixtofour]
    if address in NAT64 or int(address) >> 32 == 0:
        inside.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [form for form in inside if form is not None]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves names itself and connects only to addresses the rules allow."""

    def __init__(self, rules: UrlRules) -> None:
        self._rules = rules
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in found]
        for address in addresses:  # every answer must be allowed, not just the first
            self._rules.check_address(address, host)
        return await self._backend.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def guarded_client(rules: UrlRules) -> httpx.AsyncClient:
    settings = rules.settings
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx has no option for the network backend; its pool (httpcore) takes one.
    transport._pool._network_backend = GuardedBackend(rules)
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    return httpx.AsyncClient(
        transport=transport, timeout=timeout, follow_redirects=False, trust_env=False
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a URL's server wants: a user and password (basic) or a bearer token."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None

    @property
    def authorization(self) -> str:
        if self.bearer_token is not None:
            return f"Bearer {self.bearer_token}"
        pair = f"{self.username or ''}:{self.password or ''}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

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


@dataclass(slots=True)
class Fetch:
    """One URL's bytes: ``size`` is known once the first answer came (None if unannounced)."""

    url: str
    rules: UrlRules
    credentials: Credentials | None = None
    size: int | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The bytes as they arrive (re-chunked downstream), resumed after a break."""
        settings = self.rules.settings
        done, failures = 0, 0
        deadline = time.monotonic() + settings.max_duration
        validator: str | None = None
        async with guarded_client(self.rules) as client:
            while True:
                headers = {"accept-encoding": "identity"}
                if done:
                    headers["range"] = f"bytes={done}-"
                    if validator:
                        headers["if-range"] = validator
                try:
                    async with self._open(client, headers) as response:
                        resumed = response.headers.get("content-range", "")
                        if done and not (
                            response.status_code == 206 and resumed.startswith(f"bytes {done}-")
                        ):
                            raise FetchFailed(
                                f"{self.url} cannot be resumed (answered "
                                f"{response.status_code} to a Range request)"
                            )
                        if not done:
                            self.size = _announced(response)
                            validator = response.headers.get("etag") or response.headers.get(
                                "last-modified"
                            )
                        async for chunk in response.aiter_raw():
                            if time.monotonic() > deadline:
                                raise FetchFailed(
                                    f"{self.url} took longer than {settings.max_duration} s"
                                )
                            done += len(chunk)
                            if self.size is not None and done > self.size:
                                raise FetchFailed(f"{self.url} sent more than it announced")
                            yield chunk
                except (httpx.TransportError, httpcore.NetworkError) as exc:
                    failures += 1
                    # Nothing passed on yet: start again; else go on only if resumable.
                    resumable = done == 0 or (validator is not None and self.size is not None)
                    if failures > settings.retries or not resumable:
                        raise FetchFailed(f"reading {self.url} failed: {exc}") from None
                    await anyio.sleep(min(2**failures * 0.1, 2.0))
                    continue
                if self.size is None or done == self.size:
                    return
                failures += 1  # the body ended early: resume
                if failures > settings.retries:
                    raise FetchFailed(f"{self.url} ended after {done} of {self.size} bytes")

    def _open(self, client: httpx.AsyncClient, headers: dict[str, str]) -> _Following:
        return _Following(client, self.url, headers, self.rules, self.credentials)


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
                headers["authorization"] = self._credentials.authorization
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
