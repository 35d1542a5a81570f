"""The JSON schemas of metadata definitions, served at /v2/schemas/metadefs/{name}.

Their names are Glance's (``resource_type`` is the schema of an association, as in
Glance); Horizon and the glance CLI read them to build their forms.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.errors import NotFound
from lading.services.metadefs import NAMESPACE_LIMIT, PROPERTY_TYPES, RESOURCE_TYPE_LIMIT

_TIMES = {
    "created_at": {"type": "string", "readOnly": True, "format": "date-time",
                   "description": "Date and time of creation"},
    "updated_at": {"type": "string", "readOnly": True, "format": "date-time",
                   "description": "Date and time of the last modification"},
}  # fmt: skip
_STRINGS = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}

PROPERTY: dict[str, Any] = {
    "type": "object",
    "required": ["title", "type"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": list(PROPERTY_TYPES)},
        "enum": {"type": "array"},
        "default": {},
        "pattern": {"type": "string", "format": "regex"},
        "minLength": {"type": "integer", "minimum": 0},
        "maxLength": {"type": "integer", "minimum": 0},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "readonly": {"type": "boolean"},
        "items": {"type": "object"},
        "uniqueItems": {"type": "boolean", "default": False},
        "minItems": {"type": "integer", "minimum": 0},
        "maxItems": {"type": "integer", "minimum": 0},
        "additionalItems": {"type": "boolean"},
    },
}

ASSOCIATION: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": RESOURCE_TYPE_LIMIT,
                 "description": "Resource type names should be aligned with Heat resource "
                 "types whenever possible (OS::Glance::Image, OS::Nova::Flavor...)"},
        "prefix": {"type": "string", "maxLength": 80,
                   "description": "Prefixed to the namespace's property names for this "
                   "resource type (e.g. hw_ for images)"},
        "properties_target": {"type": "string", "maxLength": 80,
                              "description": "Where a resource type keeps the properties "
                              "(e.g. a volume's image_metadata)"},
        **_TIMES,
    },
}  # fmt: skip

OBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "maxLength": 255},
        "description": {"type": "string"},
        "required": _STRINGS,
        "properties": {"type": "object", "additionalProperties": PROPERTY},
        "self": {"type": "string"},
        "schema": {"type": "string", "readOnly": True},
        **_TIMES,
    },
}

TAG: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "maxLength": 255}, **_TIMES},
}

NAMESPACE: dict[str, Any] = {
    "type": "object",
    "required": ["namespace"],
    "additionalProperties": False,
    "properties": {
        "namespace": {"type": "string", "maxLength": NAMESPACE_LIMIT,
                      "description": "The unique namespace text."},
        "display_name": {"type": "string", "maxLength": 80,
                         "description": "The user friendly name for the namespace."},
        "description": {"type": "string", "maxLength": 500,
                        "description": "Provides a user friendly description of the namespace."},
        "visibility": {"type": "string", "enum": ["public", "private"],
                       "description": "Scope of namespace accessibility."},
        "protected": {"type": "boolean",
                      "description": "If true, namespace will not be deletable."},
        "owner": {"type": "string", "maxLength": 255, "description": "Owner of the namespace."},
        "resource_type_associations": {"type": "array", "items": ASSOCIATION},
        "properties": {"type": "object", "additionalProperties": PROPERTY},
        "objects": {"type": "array", "items": OBJECT},
        "tags": {"type": "array", "items": TAG},
        "self": {"type": "string"},
        "schema": {"type": "string", "readOnly": True},
        **_TIMES,
    },
}  # fmt: skip


def _named(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, **schema}


def _collection(name: str, key: str, item: dict[str, Any], links: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "properties": {key: {"type": "array", "items": item}, "schema": {"type": "string"}},
        "links": [{"rel": "describedby", "href": "{schema}"}],
    }
    if links:
        document["properties"] |= {"first": {"type": "string"}, "next": {"type": "string"}}
        document["links"] = [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            *document["links"],
        ]
    return document


METADEF_SCHEMAS: dict[str, dict[str, Any]] = {
    "namespace": _named("namespace", NAMESPACE),
    "namespaces": _collection("namespaces", "namespaces", NAMESPACE, links=True),
    "resource_type": _named("resource_type_association", ASSOCIATION),
    "resource_types": _collection(
        "resource_type_associations", "resource_type_associations", ASSOCIATION, links=True
    ),
    "object": _named("object", OBJECT),
    "objects": _collection("objects", "objects", OBJECT, links=True),
    "property": _named("property", PROPERTY),
    "properties": {
        "name": "properties",
        "properties": {
            "properties": {"type": "object", "additionalProperties": PROPERTY},
            "schema": {"type": "string"},
        },
        "links": [{"rel": "describedby", "href": "{schema}"}],
    },
    "tag": _named("tag", TAG),
    "tags": _collection("tags", "tags", TAG, links=True),
}


async def show_metadef_schema(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in METADEF_SCHEMAS:
        raise NotFound(f"no schema named metadefs/{name!r}")
    return JSONResponse(METADEF_SCHEMAS[name])


ROUTES: list[BaseRoute] = [
    Route("/schemas/metadefs/{name}", show_metadef_schema, methods=["GET"], name="metadef_schema"),
]
