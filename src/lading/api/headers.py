"""Metadata in HTTP headers (Glance v1, VISoR): UTF-8 on the wire, though HTTP frameworks
read and write header values as Latin-1."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lading.domain import Artifact
from lading.errors import BadRequest
from lading.http.requests import parse_count
from lading.services.validation import Changes

MD5 = re.compile("[0-9a-f]{32}")
PREFIX = "x-image-meta-"
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # what a header name may hold (RFC 9110)


@dataclass(slots=True)
class Meta:
    """What a request's ``x-image-meta-*`` headers ask for."""

    fields: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    given: dict[str, str] = field(default_factory=dict)  # about the data, as sent

    def changes(self, current: Artifact | None, purge: bool = False) -> Changes:
        """Changes over ``current``: properties merged, or replaced when ``purge``."""
        properties = {} if current is None or purge else dict(current.properties)
        return Changes(fields=dict(self.fields), properties=properties | self.properties)

    def __bool__(self) -> bool:
        return bool(self.fields or self.properties or self.given)


def meta_items(headers: Mapping[str, str]) -> Iterator[tuple[str, str, str]]:
    """Each ``x-image-meta-<key>`` header as (its name, key, value), names and values
    checked (a server may pass on a name that is not a token: its key is refused here
    rather than kept as a property name)."""
    for name, raw in headers.items():
        name = name.lower()
        if name.startswith(PREFIX):
            if not TOKEN.fullmatch(name):
                raise BadRequest(f"{name!r} is not a header name (RFC 9110 token)")
            yield name, name.removeprefix(PREFIX), header_text(name, raw)


def header_text(name: str, raw: str) -> str:
    """A header's value as the client meant it; 400 if not UTF-8 or holding control
    characters."""
    try:
        value = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise BadRequest(f"{name} is not UTF-8") from None
    if not value.isprintable():
        raise BadRequest(f"{name} holds control characters")
    return value.strip()


def meta_headers(prefix: str, values: Mapping[str, object]) -> dict[str, str]:
    """``values`` as ``<prefix><name>`` headers (booleans as Python writes them: True,
    False). A name that cannot be a header name, or a value with a control character,
    is left out: the face's JSON answers carry it."""
    return {
        f"{prefix}{name}": str(value).encode("utf-8").decode("latin-1")
        for name, value in values.items()
        if TOKEN.fullmatch(name) and str(value).isprintable()
    }


def stated_data(given: Mapping[str, str]) -> tuple[int | None, str | None]:
    """The data's size and MD5 as ``x-image-meta-size`` and ``x-image-meta-checksum``
    state them (checked against what arrives, or taken as said for a location)."""
    size, checksum = given.get("size"), given.get("checksum")
    if checksum is not None and not MD5.fullmatch(checksum.lower()):
        raise BadRequest(f"x-image-meta-checksum must be an MD5 in hex, not {checksum!r}")
    announced = parse_count("x-image-meta-size", size) if size is not None else None
    return announced, None if checksum is None else checksum.lower()
