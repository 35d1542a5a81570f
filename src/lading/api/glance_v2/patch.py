"""JSON-patch bodies (``application/openstack-images-v2.1-json-patch``) as Glance reads them.

Paths are one level deep (``/name``, ``/tags``, ``/my.property``) with JSON-pointer
escaping. ``add`` sets, ``replace`` needs the path to exist, ``remove`` drops a
property. The result is the complete desired metadata, handed to the catalogue.
"""

from __future__ import annotations

from typing import Any

from lading.domain import Artifact
from lading.errors import BadRequest, Conflict, Forbidden
from lading.services.validation import (
    COMPUTED_NAMES,
    READ_ONLY_FIELDS,
    RESERVED_PREFIX,
    WRITABLE_FIELDS,
    Changes,
)

MEDIA_TYPES = (
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
)
OPERATIONS = ("add", "remove", "replace")


def apply_patch(artifact: Artifact, operations: Any) -> Changes:
    """The changes that ``operations`` make to ``artifact``."""
    if not isinstance(operations, list):
        raise BadRequest("a patch must be a JSON list of operations")
    fields = {name: getattr(artifact, name) for name in WRITABLE_FIELDS}
    properties = dict(artifact.properties)
    tags: list[Any] = list(artifact.tags)
    for operation in operations:
        op, name, value = _parse(operation)
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


def _parse(operation: Any) -> tuple[str, str, Any]:
    if not isinstance(operation, dict):
        raise BadRequest("each patch operation must be a JSON object")
    op = operation.get("op")
    if op not in OPERATIONS:
        raise BadRequest(f"operation {op!r} is not supported; use one of {list(OPERATIONS)}")
    path = operation.get("path")
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
