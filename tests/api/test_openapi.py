"""The OpenAPI documents: valid OpenAPI 3.1, served, and describing every route of the
app and nothing else, so that they cannot drift from the code (the fuzzing in
``test_fuzz`` then holds the answers to them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from starlette.routing import BaseRoute
from starlette.testclient import TestClient

from lading.app import create_app
from lading.faces import DOCUMENTS as FACES
from lading.faces import document as load
from lading.settings import Settings
from tests.api.helpers import routes_of

DOCS = Path(__file__).resolve().parents[2] / "docs"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'c.db'}")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def app_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path template) of every route; a GET route's implied HEAD left out, a
    mount of files as ``{file}``, a ``{name:path}`` parameter as ``{name}``."""
    for path, methods in routes_of(routes, prefix):
        implied = {"HEAD"} if "GET" in methods else set()
        yield from ((method.lower(), path.replace(":path}", "}")) for method in methods - implied)


def described() -> dict[tuple[str, str], str]:
    """(method, path) -> the face whose document describes it."""
    found: dict[tuple[str, str], str] = {}
    for face in FACES:
        for path, item in load(face)["paths"].items():
            for method in METHODS:
                if method in item:
                    assert (method, path) not in found, f"{method} {path}: {face}, {found}"
                    found[method, path] = face
    return found


@pytest.mark.parametrize("face", FACES)
def test_each_document_is_valid_openapi(face: str) -> None:
    validate(load(face))


def test_every_route_is_described_and_nothing_else(client: TestClient) -> None:
    routes = set(app_routes(client.app.routes))  # type: ignore[attr-defined]
    documented = set(described())
    assert routes - documented == set(), "routes no document describes"
    # An explicit HEAD route may be described on its own; any other must be a route.
    extra = {(method, path) for method, path in documented - routes
             if not (method == "head" and ("get", path) in routes)}  # fmt: skip
    assert extra == set(), "described, but not routes of the app"


def test_every_operation_answers_errors_it_describes() -> None:
    """Each operation that can fail says how: at least one 4xx."""
    for face in FACES:
        document = load(face)
        for path, item in document["paths"].items():
            for method in METHODS:
                if method in item and item[method].get("security") != [{}]:
                    statuses = item[method]["responses"]
                    assert any(status.startswith("4") for status in statuses), (face, path)


def test_documents_are_served(client: TestClient) -> None:
    for face in FACES:
        answer = client.get(f"/openapi/{face}.json")
        assert answer.status_code == 200
        assert answer.json() == load(face)
    missing = client.get("/openapi/glance-v3.json")
    assert missing.status_code == 404 and "itemNotFound" in missing.json()


@pytest.mark.parametrize(
    ("face", "page"),
    [("glance-v2", "api-glance-v2.md"), ("glance-v1", "api-glance-v1.md"),
     ("visor", "api-visor.md"), ("pnda", "api-pnda.md"), ("click", "api-click.md"),
     ("osm", "api-osm.md"), ("ui", "web-ui.md"), ("service", "operations.md")],
)  # fmt: skip
def test_each_face_page_names_its_document(face: str, page: str) -> None:
    assert f"/openapi/{face}.json" in (DOCS / page).read_text()
