"""Packages arrive whole: created, filled and checked in one call, or not at all.

A package is an artifact with a name, a version and a file name, which the package
faces put in their URLs; so none of the three may hold a path separator or a control
character, or be ``.``/``..``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from dataclasses import dataclass, field

import anyio

from lading.domain import Artifact
from lading.errors import BadRequest
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.transfers import Expected, Transfers
from lading.services.validation import MAX_NAME, Changes

UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f]")


@dataclass(slots=True)
class NewPackage:
    name: str
    version: str
    filename: str
    published: bool
    fields: dict[str, str] = field(default_factory=dict)  # visibility and such
    properties: dict[str, str] = field(default_factory=dict)
    expected: Expected | None = None


def check_segment(label: str, value: str) -> str:
    """A name that can stand as one segment of a URL path."""
    if not 0 < len(value) <= MAX_NAME or value in (".", "..") or UNSAFE.search(value):
        raise BadRequest(
            f"{label} must be 1 to {MAX_NAME} characters, with no /, \\ or control characters"
        )
    return value


class Packages:
    def __init__(self, catalogue: Catalogue, transfers: Transfers) -> None:
        self._catalogue = catalogue
        self._transfers = transfers

    async def add(
        self, caller: Caller, package: NewPackage, data: AsyncIterable[bytes]
    ) -> Artifact:
        """The package, active; any failure leaves nothing behind."""
        for label in ("name", "version", "filename"):
            check_segment(label, getattr(package, label))
        digests = package.expected
        if caller.signed_by is not None and not (digests and (digests.sha256 or digests.md5)):
            raise BadRequest(
                "a signed upload needs the file's sha256 (or md5): it binds the file to the "
                "signature"
            )
        fields = {**package.fields, "name": package.name, "version": package.version}
        artifact = await self._catalogue.create(
            caller,
            Changes(fields, package.properties),
            published=package.published,
            filename=package.filename,
        )
        try:
            return await self._transfers.upload(
                caller, artifact.id, data, expected=package.expected
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._catalogue.drop(artifact.id)
            raise
