"""JSON-patch bodies as Glance reads them, in its two media types.

``application/openstack-images-v2.1-json-patch`` takes RFC 6902's form
(``{"op": "replace", "path": "/name", "value": ...}``); the older
``application/openstack-images-v2.0-json-patch`` names the operation by the member that
holds the path (``{"replace": "/name", "value": ...}``), as Glance still accepts it and
Tempest still sends it. Either way paths are one level deep (``/name``, ``/tags``,
``/my.property``) with JSON-pointer escaping. ``add`` sets, ``replace`` needs the path to
exist, ``remove`` drops a property. The result is the complete desired metadata, handed to
the catalogue.
"""

from __future__ import annotations

from typing import Any

from lading.domain import Artifact
from lading.errors import BadRequest, Conflict, Forbidden
from lading.services.locations import LocationChange
from lading.services.validation import (
    COMPUTED_NAMES,
    READ_ONLY_FIELDS,
    RESERVED_PREFIX,
    WRITABLE_FIELDS,
    Changes,
)

PATCH_V21 = "application/openstack-images-v2.1-json-patch"
PATCH_V20 = "application/openstack-images-v2.0-json-patch"
MEDIA_TYPES = (PATCH_V21, PATCH_V20)
OPERATIONS = ("add", "remove", "replace")


def apply_patch(artifact: Artifact, operations: Any, media_type: str = PATCH_V21) -> Changes:
    """The changes that ``operations``, a body of ``media_type``, make to ``artifact``."""
    if not isinstance(operations, list):
        raise BadRequest("a patch must be a JSON list of operations")
    fields = {name: getattr(artifact, name) for name in WRITABLE_FIELDS}
    properties = dict(artifact.properties)
    tags: list[Any] = list(artifact.tags)
    for operation in operations:
        op, name, value = _parse(operation, older=media_type == PATCH_V20)
        if name == "tags":
            if op == "remove":
                raise Forbidden("property 'tags' may not be removed")
            if not isinstance(value, list):
                raise BadRequest("tags must be a list of strings")
            tags = value
        elif name in WRITABLE_FIELDS:
            if op == "remove":
                raise Forbidden(f"property {name!r} may not be removed")
            fields[name] = value
        elif op == "add":
            properties[name] = value
        elif name not in properties:
            raise Conflict(f"property {name!r} does not exist")
        elif op == "replace":
            properties[name] = value
        else:
            del properties[name]
    return Changes(fields, properties, tags)


def location_change(operations: Any, media_type: str = PATCH_V21) -> LocationChange | None:
    """The one operation on ``/locations`` a patch holds (``/locations``,
    ``/locations/N`` or ``/locations/-``), or None when it touches no location. Such an
    operation comes alone: it is applied by its own service call."""
    if not isinstance(operations, list):
        return None
    found = []
    for operation in operations:
        if not isinstance(operation, dict):
            return None
        op, path = (_older_form if media_type == PATCH_V20 else _rfc_form)(operation)
        if isinstance(path, str) and (path == "/locations" or path.startswith("/locations/")):
            found.append((op, path, operation))
    if not found:
        return None
    if len(operations) != 1:
        raise BadRequest("a patch of /locations holds that one operation only")
    op, path, operation = found[0]
    index = path.removeprefix("/locations").removeprefix("/") or None
    if (index is None) != (op == "replace") or (index is not None and "/" in index):
        raise BadRequest(f"invalid path {path!r} for {op}: /locations/N or /locations/- "
                         "to add or remove, /locations to replace")  # fmt: skip
    if op != "remove" and "value" not in operation:
        raise BadRequest(f"operation {op!r} needs a value")
    return LocationChange(op, index, operation.get("value"))


def _parse(operation: Any, older: bool) -> tuple[str, str, Any]:
    if not isinstance(operation, dict):
        raise BadRequest("each patch operation must be a JSON object")
    op, path = _older_form(operation) if older else _rfc_form(operation)
    if not isinstance(path, str) or not path.startswith("/") or "/" in path[1:]:
        raise BadRequest(f"invalid JSON pointer {path!r} for this resource")
    name = path[1:].replace("~1", "/").replace("~0", "~")
    if not name:
        raise BadRequest("the JSON pointer must name a property")
    if op != "remove" and "value" not in operation:
        raise BadRequest(f"operation {op!r} needs a value")
    if name in READ_ONLY_FIELDS or name in COMPUTED_NAMES:
        raise Forbidden(f"attribute {name!r} is read-only")
    if name.startswith(RESERVED_PREFIX):
        raise Forbidden(f"attribute {name!r} is reserved")
    return op, name, operation.get("value")


def _rfc_form(operation: dict[str, Any]) -> tuple[str, Any]:
    """``op`` and ``path`` (the 2.1 media type)."""
    op = operation.get("op")
    if op not in OPERATIONS:
        raise BadRequest(f"operation {op!r} is not supported; use one of {list(OPERATIONS)}")
    return op, operation.get("path")


def _older_form(operation: dict[str, Any]) -> tuple[str, Any]:
    """The one member named after an operation, holding the path (the 2.0 media type);
    an ``op`` member means nothing there, as in Glance."""
    named = [op for op in OPERATIONS if op in operation]
    if len(named) != 1:
        raise BadRequest(
            f"under {PATCH_V20} each operation has exactly one member named "
            f"{', '.join(OPERATIONS)}, holding its path"
        )
    return named[0], operation[named[0]]
