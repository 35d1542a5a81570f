"""Sharing through /v2/images/{id}/members, and what members see in listings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings
from tests.api.helpers import assert_error
from tests.json_schemas import conforms
from tests.portal import call


class Project:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.headers = client, {"x-auth-token": token}

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, body: object) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def put(self, path: str, body: object) -> Any:
        return self.client.put(path, json=body, headers=self.headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)

    def listed(self, query: str = "") -> set[str]:
        return {image["id"] for image in self.get(f"/v2/images{query}").json()["images"]}


@pytest.fixture
def projects(settings: Settings) -> Iterator[dict[str, Project]]:
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        make = app.state.services.identities.create
        yield {
            name: Project(client, call(client, make, name, "member").token)
            for name in ("owner", "alice", "bob")
        }


def test_sharing_lifecycle(projects: dict[str, Project]) -> None:
    owner, alice, bob = projects["owner"], projects["alice"], projects["bob"]
    image = owner.post("/v2/images", {"name": "shared one"}).json()
    members = f"/v2/images/{image['id']}/members"
    assert image["visibility"] == "shared"
    assert_error(alice.get(f"/v2/images/{image['id']}"), 404)  # not yet a member

    added = owner.post(members, {"member": "alice"})
    assert added.status_code == 200
    body = added.json()
    conforms(body, owner.get("/v2/schemas/member").json())
    assert (body["member_id"], body["status"], body["image_id"]) == (
        "alice",
        "pending",
        image["id"],
    )
    assert_error(owner.post(members, {"member": "alice"}), 409)
    assert_error(owner.post(members, {"nobody": "x"}), 400)

    # Pending: seen by id, not listed unless asked for.
    assert alice.get(f"/v2/images/{image['id']}").status_code == 200
    assert image["id"] not in alice.listed()
    assert image["id"] in alice.listed("?member_status=pending")
    assert image["id"] in alice.listed("?member_status=all")

    # Only the member answers for itself; the owner cannot accept for it.
    assert_error(owner.put(f"{members}/alice", {"status": "accepted"}), 403)
    assert_error(alice.put(f"{members}/alice", {"status": "maybe"}), 400)
    accepted = alice.put(f"{members}/alice", {"status": "accepted"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert image["id"] in alice.listed()
    assert image["id"] not in alice.listed("?member_status=rejected")

    # A member sees only itself in the member list; an outsider sees nothing at all.
    owner.post(members, {"member": "carol"})
    assert {m["member_id"] for m in owner.get(members).json()["members"]} == {"alice", "carol"}
    assert [m["member_id"] for m in alice.get(members).json()["members"]] == ["alice"]
    assert_error(alice.get(f"{members}/carol"), 404)
    assert_error(alice.delete(f"{members}/carol"), 404)
    assert_error(alice.delete(f"{members}/alice"), 403)
    assert_error(bob.get(members), 404)
    assert image["id"] not in bob.listed("?member_status=all")

    # Rejected: still visible by id, gone from listings; removed: gone altogether.
    alice.put(f"{members}/alice", {"status": "rejected"})
    assert image["id"] not in alice.listed()
    assert owner.delete(f"{members}/alice").status_code == 204
    assert_error(alice.get(f"/v2/images/{image['id']}"), 404)
    assert_error(owner.delete(f"{members}/alice"), 404)


def test_listing_by_visibility(projects: dict[str, Project]) -> None:
    owner, alice = projects["owner"], projects["alice"]
    ids = {
        visibility: owner.post("/v2/images", {"visibility": visibility}).json()["id"]
        for visibility in ("private", "shared", "community")
    }
    assert alice.listed() == set()  # community ones only on demand
    assert alice.listed("?visibility=community") == {ids["community"]}
    assert alice.listed("?visibility=all") == {ids["community"]}
    assert owner.listed() >= {ids["private"], ids["shared"], ids["community"]}
    assert owner.listed("?visibility=private") == {ids["private"]}
    assert_error(owner.post(f"/v2/images/{ids['private']}/members", {"member": "alice"}), 403)
    assert_error(owner.post("/v2/images", {"visibility": "public"}), 403)  # admins only
