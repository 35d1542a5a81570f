"""Which hosts and origins this server answers: one decision for every face and the web UI.

A browser lets any page it shows send a form or a ``text/plain`` body to any address, and
a name that an attacker makes resolve to this machine (DNS rebinding) turns their page
into a same-origin one. So a request is answered only when its ``Host`` names this
server (``allowed_hosts``; loopback, the bound address and ``public_endpoint`` always
do), and a change is taken from a page only when the page is this server's own or one
that CORS allows (``cors.allowed_origins``). Requests that carry no ``Origin`` come from
programs, not pages, and the host rule is all they meet.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import Scope

from lading.settings import Settings
from lading.url_rules import is_loopback

DEFAULT_PORTS = {"http": 80, "https": 443}
# Parsing names and addresses costs more than the rest of the checks: the few a server
# sees are remembered (a bounded number, since any client may send any Host or Origin).
CACHED = 256
ANY = "*"
OSM_PATH = "/api"  # where the OSM face is served

Origin = tuple[str, str, int]  # scheme, host, port
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Sites:
    """The hosts a request may name and the origins whose pages may change things."""

    names: frozenset[str]
    domains: tuple[str, ...]  # ".example.org": the name and every name under it
    networks: tuple[Network, ...]
    any_host: bool
    public: Origin | None
    shared: frozenset[Origin]  # origins CORS lets call the API from their pages
    max_age: int  # seconds a browser keeps a preflight's answer
    # Origins CORS lets call one face only, by the path it is served under (the OSM
    # face's /api, for the launchpad's UI).
    face_shared: tuple[tuple[str, frozenset[Origin]], ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Sites:
        names, domains, networks = set(), [], []
        for entry in [*settings.allowed_hosts, settings.host]:
            entry = entry.strip("[]").lower().rstrip(".")  # as host_of reads a Host
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                if entry.startswith("."):
                    domains.append(entry)
                else:
                    names.add(entry)
            else:
                # The wildcard addresses a server binds (0.0.0.0, ::) are no host's name.
                if network.num_addresses > 1 or not network.network_address.is_unspecified:
                    networks.append(network)
        public = origin_of(settings.public_endpoint) if settings.public_endpoint else None
        if public is not None:
            names.add(public[1])
        shared = {origin_of(text) for text in settings.cors.allowed_origins}
        osm = {origin_of(text) for text in settings.cors.osm_allowed_origins}
        face_shared = ((OSM_PATH, frozenset(o for o in osm if o is not None)),) if osm else ()
        return cls(
            names=frozenset(names - {ANY}),
            domains=tuple(domains),
            networks=tuple(networks),
            any_host=ANY in names,
            public=public,
            shared=frozenset(origin for origin in shared if origin is not None),
            max_age=settings.cors.max_age,
            face_shared=face_shared,
        )

    @property
    def cors(self) -> bool:
        return bool(self.shared or self.face_shared)

    @functools.lru_cache(maxsize=CACHED)  # noqa: B019 -- Sites live as long as their app
    def answers(self, authority: str) -> bool:
        """Whether a Host header (``authority``: a host, and maybe a port, which does not
        count) names this server."""
        host = host_of(authority)
        if host is None:
            return False
        if self.any_host or is_loopback(host) or host in self.names:
            return True
        if any(host == domain[1:] or host.endswith(domain) for domain in self.domains):
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def own(self, scope: Scope) -> Origin | None:
        """This server's origin as the request's pages have it: ``public_endpoint`` when it
        is set (behind a proxy, the scheme and Host that lading sees are not the browser's),
        else the scheme and Host the request went to, a Host that ``answers`` vetted."""
        if self.public is not None:
            return self.public
        return origin_of(f"{scope.get('scheme', 'http')}://{authority_of(scope)}")

    def is_own(self, scope: Scope, origin: Origin | None) -> bool:
        return origin is not None and origin == self.own(scope)

    def shares_with(self, origin: Origin | None, path: str = "/") -> bool:
        """Whether CORS lets pages of ``origin`` call ``path``: any path for the origins
        shared with the whole API, a face's paths for those shared with that face."""
        if origin in self.shared:
            return True
        return any(
            origin in origins and (path == prefix or path.startswith(f"{prefix}/"))
            for prefix, origins in self.face_shared
        )


def authority_of(scope: Scope) -> str:
    """The host and port the request was sent to: its Host header, else the server's."""
    if host := Headers(scope=scope).get("host"):
        return host
    server = scope.get("server")
    return f"{server[0]}:{server[1]}" if server else ""


def host_of(authority: str) -> str | None:
    """The host part of a Host header, lower-cased and without a final dot; None when it is
    not one (a user, a path, a port that is not a number)."""
    try:
        parts = urlsplit(f"http://{authority}")
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return None
    host = parts.hostname
    if not host or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return host.rstrip(".") or None


@functools.lru_cache(maxsize=CACHED)
def origin_of(url: str) -> Origin | None:
    """An URL's origin, with its port spelt out; None for what has none (``null``)."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or port is None:
        return None
    return parts.scheme, parts.hostname.lower(), port


def serialized(origin: Origin) -> str:
    """An origin as browsers write it (``Access-Control-Allow-Origin`` must match that)."""
    scheme, host, port = origin
    name = f"[{host}]" if ":" in host else host
    return f"{scheme}://{name}" if DEFAULT_PORTS[scheme] == port else f"{scheme}://{name}:{port}"
