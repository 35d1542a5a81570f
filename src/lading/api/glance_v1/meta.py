"""Glance v1's image metadata: ``x-image-meta-*`` headers in, headers and JSON out.

v1 sends an image's fields as ``x-image-meta-<field>`` and its properties as
``x-image-meta-property-<name>``, all strings; ``is_public`` stands for the visibility.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lading.api.headers import PREFIX, Meta, meta_headers, meta_items
from lading.documents import v1_document as image_document
from lading.domain import Artifact, Visibility
from lading.errors import BadRequest
from lading.http.requests import parse_count

PROPERTY_KEY = "property-"
PROPERTY_PREFIX = PREFIX + PROPERTY_KEY
TEXT_FIELDS = ("name", "disk_format", "container_format", "owner")
INTEGER_FIELDS = ("min_disk", "min_ram")
# Fields v1 clients send that the server decides (checked against the data, or ignored as
# Glance v1 ignores them on write).
SERVER_FIELDS = ("id", "size", "checksum", "status", "store", "location", "created_at",
                 "updated_at", "deleted_at", "deleted", "virtual_size")  # fmt: skip
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


__all__ = ["brief_document", "image_document", "image_headers", "read_meta"]


def image_headers(artifact: Artifact) -> dict[str, str]:
    """The artifact as v1 headers (what cannot be a header is left out: see
    ``meta_headers``)."""
    document = image_document(artifact)
    properties = document.pop("properties")
    fields = {key: value for key, value in document.items() if value is not None}
    return meta_headers(PREFIX, fields) | meta_headers(PROPERTY_PREFIX, properties)


def brief_document(artifact: Artifact) -> dict[str, Any]:
    document = image_document(artifact)
    return {key: document[key] for key in BRIEF}


def _boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"{name} must be True or False, not {value!r}")
