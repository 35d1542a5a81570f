"""The OpenAPI 3.1 documents of lading's faces, served at ``/openapi/{face}.json``.

Which documents there are, and the prefixes each is described again at (VISoR's paths
at the root and at /visor), come from the faces' declarations (``lading.faces``, kept in
``app.state.openapi``).

Each face is described by a YAML file beside this module (shipped in the package). Two
things are added to each when it is loaded, so that they are written once: the
components every face shares (``common.yaml``: security schemes, OpenStack's error
shape, the download answers), and the JSON schemas that ``/v2/schemas`` serves, as
``GlanceImage``, ``GlanceMember`` and ``GlanceTask``, so that the v2 document describes
images with the very schema the glance CLI reads.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from lading.api.glance_v2.schemas import image_schema, member_schema, task_schema
from lading.errors import NotFound

COMMON = "common.yaml"
CODE_SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "GlanceImage": image_schema,
    "GlanceMember": member_schema,
    "GlanceTask": task_schema,
}
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(face: str, aliases: tuple[str, ...] = ()) -> dict[str, Any]:
    """The face's document, with the shared components and the v2 schemas added, and
    its paths described again at each of ``aliases`` (other prefixes it is served at)."""
    document = _read(f"{face}.yaml")
    for prefix in aliases:
        # operationIds must be unique in a document: /visor's are suffixed AtVisor.
        _add_alias(document, prefix, "At" + prefix.strip("/").title())
    components = document.setdefault("components", {})
    shared = _read(COMMON)
    shared.setdefault("schemas", {}).update(
        {name: copy.deepcopy(schema()) for name, schema in CODE_SCHEMAS.items()}
    )
    for section, entries in shared.items():
        own = components.setdefault(section, {})
        for name, entry in entries.items():
            own.setdefault(name, entry)
    return document


@functools.cache
def rendered(face: str, aliases: tuple[str, ...]) -> bytes:
    """The face's document as JSON, made once a process: the files ship with lading."""
    return bytes(JSONResponse(load(face, aliases)).body)


def _add_alias(document: dict[str, Any], prefix: str, suffix: str) -> None:
    paths = document["paths"]
    for path, item in list(paths.items()):
        copied = copy.deepcopy(item)
        for operation in copied.values():
            if isinstance(operation, dict) and "operationId" in operation:
                operation["operationId"] += suffix
        paths[prefix + path] = copied


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.load(text, Loader=SAFE_LOADER)
    return document


async def serve_document(request: Request) -> Response:
    face = request.path_params["face"]
    documents: dict[str, tuple[str, ...]] = request.app.state.openapi
    if face not in documents:
        raise NotFound(f"no OpenAPI document named {face!r}; there are {list(documents)}")
    # Off the event loop: the first time, files are read and YAML parsed.
    body = await to_thread.run_sync(rendered, face, documents[face])
    return Response(body, media_type=JSONResponse.media_type)


ROUTES: list[BaseRoute] = [Route("/openapi/{face}.json", serve_document, methods=["GET"])]
