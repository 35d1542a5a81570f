"""Where lading may connect when callers choose the URL (web-download, copy-from,
external locations).

A caller must not be able to make lading reach what lading can reach and they cannot:
loopback, link-local (cloud metadata), private and reserved addresses are refused unless
the settings allow them, as are schemes, ports and hosts outside the allowed lists. The
rules are checked on the URL, on every redirect hop, and once more on the address a
connection actually goes to (after DNS), so a name that resolves somewhere forbidden, or
changes its answer between the check and the connection, is refused too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lading.errors import BadRequest
from lading.lazy import LazyModule
from lading.settings import FetchSettings
from lading.tls import client_context

if TYPE_CHECKING:
    import httpx
else:  # httpx, httpcore, h11 and trio: only once something is fetched (lading.lazy)
    httpx = LazyModule("httpx")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(BadRequest):
    """A URL, a redirect or an address the settings do not let lading fetch from."""


@dataclass(frozen=True, slots=True)
class UrlRules:
    settings: FetchSettings
    # Origins (scheme, host, port) the operator chose, not a caller: exempt from the
    # rules (the other region's image service found in Keystone's catalogue). A redirect
    # from one to elsewhere is checked as any URL is.
    trusted: frozenset[tuple[str, str, int]] = frozenset()

    def trusting(self, url: str) -> UrlRules:
        """These rules, with ``url``'s origin trusted."""
        parsed = httpx.URL(url)
        origin = (parsed.scheme, parsed.host.lower(), _port(parsed))
        return UrlRules(self.settings, self.trusted | {origin})

    def trusts(self, host: str, port: int) -> bool:
        """Whether a connection to ``host`` and ``port`` goes to a trusted origin."""
        return any((host.lower(), port) == (name, number) for _, name, number in self.trusted)

    def check_url(self, url: str) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
            name = parsed.host  # decoded here: a bad IDNA name raises UnicodeError
        except (httpx.InvalidURL, UnicodeError) as exc:
            raise UrlRefused(f"{url!r} is not a URL: {exc}") from None
        if (parsed.scheme, name.lower(), _port(parsed)) in self.trusted:
            return parsed
        if parsed.scheme not in self.settings.allowed_schemes:
            raise UrlRefused(
                f"the scheme {parsed.scheme or 'none'!r} is not allowed; "
                f"use one of {self.settings.allowed_schemes}"
            )
        if not name:
            raise UrlRefused(f"{url!r} names no host")
        port = _port(parsed)
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


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def _embedded_ipv4(address: Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 one leads to: mapped, 6to4, NAT64, or IPv4-compatible."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    inside = [address.ipv4_mapped, address.sixtofour]
    if address in NAT64 or int(address) >> 32 == 0:
        inside.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [form for form in inside if form is not None]


def guarded_client(
    rules: UrlRules, timeout: float | None = None, follow_redirects: bool = False
) -> httpx.AsyncClient:
    """A client that connects only where the rules allow. ``follow_redirects``: httpx
    follows them itself, each hop's URL checked too (fetches follow them one by one)."""
    from lading.guarded_backend import GuardedBackend  # httpcore's class: imported here

    settings = rules.settings
    transport = httpx.AsyncHTTPTransport(verify=client_context(), retries=0)
    # httpx has no option for the network backend; its pool (httpcore) takes one.
    transport._pool._network_backend = GuardedBackend(rules)

    async def check(request: httpx.Request) -> None:
        rules.check_url(str(request.url))

    return httpx.AsyncClient(
        transport=transport,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
        if timeout is None
        else httpx.Timeout(timeout),
        follow_redirects=follow_redirects,
        event_hooks={"request": [check]} if follow_redirects else None,
        trust_env=False,
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) only ever means this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere
