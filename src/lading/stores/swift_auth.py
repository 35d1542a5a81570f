"""Signing in to Swift: tempauth (v1 auth) or Keystone v3, both giving a token and the
storage URL of the account the container lives in."""

from __future__ import annotations

import contextlib
import http.client
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from lading.errors import StoreError


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    storage_url: str  # the account's URL


class SwiftAuth(Protocol):
    async def sign_in(self, client: httpx.AsyncClient, store: str) -> Session: ...


@dataclass(frozen=True, slots=True)
class TempAuth:
    """v1 auth: ``GET auth_url`` with the user and key in headers."""

    url: str
    user: str  # account:user
    key: str

    async def sign_in(self, client: httpx.AsyncClient, store: str) -> Session:
        headers = {"x-auth-user": self.user, "x-auth-key": self.key}
        with http_errors(store, f"cannot reach {self.url}"):
            response = await client.get(self.url, headers=headers)
        if response.status_code != 200:
            raise StoreError(f"store {store!r} was refused by {self.url}")
        return Session(response.headers["x-auth-token"], response.headers["x-storage-url"])


@dataclass(frozen=True, slots=True)
class KeystoneV3:
    """Password auth scoped to a project; the storage URL comes from the token's catalogue."""

    url: str  # the identity endpoint, e.g. http://keystone:5000/v3
    user: str
    password: str
    project: str
    user_domain: str
    project_domain: str
    region: str | None
    interface: Literal["public", "internal", "admin"]

    async def sign_in(self, client: httpx.AsyncClient, store: str) -> Session:
        user = {"name": self.user, "domain": {"name": self.user_domain}, "password": self.password}
        body = {
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {
                    "project": {"name": self.project, "domain": {"name": self.project_domain}}
                },
            }
        }
        tokens = f"{self.url.rstrip('/')}/auth/tokens"
        with http_errors(store, f"cannot reach {tokens}"):
            response = await client.post(tokens, json=body)
        if response.status_code != 201:
            raise StoreError(f"store {store!r} was refused by {tokens} ({response.status_code})")
        catalog = response.json().get("token", {}).get("catalog", [])
        return Session(response.headers["x-subject-token"], self._storage_url(catalog, store))

    def _storage_url(self, catalog: list[dict[str, Any]], store: str) -> str:
        for service in catalog:
            if service.get("type") != "object-store":
                continue
            for endpoint in service.get("endpoints", []):
                region = endpoint.get("region_id") or endpoint.get("region")
                if endpoint.get("interface") == self.interface and self.region in (None, region):
                    return str(endpoint["url"])
        where = f" in region {self.region!r}" if self.region else ""
        raise StoreError(
            f"store {store!r}: the Keystone catalogue has no {self.interface} object-store "
            f"endpoint{where}"
        )


@contextlib.contextmanager
def http_errors(store: str, doing: str) -> Iterator[None]:
    """The one place the Swift driver's HTTP errors become lading's, the cause kept:
    httpx's, and those of ``http.client`` and its sockets (``swift_wire``). Swift's
    answers are the driver's to judge by their status."""
    try:
        yield
    except (httpx.HTTPError, http.client.HTTPException, OSError) as exc:
        raise StoreError(f"store {store!r} {doing}: {exc}") from exc
