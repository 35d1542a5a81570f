"""The client and scheme behind a proxy: ``X-Forwarded-For`` and ``X-Forwarded-Proto``,
believed only from the proxies ``server.trusted_proxies`` lists (none by default).

The rules are uvicorn's ``ProxyHeadersMiddleware``'s. A request that comes straight from
a trusted proxy has its scheme and client taken from those headers; from anyone else
they are ignored, since any client can write them. ``X-Forwarded-For`` is a list that each
proxy appends its peer to, so only its right end is the trusted proxies' own writing: the
client is the right-most address that is not a trusted proxy's (everything left of it is
what that client claimed), or the left-most when every one is trusted.

``Forwarded`` (RFC 7239) is not read: a proxy that writes one family of headers passes
the other on as the client sent it, so believing both would let clients forge the one
their proxy does not write. nginx, HAProxy and the cloud balancers write X-Forwarded-*.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from lading.sites import Network

SCHEMES = frozenset({"http", "https"})
FORWARDED_FOR = b"x-forwarded-for"
FORWARDED_PROTO = b"x-forwarded-proto"
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The networks whose forwarded headers are believed."""

    networks: tuple[Network, ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(entry, strict=False) for entry in entries))

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: IpAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client_position(self, hops: Sequence[str]) -> int:
        """Which of an ``X-Forwarded-For`` list's items is the client: the right-most that
        is not a trusted proxy's, or the left-most if all are."""
        for index in range(len(hops) - 1, -1, -1):
            if not self.trusts(parse_address(hops[index])):
                return index
        return 0


class ForwardedMiddleware:
    """Sets the ASGI scope's ``scheme`` and ``client`` from a trusted proxy's headers, so
    that the access log, ``Location`` headers and the origin checks see the client's."""

    def __init__(self, app: ASGIApp, trusted: TrustedProxies) -> None:
        self.app = app
        self.trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.trusted:
            peer = scope.get("client")
            if peer and self.trusted.trusts(parse_address(str(peer[0]))):
                scope = forwarded_scope(scope, self.trusted)
        await self.app(scope, receive, send)


def forwarded_scope(scope: Scope, trusted: TrustedProxies) -> Scope:
    """``scope`` as the client saw it, from the headers of a proxy that ``trusted`` lists."""
    hops = header_list(scope, FORWARDED_FOR)
    protos = [proto.lower() for proto in header_list(scope, FORWARDED_PROTO)]
    changed = dict(scope)
    position = trusted.client_position(hops)
    # What is not an address (``unknown``, a name, garbage) leaves the proxy as the client.
    client = parse_address(hops[position]) if hops else None
    if client is not None:
        changed["client"] = (str(client), 0)  # the client's port is not forwarded
    # A proxy that sets one value (nginx's $scheme) speaks for the whole chain; proxies
    # that each append the scheme they were reached by put the client's at its position.
    if len(protos) == 1:
        proto: str | None = protos[0]
    elif protos and len(protos) == len(hops):
        proto = protos[position]
    else:
        proto = None
    if proto in SCHEMES:
        changed["scheme"] = proto
    return changed


def header_list(scope: Scope, name: bytes) -> list[str]:
    """A comma-separated header's items, every occurrence joined in order (RFC 9110 5.3)."""
    items: list[str] = []
    for key, value in scope["headers"]:
        if key == name:
            items.extend(item.strip() for item in value.decode("latin-1").split(","))
    return [item for item in items if item]


def parse_address(text: str) -> IpAddress | None:
    """An address as proxies write it: bare, ``[v6]``, or either with a port; else None."""
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # IPv4 with a port: an IPv6 address has two colons or more
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: IPv4 networks hold them.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address
