"""The connections of a client that follows lading's fetch rules (lading.url_rules): the
address a name resolves to is checked, not only the URL.

A module of its own because it subclasses httpcore's backend: importing it imports
httpcore, which a server that fetches nothing never needs (lading.lazy).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
import httpcore

if TYPE_CHECKING:
    from lading.url_rules import UrlRules


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
        if not self._rules.trusts(host, port):
            for address in addresses:  # every answer must be allowed, not just the first
                self._rules.check_address(address, host)
        return await self._backend.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
