"""/v2/metadefs: Glance's metadata definitions (namespaces, their objects, properties and
tags, resource types and their associations), as Horizon and openstacksdk read them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.listing import page_links
from lading.api.glance_v2.paths import Routes, metadef_schema, path_for
from lading.api.query import boolean, page_limit, single
from lading.clock import timestamp
from lading.domain import Association, ItemKind, MetadefItem, Namespace, ResourceType
from lading.errors import BadRequest
from lading.http.requests import caller, read_json, services
from lading.services.metadefs import NamespaceContents

# The path segment of each kind of item, and the key of its listing.
SEGMENTS = {"objects": ItemKind.OBJECT, "properties": ItemKind.PROPERTY, "tags": ItemKind.TAG}
APPEND_HEADER = "x-openstack-append"


def _times(created_at: Any, updated_at: Any) -> dict[str, str]:
    return {"created_at": timestamp(created_at), "updated_at": timestamp(updated_at)}


def namespace_view(routes: Routes, namespace: Namespace) -> dict[str, Any]:
    document: dict[str, Any] = {
        "namespace": namespace.namespace,
        "visibility": namespace.visibility,
        "protected": namespace.protected,
        "owner": namespace.owner,
        **_times(namespace.created_at, namespace.updated_at),
        "self": path_for(routes, "namespace", namespace=quote(namespace.namespace, safe="")),
        "schema": metadef_schema(routes, "namespace"),
    }
    # Glance leaves out what was never given.
    if namespace.display_name is not None:
        document["display_name"] = namespace.display_name
    if namespace.description is not None:
        document["description"] = namespace.description
    return document


def contents_view(routes: Routes, contents: NamespaceContents, prefix: str = "") -> dict[str, Any]:
    document = namespace_view(routes, contents.namespace)
    if contents.associations:
        document["resource_type_associations"] = [
            association_view(one) for one in contents.associations
        ]
    if contents.properties:
        document["properties"] = {
            prefix + item.name: property_view(item) for item in contents.properties
        }
    if contents.objects:
        document["objects"] = [object_view(routes, item, prefix) for item in contents.objects]
    if contents.tags:
        document["tags"] = [{"name": item.name} for item in contents.tags]
    return document


def association_view(association: Association) -> dict[str, Any]:
    document: dict[str, Any] = {"name": association.resource_type}
    if association.prefix is not None:
        document["prefix"] = association.prefix
    if association.properties_target is not None:
        document["properties_target"] = association.properties_target
    return document | _times(association.created_at, association.updated_at)


def resource_type_view(resource_type: ResourceType) -> dict[str, Any]:
    return {"name": resource_type.name} | _times(resource_type.created_at, resource_type.updated_at)


def property_view(item: MetadefItem) -> dict[str, Any]:
    return {"name": item.name, **item.document}


def object_view(routes: Routes, item: MetadefItem, prefix: str = "") -> dict[str, Any]:
    document = {"name": item.name, **item.document}
    if prefix and "properties" in document:
        document["properties"] = {prefix + k: v for k, v in document["properties"].items()}
    if prefix and "required" in document:  # names of properties, so prefixed as Glance does
        document["required"] = [prefix + name for name in document["required"]]
    return document | {
        **_times(item.created_at, item.updated_at),
        "self": path_for(
            routes,
            "metadef_object",
            namespace=quote(item.namespace, safe=""),
            name=quote(item.name, safe=""),
        ),
        "schema": metadef_schema(routes, "object"),
    }


def tag_view(item: MetadefItem) -> dict[str, Any]:
    return {"name": item.name} | _times(item.created_at, item.updated_at)


def item_view(routes: Routes, item: MetadefItem) -> dict[str, Any]:
    if item.kind is ItemKind.OBJECT:
        return object_view(routes, item)
    if item.kind is ItemKind.PROPERTY:
        return property_view(item)
    return tag_view(item)


# Namespaces.


async def list_namespaces(request: Request) -> Response:
    params = request.query_params.multi_items()
    known = {"limit", "marker", "sort_key", "sort_dir", "visibility", "resource_types"}
    unknown = {key for key, _ in params} - known
    if unknown:
        raise BadRequest(f"unknown parameters {sorted(unknown)}")
    if single(params, "sort_key") not in (None, "namespace"):
        raise BadRequest("namespaces are sorted by name (sort_key=namespace)")
    direction = single(params, "sort_dir")
    if direction not in (None, "asc", "desc"):
        raise BadRequest("sort_dir must be asc or desc")
    types = single(params, "resource_types")
    limit = page_limit(params)
    found = await services(request).metadefs.list_namespaces(
        caller(request),
        visibility=single(params, "visibility"),
        resource_types=tuple(t.strip() for t in types.split(",") if t.strip()) if types else (),
        limit=limit,
        marker=single(params, "marker"),
        descending=direction == "desc",
    )
    last = found[-1].namespace if found else None
    return JSONResponse(
        {
            "namespaces": [namespace_view(request.app, one) for one in found],
            "schema": metadef_schema(request.app, "namespaces"),
            **page_links(
                path_for(request.app, "namespaces"), params, last, full=len(found) == limit
            ),
        }
    )


async def create_namespace(request: Request) -> Response:
    body = await read_json(request)
    contents = await services(request).metadefs.create_namespace(caller(request), body)
    document = contents_view(request.app, contents)
    return JSONResponse(document, status_code=201, headers={"location": document["self"]})


async def show_namespace(request: Request) -> Response:
    name = request.path_params["namespace"]
    contents = await services(request).metadefs.get_namespace(caller(request), name)
    resource_type = request.query_params.get("resource_type")
    prefix = ""
    if resource_type is not None:
        # Glance shows the properties as that resource type names them (with its prefix).
        match = [one for one in contents.associations if one.resource_type == resource_type]
        prefix = (match[0].prefix or "") if match else ""
    return JSONResponse(contents_view(request.app, contents, prefix))


async def update_namespace(request: Request) -> Response:
    body = await read_json(request)
    namespace = await services(request).metadefs.update_namespace(
        caller(request), request.path_params["namespace"], body
    )
    return JSONResponse(namespace_view(request.app, namespace))


async def delete_namespace(request: Request) -> Response:
    await services(request).metadefs.delete_namespace(
        caller(request), request.path_params["namespace"]
    )
    return Response(status_code=204)


# Objects, properties and tags.


def _kind(request: Request) -> ItemKind:
    """Which kind of item the route is about (its path: objects, properties or tags)."""
    kind: ItemKind = request.scope["route"].kind
    return kind


class ItemRoute(Route):
    """A route of one kind of item (the same endpoints serve objects, properties, tags)."""

    def __init__(self, path: str, endpoint: Any, method: str, kind: ItemKind, name: str) -> None:
        super().__init__(path, endpoint, methods=[method], name=name)
        self.kind = kind  # the router puts the matched route in scope["route"]


async def list_items(request: Request) -> Response:
    kind = _kind(request)
    name = request.path_params["namespace"]
    found = await services(request).metadefs.list_items(caller(request), name, kind)
    if kind is ItemKind.PROPERTY:
        return JSONResponse({"properties": {item.name: property_view(item) for item in found}})
    segment = "objects" if kind is ItemKind.OBJECT else "tags"
    body: dict[str, Any] = {segment: [item_view(request.app, item) for item in found]}
    if kind is ItemKind.OBJECT:
        body["schema"] = metadef_schema(request.app, "objects")
    return JSONResponse(body)


async def create_item(request: Request) -> Response:
    kind = _kind(request)
    name = request.path_params["namespace"]
    body = await read_json(request)
    metadefs = services(request).metadefs
    if kind is ItemKind.TAG:
        append = boolean(APPEND_HEADER, request.headers.get(APPEND_HEADER, "false"))
        tags = await metadefs.create_tags(caller(request), name, body, append)
        return JSONResponse({"tags": [{"name": tag.name} for tag in tags]}, status_code=201)
    item = await metadefs.create_item(caller(request), name, kind, body)
    return JSONResponse(item_view(request.app, item), status_code=201)


async def delete_items(request: Request) -> Response:
    await services(request).metadefs.delete_items(
        caller(request), request.path_params["namespace"], _kind(request)
    )
    return Response(status_code=204)


async def show_item(request: Request) -> Response:
    params = request.path_params
    item = await services(request).metadefs.get_item(
        caller(request), params["namespace"], _kind(request), params["name"]
    )
    return JSONResponse(item_view(request.app, item))


async def create_tag(request: Request) -> Response:
    """POST .../tags/{name}: one tag, named by the path (no body needed)."""
    params = request.path_params
    item = await services(request).metadefs.create_item(
        caller(request), params["namespace"], ItemKind.TAG, {"name": params["name"]}
    )
    return JSONResponse(tag_view(item), status_code=201)


async def update_item(request: Request) -> Response:
    params = request.path_params
    body = await read_json(request)
    item = await services(request).metadefs.update_item(
        caller(request), params["namespace"], _kind(request), params["name"], body
    )
    return JSONResponse(item_view(request.app, item))


async def delete_item(request: Request) -> Response:
    params = request.path_params
    await services(request).metadefs.delete_item(
        caller(request), params["namespace"], _kind(request), params["name"]
    )
    return Response(status_code=204)


# Resource types.


async def list_resource_types(request: Request) -> Response:
    found = await services(request).metadefs.list_resource_types(caller(request))
    return JSONResponse({"resource_types": [resource_type_view(one) for one in found]})


async def list_associations(request: Request) -> Response:
    found = await services(request).metadefs.list_associations(
        caller(request), request.path_params["namespace"]
    )
    return JSONResponse({"resource_type_associations": [association_view(one) for one in found]})


async def associate(request: Request) -> Response:
    body = await read_json(request)
    association = await services(request).metadefs.associate(
        caller(request), request.path_params["namespace"], body
    )
    return JSONResponse(association_view(association), status_code=201)


async def dissociate(request: Request) -> Response:
    params = request.path_params
    await services(request).metadefs.dissociate(
        caller(request), params["namespace"], params["resource_type"]
    )
    return Response(status_code=204)


NS = "/metadefs/namespaces/{namespace}"


def _item_routes(segment: str, kind: ItemKind) -> list[BaseRoute]:
    many, one = f"{NS}/{segment}", f"{NS}/{segment}/{{name}}"
    items, item = f"metadef_{segment}", f"metadef_{kind.value}"  # metadef_objects, _object
    routes: list[BaseRoute] = [
        ItemRoute(many, list_items, "GET", kind, items),
        ItemRoute(many, create_item, "POST", kind, items),
        ItemRoute(many, delete_items, "DELETE", kind, items),
        ItemRoute(one, show_item, "GET", kind, item),
        ItemRoute(one, update_item, "PUT", kind, item),
        ItemRoute(one, delete_item, "DELETE", kind, item),
    ]
    if kind is ItemKind.TAG:
        routes.append(ItemRoute(one, create_tag, "POST", kind, item))
    return routes


ROUTES: list[BaseRoute] = [
    Route("/metadefs/namespaces", list_namespaces, methods=["GET"], name="namespaces"),
    Route("/metadefs/namespaces", create_namespace, methods=["POST"], name="namespaces"),
    Route(NS, show_namespace, methods=["GET"], name="namespace"),
    Route(NS, update_namespace, methods=["PUT"], name="namespace"),
    Route(NS, delete_namespace, methods=["DELETE"], name="namespace"),
    Route(f"{NS}/resource_types", list_associations, methods=["GET"]),
    Route(f"{NS}/resource_types", associate, methods=["POST"]),
    Route(f"{NS}/resource_types/{{resource_type}}", dissociate, methods=["DELETE"]),
    *(route for segment, kind in SEGMENTS.items() for route in _item_routes(segment, kind)),
    Route("/metadefs/resource_types", list_resource_types, methods=["GET"]),
]
