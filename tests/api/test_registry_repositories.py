"""/v2/registry/repositories on the API's port (``lading.api.glance_v2.registry``): a
project lists its registry repositories with their size, and its members make one public
or private; its readers may not, and other projects do not see it. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping

import pytest
from starlette.testclient import TestClient

from lading.app import create_registry_app
from tests.world import World

IDENTITIES = {
    "owner": ("A", "member"),
    "reader": ("A", "reader"),
    "other": ("B", "member"),
    "admin": ("ops", "admin"),
}


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    return IDENTITIES


@pytest.fixture
def registry(world: World) -> Iterator[TestClient]:
    with TestClient(create_registry_app(world.settings), base_url="http://registry.test") as client:
        yield client


def basic(world: World, who: str) -> dict[str, str]:
    token = base64.b64encode(f"any:{world.tokens[who]}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def push(registry: TestClient, world: World, name: str, data: bytes) -> None:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    answer = registry.post(
        f"/v2/{name}/blobs/uploads/", params={"digest": digest}, content=data,
        headers=basic(world, "owner"),
    )  # fmt: skip
    assert answer.status_code == 201, answer.text


def test_a_project_lists_its_repositories_with_their_size(
    world: World, registry: TestClient
) -> None:
    push(registry, world, "team/app", b"a" * 100)
    push(registry, world, "team/app", b"b" * 50)
    push(registry, world, "team/web", b"a" * 100)
    listed = world.get("owner", "/v2/registry/repositories")
    assert listed.status_code == 200, listed.text
    assert [(r["name"], r["size"], r["blobs"], r["visibility"], r["owner"])
            for r in listed.json()["repositories"]] == [
        ("team/app", 150, 2, "private", "A"), ("team/web", 100, 1, "private", "A"),
    ]  # fmt: skip
    assert world.get("reader", "/v2/registry/repositories").json() == listed.json()
    assert world.get("other", "/v2/registry/repositories").json() == {"repositories": []}
    paged = world.get("owner", "/v2/registry/repositories", limit=1).json()
    assert [r["name"] for r in paged["repositories"]] == ["team/app"]
    following = world.request("GET", paged["next"], "owner").json()
    assert [r["name"] for r in following["repositories"]] == ["team/web"]
    shown = world.get("owner", "/v2/registry/repositories/team/app").json()
    assert shown["self"] == "/v2/registry/repositories/team/app" and shown["size"] == 150
    assert world.get("other", "/v2/registry/repositories/team/app").status_code == 404
    assert world.get("anonymous", "/v2/registry/repositories").status_code == 401


def test_members_make_their_repository_public_and_private(
    world: World, registry: TestClient
) -> None:
    push(registry, world, "team/app", b"a" * 100)
    path = "/v2/registry/repositories/team/app"
    anonymous_pull = f"/v2/team/app/blobs/sha256:{hashlib.sha256(b'a' * 100).hexdigest()}"
    assert registry.get(anonymous_pull).status_code == 401
    assert world.request("PATCH", path, "reader", json={"visibility": "public"}).status_code == 403
    assert world.request("PATCH", path, "other", json={"visibility": "public"}).status_code == 404
    made = world.request("PATCH", path, "owner", json={"visibility": "public"})
    assert made.status_code == 200, made.text
    assert made.json()["visibility"] == "public"
    token = registry.get("/v2/token", params={"scope": "repository:team/app:pull"}).json()
    pulled = registry.get(anonymous_pull, headers={"authorization": f"Bearer {token['token']}"})
    assert pulled.status_code == 200 and pulled.content == b"a" * 100
    back = world.request("PATCH", path, "admin", json={"visibility": "private"})
    assert back.status_code == 200 and back.json()["visibility"] == "private"
    assert registry.get(anonymous_pull, headers={"authorization": f"Bearer {token['token']}"}
                        ).status_code == 401  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [{"visibility": "shared"}, {"visibility": 1}, {"visibility": "public", "x": 1}, [], "public"],
)
def test_a_bad_body_is_400(world: World, registry: TestClient, body: object) -> None:
    push(registry, world, "team/app", b"a")
    answer = world.request("PATCH", "/v2/registry/repositories/team/app", "owner", json=body)
    assert answer.status_code == 400, answer.text


def test_an_unknown_repository_is_404(world: World) -> None:
    answer = world.request(
        "PATCH", "/v2/registry/repositories/no/such", json={"visibility": "public"}
    )
    assert answer.status_code == 404
    assert world.get("owner", "/v2/registry/repositories/no/such").status_code == 404
