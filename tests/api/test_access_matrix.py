"""Who may do what: every identity against every v2 and Click endpoint, for each visibility.

Artifacts belong to project A. Identities: an admin (of project A), a member and a
reader of A, a member of project B, members of projects C (accepted the sharing) and D
(did not answer), and an anonymous caller. A refused request changes nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from lading.app import create_app
from lading.services.access import Caller
from lading.settings import Settings
from tests.api.helpers import PATCH_TYPE
from tests.world import World, open_world

DATA = b"matrix bytes"
CLICK_FILE = "p.click"
VISIBILITIES = ["private", "shared", "community", "public"]
IDENTITIES = ["admin", "owner_member", "owner_reader", "other", "accepted", "pending", "anonymous"]
OWNERS = {"admin", "owner_member", "owner_reader"}


SERIAL = itertools.count()  # Click package names


def request(world: World, who: str, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    return world.request(method, path, who, **kwargs)


def artifact(world: World, visibility: str, with_data: bool = True, face: str = "v2") -> str:
    """A fresh artifact of project A; shared with C (accepted) and D (pending).

    Click packages are published by the admin at once, so they are seen as v2 images are.
    """
    creator = "admin" if visibility == "public" else "owner_member"
    if face == "click":
        form = {"name": f"p{next(SERIAL)}", "version": "1", "visibility": visibility}
        files = {"file": (CLICK_FILE, DATA)}
        created = request(world, creator, "POST", "/click/uploads", data=form, files=files)
        assert created.status_code == 201, created.text
        image_id: str = created.json()["id"]
        published = request(world, "admin", "POST", f"/click/packages/{image_id}/publish")
        assert published.status_code == 200, published.text
        with_data = False
    else:
        body = {"name": "m", "disk_format": "raw", "container_format": "bare",
                "visibility": visibility, "tags": ["t0"]}  # fmt: skip
        created = request(world, creator, "POST", "/v2/images", json=body)
        assert created.status_code == 201, created.text
        image_id = created.json()["id"]
    if with_data:
        octets = {"content-type": "application/octet-stream"}
        path = f"/v2/images/{image_id}/file"
        put = request(world, "owner_member", "PUT", path, content=DATA, headers=octets)
        assert put.status_code == 204, put.text
    if visibility == "shared":
        members = f"/v2/images/{image_id}/members"
        for project in ("C", "D"):
            added = request(world, "owner_member", "POST", members, json={"member": project})
            assert added.status_code == 200, added.text
        answer = {"status": "accepted"}
        accepted = request(world, "accepted", "PUT", f"{members}/C", json=answer)
        assert accepted.status_code == 200, accepted.text
    return image_id


def state(world: World, image_id: str) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was, seen by the admin."""
    image = request(world, "admin", "GET", f"/v2/images/{image_id}").json()
    members = request(world, "admin", "GET", f"/v2/images/{image_id}/members")
    admin = Caller.with_role("A", "admin")
    published = world.call(world.services.catalogue.visible, admin, image_id).published
    return image, members.status_code, members.text, published


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("matrix")
    roles = {"admin": ("A", "admin"), "owner_member": ("A", "member"),
             "owner_reader": ("A", "reader"), "other": ("B", "member"),
             "accepted": ("C", "member"), "pending": ("D", "member")}  # fmt: skip
    with open_world(create_app(Settings(data_dir=data_dir)), roles) as opened:
        yield opened


def sees(identity: str, visibility: str) -> bool:
    if identity in OWNERS:
        return True
    if identity in ("accepted", "pending"):
        return visibility != "private"
    return identity == "other" and visibility in ("community", "public")


def changes(identity: str, visibility: str, success: int, policy_ok: bool = True) -> int:
    """Owner-only actions: 401 anonymous, 404 unseen, 403 for non-owners or by policy."""
    if identity == "anonymous":
        return 401
    if not sees(identity, visibility):
        return 404
    return success if identity in ("admin", "owner_member") and policy_ok else 403


def reads(identity: str, visibility: str, success: int) -> int:
    if identity == "anonymous":
        return 401
    return success if sees(identity, visibility) else 404


def downloads(identity: str, visibility: str) -> int:
    """As reads, but a reader does not download (Glance's download_image: members)."""
    status = reads(identity, visibility, 200)
    return 403 if status == 200 and identity == "owner_reader" else status


def members_list(identity: str, visibility: str) -> int:
    status = reads(identity, visibility, 200)
    return 403 if status == 200 and visibility != "shared" else status


def click_path(world: World, image_id: str, kind: str) -> str:
    package = request(world, "admin", "GET", f"/v2/images/{image_id}").json()
    return f"/click/download/{kind}/{package['name']}/{package['version']}/{CLICK_FILE}"


Action = Callable[[World, str, str], httpx2.Response]
ACTIONS: dict[str, tuple[Action, Callable[[str, str], int], bool | str]] = {
    # name: (the request, the expected status, whether the artifact gets data first, or
    # "click" for a published package made by the Click face)
    "show": (lambda w, who, i: request(w, who, "GET", f"/v2/images/{i}"),
             lambda who, v: reads(who, v, 200), True),
    "download": (lambda w, who, i: request(w, who, "GET", f"/v2/images/{i}/file"),
                 downloads, True),
    "update": (lambda w, who, i: request(w,
                   who, "PATCH", f"/v2/images/{i}", headers={"content-type": PATCH_TYPE},
                   json=[{"op": "replace", "path": "/name", "value": "renamed"}]),
               lambda who, v: changes(who, v, 200), True),
    "delete": (lambda w, who, i: request(w, who, "DELETE", f"/v2/images/{i}"),
               lambda who, v: changes(who, v, 204), True),
    "add_tag": (lambda w, who, i: request(w, who, "PUT", f"/v2/images/{i}/tags/t1"),
                lambda who, v: changes(who, v, 204), True),
    "remove_tag": (lambda w, who, i: request(w, who, "DELETE", f"/v2/images/{i}/tags/t0"),
                   lambda who, v: changes(who, v, 204), True),
    "reactivate": (lambda w, who, i: request(w, who, "POST", f"/v2/images/{i}/actions/reactivate"),
                   lambda who, v: changes(who, v, 204), True),
    "upload": (lambda w, who, i: request(w,
                   who, "PUT", f"/v2/images/{i}/file", content=DATA,
                   headers={"content-type": "application/octet-stream"}),
               lambda who, v: changes(who, v, 204), False),
    "deactivate": (lambda w, who, i: request(w, who, "POST", f"/v2/images/{i}/actions/deactivate"),
                   lambda who, v: changes(who, v, 204), True),
    "members": (lambda w, who, i: request(w, who, "GET", f"/v2/images/{i}/members"),
                members_list, True),
    "add_member": (lambda w, who, i: request(w,
                       who, "POST", f"/v2/images/{i}/members", json={"member": "E"}),
                   lambda who, v: 403 if changes(who, v, 200) == 200 and v != "shared"
                   else changes(who, v, 200), True),
    "click_private": (lambda w, who, i: request(w, who, "GET", click_path(w, i, "private")),
                      downloads, "click"),
    "click_public": (lambda w, who, i: request(w, who, "GET", click_path(w, i, "public")),
                     lambda who, v: 200 if v == "public" else 404, "click"),
    "publish": (lambda w, who, i: request(w, who, "POST", f"/click/packages/{i}/publish"),
                lambda who, v: changes(who, v, 200, policy_ok=who == "admin"), "click"),
    "unpublish": (lambda w, who, i: request(w, who, "POST", f"/click/packages/{i}/unpublish"),
                  lambda who, v: changes(who, v, 200, policy_ok=who == "admin"), "click"),
}  # fmt: skip


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("visibility", VISIBILITIES)
@pytest.mark.parametrize("identity", IDENTITIES)
def test_matrix(world: World, identity: str, visibility: str, action: str) -> None:
    send, expected, made = ACTIONS[action]
    image_id = artifact(world, visibility, made is True, "click" if made == "click" else "v2")
    before = state(world, image_id)
    response = send(world, identity, image_id)
    status = expected(identity, visibility)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/json")
        assert state(world, image_id) == before
    if action in ("download", "click_private", "click_public") and status == 200:
        assert response.content == DATA
