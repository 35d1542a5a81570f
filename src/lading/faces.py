"""lading's faces, each declared once: where it is mounted, its routes, how it writes its
errors, its OpenAPI document, and whether its callers bring a token.

The application's routes, the error style of each path, the ``face`` label of the HTTP
metrics and the index of OpenAPI documents are all made from ``FACES``; adding a face is
one entry here and one package under ``lading.api`` (or beside it, as ``lading.web``).
A face's name is its metrics label and the namespace of its route names: a URL is built
as ``request.app.url_path_for("glance_v2:image", image_id=...)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.routing import BaseRoute, Mount, Route, Router

from lading.api import click, osm, pnda, tus, versions
from lading.api import openapi as openapi_documents
from lading.api.glance_v1 import images as glance_v1
from lading.api.glance_v2 import routes as glance_v2
from lading.api.oci import routes as oci
from lading.api.oci.render import oci_error
from lading.api.pypi import routes as pypi
from lading.api.pypi.render import pypi_error
from lading.api.visor import images as visor
from lading.api.visor.render import visor_error
from lading.http.failures import ErrorStyle
from lading.http.observe import serve_metrics
from lading.web import routes as web
from lading.web.pages import error_page

ROOT = ""


@dataclass(frozen=True, slots=True)
class Face:
    """One face of lading.

    ``prefixes``: where its routes are mounted, ``""`` for the root (VISoR's clients call
    its paths there; ``/visor`` serves them again). ``openapi``: the name of its document,
    served at ``/openapi/{openapi}.json`` and read from ``lading/api/openapi/``; it
    describes the routes at the first prefix, and the others are described from it.
    ``error_style``: how it writes errors, OpenStack's when None. ``token``: whether it
    needs a caller (a token, a signature, the web UI's signed-in cookie): the operations
    face answers anyone, and its document says so. ``redirect_slashes``: whether a path
    with a trailing slash too many is redirected (Glance's is 404: ``GET /v2/images/`` is
    an image with an empty id, to Tempest too).
    """

    name: str
    prefixes: tuple[str, ...]
    routes: Callable[[], list[BaseRoute]]
    openapi: str
    error_style: ErrorStyle | None = None
    token: bool = True
    redirect_slashes: bool = True

    def mounts(self) -> Iterator[Mount]:
        """Its routes at each prefix but the root, in a Mount named after the face."""
        for prefix in self.prefixes:
            if prefix != ROOT:
                router = Router(self.routes(), redirect_slashes=self.redirect_slashes)
                yield Mount(prefix, app=router, name=self.name)

    def paths(self) -> Iterator[str]:
        """The paths the face owns: each prefix, or at the root each first segment of
        its routes (``/images``, ``/status``)."""
        for prefix in self.prefixes:
            if prefix != ROOT:
                yield prefix
                continue
            for route in self.routes():
                if isinstance(route, Route | Mount):
                    yield "/" + route.path.strip("/").partition("/")[0]

    @property
    def aliases(self) -> tuple[str, ...]:
        """The prefixes its OpenAPI document describes again, from the first one."""
        return self.prefixes[1:]


def _operations() -> list[BaseRoute]:
    return [
        *versions.HEALTH_ROUTES,
        Route("/metrics", serve_metrics, methods=["GET"]),
        *openapi_documents.ROUTES,
    ]


FACES = (
    Face(
        "glance_v2", ("/v2",), lambda: list(glance_v2.ROUTES), "glance-v2", redirect_slashes=False
    ),
    Face("glance_v1", ("/v1",), lambda: list(glance_v1.ROUTES), "glance-v1"),
    Face("visor", (ROOT, "/visor"), lambda: list(visor.ROUTES), "visor", visor_error),
    Face("pnda", (ROOT,), lambda: list(pnda.ROUTES), "pnda"),
    Face("click", ("/click",), lambda: list(click.ROUTES), "click"),
    Face("osm", ("/api",), lambda: list(osm.ROUTES), "osm"),
    # Its slashless URLs are routes of their own (twine posts to the URL as given).
    Face("pypi", ("/pypi",), lambda: list(pypi.ROUTES), "pypi", pypi_error, redirect_slashes=False),
    Face("web", ("/ui",), lambda: web.routes(tus.ROUTES), "ui", error_page),
    Face("operations", (ROOT,), _operations, "service", token=False),
    Face("tus", ("/uploads",), lambda: list(tus.ROUTES), "tus", tus.tus_error),
)
DOCUMENTS = tuple(face.openapi for face in FACES)
# The OCI registry, on a listener of its own (``oci.port``): its /v2 is not Glance's. That
# listener serves the registry's OpenAPI document (/openapi/oci.json) beside it.
REGISTRY = (
    Face("oci", ("/v2",), lambda: list(oci.ROUTES), "oci", oci_error, redirect_slashes=False),
)
REGISTRY_DOCUMENTS = tuple(face.openapi for face in REGISTRY)


def routes(faces: tuple[Face, ...] = FACES) -> list[BaseRoute]:
    """The application's routes: version discovery (``/``, ``/versions``, ``/v2``), then
    the faces' routes at the root, then their mounts."""
    root = [route for face in faces if ROOT in face.prefixes for route in face.routes()]
    mounts = [mount for face in faces for mount in face.mounts()]
    return [*versions.ROUTES, *root, *mounts]


def registry_routes() -> list[BaseRoute]:
    """The registry listener's routes: its faces' mounts alone (the API's version
    discovery answers /v2, which is the registry's), and the OpenAPI documents of those
    faces, served where the routes they describe are."""
    return [*[mount for face in REGISTRY for mount in face.mounts()], *openapi_documents.ROUTES]


def error_styles(faces: tuple[Face, ...] = FACES) -> dict[str, ErrorStyle]:
    """Each path a face with its own error style owns, with that style."""
    return {path: face.error_style for face in faces if face.error_style for path in face.paths()}


def metric_labels(faces: tuple[Face, ...] = FACES) -> dict[str, str]:
    """The ``face`` label of a route, by its first path segment (``v2``: glance_v2)."""
    return {path.strip("/"): face.name for face in faces for path in face.paths()}


def openapi_aliases(faces: tuple[Face, ...] = FACES) -> dict[str, tuple[str, ...]]:
    """Each OpenAPI document's name, with the prefixes it is described again at."""
    return {face.openapi: face.aliases for face in faces}


def document(name: str) -> dict[str, Any]:
    """The OpenAPI document named ``name``, as ``/openapi/{name}.json`` serves it (the
    registry's, ``oci``, on the registry's listener)."""
    aliases: Mapping[str, tuple[str, ...]] = openapi_aliases(FACES + REGISTRY)
    return openapi_documents.load(name, aliases[name])
