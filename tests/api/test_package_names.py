"""Package names belong to projects: the first to publish under a name owns it on every
package face (PNDA, Click, OSM, and v2 with a file name); others are refused with 403,
whatever the visibility, unless its owner lets them publish or an administrator gives it
away. Names are compared after NFC and case folding, look-alikes (TR39 skeletons) are
refused, invisible characters are 400, and a failed upload takes no name."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.types import Message

from lading.app import create_app
from lading.settings import MiB, Settings
from tests.api.helpers import assert_error
from tests.osm_packages import package
from tests.world import World, open_world

PROJECTS = {"a": ("a", "member"), "b": ("b", "member"), "c": ("c", "member"),
            "admin": ("ops", "admin")}  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, task_poll_interval=0.05,
        image_size_cap=MiB,
    )  # fmt: skip
    with open_world(create_app(settings), PROJECTS) as opened:
        yield opened


def put_pnda(world: World, who: str, filename: str, data: bytes = b"bytes") -> Any:
    return world.client.put(f"/packages/{filename}", content=data, headers=world.as_(who))


def upload_click(
    world: World, who: str, name: str, version: str, data: bytes = b"click", **form: str
) -> Any:
    fields = {"name": name, "version": version, **form}
    files = {"file": (f"{name}_{version}.click", data)}
    return world.client.post("/click/uploads", data=fields, files=files, headers=world.as_(who))


def create_v2_package(world: World, who: str, name: str, version: str) -> Any:
    body = {"name": name, "version": version, "filename": f"{name}-{version}.tgz",
            "disk_format": "raw", "container_format": "bare"}  # fmt: skip
    return world.client.post("/v2/images", json=body, headers=world.as_(who))


def onboard(world: World, who: str, descriptor_id: str) -> dict[str, Any]:
    files = {"descriptor": ("p.tar.gz", package(descriptor_id))}
    answer = world.client.post("/api/upload", files=files, headers=world.as_(who))
    assert answer.status_code == 200, answer.text
    path = f"/api/upload/{answer.json()['transaction_id']}/state"
    state: dict[str, Any] = world.client.get(path, headers=world.as_(who)).json()
    return state


def get_name(world: World, name: str, who: str = "a") -> Any:
    return world.client.get(f"/v2/package-names/{name}", headers=world.as_(who))


def set_publishers(world: World, who: str, name: str, projects: list[str]) -> Any:
    return world.client.put(
        f"/v2/package-names/{name}/publishers", json={"publishers": projects},
        headers=world.as_(who),
    )  # fmt: skip


def give(world: World, who: str, name: str, project: str) -> Any:
    return world.client.put(
        f"/v2/package-names/{name}/owner", json={"owner": project}, headers=world.as_(who)
    )


def live_packages(world: World) -> list[tuple[str, str, str]]:
    """Every live package: (name, version, owner), as an administrator sees them."""
    images = world.client.get("/v2/images?limit=1000", headers=world.as_("admin")).json()
    hidden = world.client.get("/v2/images?os_hidden=true", headers=world.as_("admin")).json()
    return sorted(
        (image["name"], image.get("version"), image["owner"])
        for image in images["images"] + hidden["images"]
    )


def assert_refused_for(answer: Any, owner: str) -> None:
    assert_error(answer, 403)
    assert f"belongs to project {owner}" in answer.text, answer.text


def test_a_name_is_its_first_publishers_on_every_face(world: World) -> None:
    assert put_pnda(world, "a", "tool-1.0.tgz").status_code == 200
    for visibility in ("private", "public"):
        if visibility == "public":
            world.client.patch(
                f"/v2/images/{put_pnda(world, 'a', 'tool-1.1.tgz').json()['id']}",
                json=[{"op": "replace", "path": "/visibility", "value": "public"}],
                headers={**world.as_("admin"),
                         "content-type": "application/openstack-images-v2.1-json-patch"},
            )  # fmt: skip
        assert_refused_for(put_pnda(world, "b", "tool-2.0.tgz"), "a")
        assert_refused_for(upload_click(world, "b", "tool", "2.0"), "a")
        assert_refused_for(create_v2_package(world, "b", "tool", "2.0"), "a")
        state = onboard(world, "b", "tool")
        assert state["status"] == "failure"
        assert "belongs to project a" in state["errors"][0]["text"]
    assert live_packages(
        world,
    ) == [("tool", "1.0", "a"), ("tool", "1.1", "a")]
    # The owner publishes on any face, and another project takes names of its own.
    assert upload_click(world, "a", "tool", "3.0").status_code == 201
    assert onboard(world, "a", "tool")["status"] == "success"
    assert put_pnda(world, "b", "other-1.0.tgz").status_code == 200
    assert get_name(world, "tool", who="b").json() | {"created_at": None} == {
        "name": "tool", "owner": "a", "publishers": [], "created_at": None,
        "self": "/v2/package-names/tool",
    }  # fmt: skip


def test_an_owner_lets_others_publish_and_an_admin_gives_names_away(world: World) -> None:
    assert put_pnda(world, "a", "tool-1.0.tgz").status_code == 200
    assert set_publishers(world, "a", "tool", ["b", "b", "a"]).json()["publishers"] == ["b"]
    assert put_pnda(world, "b", "tool-2.0.tgz").status_code == 200
    assert_error(put_pnda(world, "b", "tool-1.0.tgz", b"b's"), 403)  # a's file stays a's
    assert_refused_for(put_pnda(world, "c", "tool-3.0.tgz"), "a")
    assert_error(set_publishers(world, "b", "tool", ["b", "c"]), 403)  # the owner's choice
    listed = world.client.get("/v2/package-names", headers=world.as_("b")).json()
    assert [name["name"] for name in listed["package_names"]] == ["tool"]
    # Administrators give names; members may not.
    assert_error(give(world, "a", "tool", "c"), 403)
    given = give(world, "admin", "tool", "c")
    assert given.status_code == 200 and given.json()["owner"] == "c", given.text
    assert put_pnda(world, "c", "tool-3.0.tgz").status_code == 200
    assert put_pnda(world, "b", "tool-4.0.tgz").status_code == 200  # publishers stay
    assert_refused_for(put_pnda(world, "a", "tool-5.0.tgz"), "c")
    assert set_publishers(world, "c", "tool", []).json()["publishers"] == []
    assert_refused_for(put_pnda(world, "b", "tool-6.0.tgz"), "c")
    assert_error(get_name(world, "missing"), 404)
    bad: object
    for bad in ({"publishers": "b"}, {"publishers": [1]}, {"owner": "x"}, [], {}):
        answer = world.client.put(
            "/v2/package-names/tool/publishers", json=bad, headers=world.as_("c")
        )
        assert_error(answer, 400)
    assert_error(give(world, "admin", "tool", ""), 400)


def test_names_are_compared_normalised_and_look_alikes_are_refused(world: World) -> None:
    assert put_pnda(world, "a", "tool-1.0.tgz").status_code == 200
    assert put_pnda(world, "a", "caf\u00e9-1.0.tgz").status_code == 200  # NFC
    for look_alike in ("Tool", "TOOL", "t\u043e\u043el", "t00l", "caf\u00c9", "cafe\u0301"):
        answer = put_pnda(world, "b", f"{look_alike}-2.0.tgz")
        assert_error(answer, 403)
    assert "looks like 'tool'" in put_pnda(world, "b", "t\u043e\u043el-2.0.tgz").text
    # Its owner may use its own look-alikes.
    assert put_pnda(world, "a", "Tool-2.0.tgz").status_code == 200
    assert get_name(world, "TOOL").json()["name"] == "tool"
    assert put_pnda(world, "b", "tools-1.0.tgz").status_code == 200  # another name


@pytest.mark.parametrize(
    "character", ["\u200b", "\u200d", "\u202e", "\u2066", "\u200f", "\ufeff", "\u2028"]
)
def test_invisible_characters_in_names_and_versions_are_refused(
    world: World, character: str
) -> None:
    assert_error(upload_click(world, "a", f"to{character}ol", "1.0"), 400)
    assert_error(upload_click(world, "a", "tool", f"1.{character}0"), 400)
    assert_error(create_v2_package(world, "a", f"to{character}ol", "1.0"), 400)
    assert_error(put_pnda(world, "a", f"to{character}ol-1.0.tgz"), 400)
    assert (
        live_packages(
            world,
        )
        == []
    )
    assert_error(upload_click(world, "a", "a tool", "1.0"), 400)  # outside the character set


def test_a_failed_upload_takes_no_name_and_never_blocks_its_retry(world: World) -> None:
    data = b"the package" * 100
    wrong = upload_click(world, "a", "fresh", "1.0", data, md5="0" * 32)
    assert_error(wrong, 400)
    assert (
        live_packages(
            world,
        )
        == []
    )
    # Not even the name: another project may take it.
    assert_error(get_name(world, "fresh"), 404)
    right = upload_click(world, "a", "fresh", "1.0", data, md5=hashlib.md5(data).hexdigest())
    assert right.status_code == 201, right.text
    assert live_packages(
        world,
    ) == [("fresh", "1.0", "a")]
    # Too large (the cap is 1 MiB): refused, then the same name and version succeed.
    assert_error(put_pnda(world, "a", "big-1.0.tgz", b"x" * (MiB + 1)), 413)
    assert put_pnda(world, "a", "big-1.0.tgz", b"small").status_code == 200
    assert live_packages(
        world,
    ) == [("big", "1.0", "a"), ("fresh", "1.0", "a")]


def test_a_cut_off_upload_takes_no_name(world: World) -> None:
    """A PNDA PUT and a Click upload whose client goes away halfway through."""
    app = world.client.app
    token = world.tokens["a"].encode()

    async def cut_off(method: str, path: str, head: bytes, content_type: bytes) -> None:
        messages: list[Message] = [
            {"type": "http.request", "body": head, "more_body": True},
            {"type": "http.disconnect"},
        ]

        async def receive() -> Message:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            pass

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "server": ("lading.test", 80),
            "client": ("127.0.0.1", 5000),
            "headers": [(b"host", b"lading.test"), (b"x-auth-token", token),
                        (b"content-length", b"100000"), (b"content-type", content_type)],
            "state": {},
        }  # fmt: skip
        await app(scope, receive, send)  # type: ignore[arg-type]

    world.call(
        cut_off,
        "PUT",
        "/packages/cut-1.0.tgz",
        b"x" * 5000,
        b"application/octet-stream",
    )
    boundary = b"cutcutcut"
    form = (
        b'--cutcutcut\r\nContent-Disposition: form-data; name="name"\r\n\r\nclipped\r\n'
        b'--cutcutcut\r\nContent-Disposition: form-data; name="version"\r\n\r\n1.0\r\n'
        b'--cutcutcut\r\nContent-Disposition: form-data; name="file"; filename="c.click"'
        b"\r\n\r\n" + b"y" * 5000
    )
    world.call(
        cut_off,
        "POST",
        "/click/uploads",
        form,
        b"multipart/form-data; boundary=" + boundary,
    )
    assert (
        live_packages(
            world,
        )
        == []
    )
    assert put_pnda(world, "a", "cut-1.0.tgz").status_code == 200
    assert upload_click(world, "a", "clipped", "1.0").status_code == 201
    assert live_packages(
        world,
    ) == [("clipped", "1.0", "a"), ("cut", "1.0", "a")]
    assert [entry["name"] for entry in world.client.get(
        "/packages", headers=world.as_("a")).json()] == ["clipped", "cut"]  # fmt: skip


def test_a_v2_package_takes_its_name_once_active_for_its_owner(world: World) -> None:
    def upload(who: str, image: Any, data: bytes = b"data") -> Any:
        return world.client.put(
            f"/v2/images/{image['id']}/file", content=data,
            headers={**world.as_(who), "content-type": "application/octet-stream"},
        )  # fmt: skip

    # Made but never given data: no name taken, and deleting it leaves nothing.
    ghost = create_v2_package(world, "a", "ghost", "1.0").json()
    assert_error(get_name(world, "ghost"), 404)
    world.client.delete(f"/v2/images/{ghost['id']}", headers=world.as_("a"))
    taken = create_v2_package(world, "b", "ghost", "1.0").json()
    assert upload("b", taken).status_code == 204
    assert get_name(world, "ghost").json()["owner"] == "b"
    # Two projects' queued packages under a new name: the first to become active owns it,
    # the other's upload is refused as it would become active, and its image stays queued.
    first, second = (create_v2_package(world, who, "race", version).json()
                     for who, version in (("a", "1.0"), ("b", "2.0")))  # fmt: skip
    assert upload("a", first).status_code == 204
    assert_refused_for(upload("b", second), "a")
    shown = world.client.get(f"/v2/images/{second['id']}", headers=world.as_("b")).json()
    assert shown["status"] == "queued"
    # An administrator's package made for project c is c's name.
    made = world.client.post(
        "/v2/images", headers=world.as_("admin"),
        json={"name": "ctool", "version": "1.0", "filename": "ctool-1.0.tgz", "owner": "c",
              "disk_format": "raw", "container_format": "bare"},
    )  # fmt: skip
    assert upload("admin", made.json()).status_code == 204
    assert get_name(world, "ctool").json()["owner"] == "c"


def test_a_name_too_long_once_folded_is_refused(world: World) -> None:
    # U+FDFA is one letter whose skeleton is 18 characters long.
    assert_error(upload_click(world, "a", "\ufdfa" * 100, "1.0"), 400)
    assert (
        live_packages(
            world,
        )
        == []
    )
