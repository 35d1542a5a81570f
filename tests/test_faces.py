"""The faces' declarations (``lading.faces``): what the app, its error rendering, its
metrics and its OpenAPI index are made from, and what dashboards and clients already
read from them (labels, document names) kept as they were."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, Router

from lading.api.glance_v2 import paths as glance_v2_paths
from lading.api.tus import tus_error
from lading.api.visor.render import visor_error
from lading.faces import DOCUMENTS, FACES, Face, document, error_styles, metric_labels, routes
from lading.http.failures import Failure
from lading.web import paths as web_paths
from lading.web.pages import error_page

# The labels of lading_http_requests_total{face} before the faces were declared once.
LABELS = {"v2": "glance_v2", "v1": "glance_v1", "visor": "visor", "images": "visor",
          "status": "visor", "click": "click", "api": "osm", "packages": "pnda",
          "metrics": "operations", "healthcheck": "operations", "openapi": "operations",
          "ui": "web", "uploads": "tus"}  # fmt: skip


def test_metric_labels_are_those_dashboards_read() -> None:
    assert metric_labels() == LABELS


def test_openapi_documents_keep_their_names_and_order() -> None:
    assert DOCUMENTS == ("glance-v2", "glance-v1", "visor", "pnda", "click", "osm", "ui",
                         "service", "tus")  # fmt: skip


def test_error_styles_cover_each_path_of_a_face_with_its_own() -> None:
    assert error_styles() == {"/images": visor_error, "/status": visor_error,
                              "/visor": visor_error, "/ui": error_page,
                              "/uploads": tus_error}  # fmt: skip


def test_names_prefixes_and_documents_are_each_declared_once() -> None:
    prefixes = [prefix for face in FACES for prefix in face.prefixes if prefix]
    for declared in ([face.name for face in FACES], prefixes, list(DOCUMENTS)):
        assert len(declared) == len(set(declared)), declared


def test_the_faces_build_paths_in_the_namespace_they_are_mounted_under() -> None:
    names = {face.name for face in FACES}
    assert {web_paths.NAMESPACE, glance_v2_paths.NAMESPACE} <= names


def test_a_face_takes_a_token_when_its_document_says_so() -> None:
    for face in FACES:
        security = document(face.openapi)["security"]
        schemes = {name for requirement in security for name in requirement}
        assert ("token" in schemes) is face.token, face.name
        assert (security == [{}]) is not face.token, face.name


def test_a_new_face_is_one_declaration() -> None:
    async def hello(request: Request) -> Response:
        return PlainTextResponse(request.app.url_path_for("demo:hello", name="x"))

    def teapot(request: Request, failure: Failure) -> Response:
        return PlainTextResponse(failure.message, 418)

    demo = Face("demo", ("/demo",), lambda: [Route("/hello/{name}", hello, name="hello")],
                "demo", teapot)  # fmt: skip
    declared = (*FACES, demo)
    mounts = [route for route in routes(declared) if isinstance(route, Mount)]
    assert [mount.path for mount in mounts][-1] == "/demo"
    assert Router(routes(declared)).url_path_for("demo:hello", name="x") == "/demo/hello/x"
    assert metric_labels(declared)["demo"] == "demo"
    assert error_styles(declared)["/demo"] is teapot
