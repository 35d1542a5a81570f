"""Glance v1's image metadata: ``x-image-meta-*`` headers in, headers and JSON out.

v1 sends an image's fields as ``x-image-meta-<field>`` and its properties as
``x-image-meta-property-<name>``, all strings; ``is_public`` stands for the visibility.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lading.api.headers import PREFIX, Meta, meta_headers, meta_items
from lading.api.http import parse_count
from lading.domain import Artifact, Status, Visibility
from lading.errors import BadRequest

PROPERTY_KEY = "property-"
PROPERTY_PREFIX = PREFIX + PROPERTY_KEY
TEXT_FIELDS = ("name", "disk_format", "container_format", "owner")
INTEGER_FIELDS = ("min_disk", "min_ram")
# Fields v1 clients send that the server decides (checked against the data, or ignored as
# Glance v1 ignores them on write).
SERVER_FIELDS = ("id", "size", "checksum", "status", "store", "location", "created_at",
                 "updated_at", "deleted_at", "deleted", "virtual_size")  # fmt: skip
# lading's statuses v1 never had, as a v1 client expects them: an import (a copy-from's
# fetch) is v1's saving.
V1_STATUS = {Status.IMPORTING: "saving"}
BRIEF = ("id", "name", "disk_format", "container_format", "checksum", "size")


def read_meta(headers: Mapping[str, str]) -> Meta:
    meta = Meta()
    for name, key, value in meta_items(headers):
        if key.startswith(PROPERTY_KEY):
            meta.properties[key.removeprefix(PROPERTY_KEY)] = value
            continue
        if key in TEXT_FIELDS:
            meta.fields[key] = value
        elif key in INTEGER_FIELDS:
            # ASCII digits, of a sane length: str.isdigit() also takes "²", which int()
            # refuses, and int() refuses 4,300 digits and more.
            meta.fields[key] = parse_count(name, value)
        elif key == "protected":
            meta.fields[key] = _boolean(name, value)
        elif key == "is_public":
            if value.lower() != "none":  # the glance CLI sends None when it is not given
                public = _boolean(name, value)
                meta.fields["visibility"] = Visibility.PUBLIC if public else Visibility.PRIVATE
        elif key in SERVER_FIELDS:
            meta.given[key] = value
        else:
            raise BadRequest(f"unknown image attribute {name}")
    return meta


def image_headers(artifact: Artifact) -> dict[str, str]:
    """The artifact as v1 headers (what cannot be a header is left out: see
    ``meta_headers``)."""
    document = image_document(artifact)
    properties = document.pop("properties")
    fields = {key: value for key, value in document.items() if value is not None}
    return meta_headers(PREFIX, fields) | meta_headers(PROPERTY_PREFIX, properties)


def image_document(artifact: Artifact) -> dict[str, Any]:
    """The v1 JSON of an image (detail listings, create and update answers)."""
    return {
        "id": artifact.id,
        "name": artifact.name,
        "status": V1_STATUS.get(artifact.status, artifact.status.value),
        "disk_format": artifact.disk_format,
        "container_format": artifact.container_format,
        "size": artifact.size,
        "virtual_size": artifact.virtual_size,
        "checksum": artifact.checksum,
        "min_disk": artifact.min_disk,
        "min_ram": artifact.min_ram,
        "is_public": artifact.visibility is Visibility.PUBLIC,
        "protected": artifact.protected,
        "owner": artifact.owner,
        "deleted": False,
        "deleted_at": None,
        "created_at": timestamp(artifact.created_at),
        "updated_at": timestamp(artifact.updated_at),
        "properties": {key: str(value) for key, value in artifact.properties.items()},
    }


def brief_document(artifact: Artifact) -> dict[str, Any]:
    document = image_document(artifact)
    return {key: document[key] for key in BRIEF}


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"{name} must be True or False, not {value!r}")
