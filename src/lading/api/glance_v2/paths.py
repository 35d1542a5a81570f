"""The Glance v2 face's paths, built from its routes' names, never written: the links in
its documents (``self``, ``file``, ``schema``, ``first``, ``next``)."""

from __future__ import annotations

from typing import Any, Protocol

from starlette.datastructures import URLPath

# The name ``lading.faces`` mounts the face under: its routes are named ``glance_v2:<name>``.
NAMESPACE = "glance_v2"


class Routes(Protocol):
    """What names the routes: the application (``request.app``), or a Router in tests."""

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath: ...


def path_for(routes: Routes, name: str, /, **params: str) -> str:
    """The path of the face's route named ``name``: ``path_for(app, "image", image_id=...)``.
    A value is put in as it is: quote one that may hold a slash or a percent sign."""
    return str(routes.url_path_for(f"{NAMESPACE}:{name}", **params))


def schema(routes: Routes, name: str) -> str:
    """Where the JSON schema ``name`` is served (``/v2/schemas/image``)."""
    return path_for(routes, "schema", name=name)


def metadef_schema(routes: Routes, name: str) -> str:
    """Where the metadata definitions' JSON schema ``name`` is served."""
    return path_for(routes, "metadef_schema", name=name)
