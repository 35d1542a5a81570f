"""The Python package index face (``lading.api.pypi``): simple pages in HTML and JSON,
uploads as twine sends them, names owned by projects, yanks, deletes, private indexes and
layered ones, in-process on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import re
from collections.abc import Mapping
from typing import Any

import httpx2
import pytest
from sqlalchemy import create_engine, func, select

from lading.app import create_app
from lading.db.models import blobs, pypi_files
from lading.settings import (
    PypiIndexSettings,
    PypiSettings,
    QuotaLimits,
    QuotaSettings,
    Settings,
    WebhookSettings,
)
from tests.python_dists import Dist, metadata, sdist, wheel
from tests.webhook_receiver import receiving
from tests.world import World, open_world

IDENTITIES = {
    "owner": ("A", "member"),
    "other": ("B", "member"),
    "reader": ("A", "reader"),
    "admin": ("ops", "admin"),
}
JSON_V1 = "application/vnd.pypi.simple.v1+json"
# pip's Accept header, as it sends it.
PIP_ACCEPT = f"{JSON_V1}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


@pytest.fixture
def identities() -> Mapping[str, tuple[str, str]]:
    return IDENTITIES


@pytest.fixture
def world_settings(settings: Settings) -> Settings:
    team = PypiIndexSettings(owner="A", visibility="private", bases=["main"])
    return settings.model_copy(update={"pypi": PypiSettings(indexes={"team": team})})


def basic(world: World, who: str) -> dict[str, str]:
    if who == "anonymous":
        return {}
    credentials = base64.b64encode(f"__token__:{world.tokens[who]}".encode()).decode()
    return {"authorization": f"Basic {credentials}"}


def upload(
    world: World, dist: Dist, who: str = "owner", index: str = "main", **overrides: str
) -> httpx2.Response:
    return world.client.post(
        f"/pypi/{index}/", data=dist.fields(**overrides),
        files={"content": (dist.filename, dist.data, "application/octet-stream")},
        headers=basic(world, who),
    )  # fmt: skip


def page(world: World, path: str, who: str = "owner", accept: str | None = None) -> httpx2.Response:
    headers = basic(world, who) | ({"accept": accept} if accept else {})
    return world.client.get(path, headers=headers, follow_redirects=False)


def links(text: str) -> list[dict[str, str]]:
    """Each anchor of a simple page: its attributes, and its text as ``text``."""
    found = []
    for attributes, label in re.findall(r"<a ([^>]*)>([^<]*)</a>", text):
        entry = {
            key: html.unescape(value)
            for key, value in re.findall(r'([\w-]+)="([^"]*)"', attributes)
        }
        found.append({**entry, "text": html.unescape(label)})
    return found


def count_rows(world: World, table: Any) -> int:
    engine = create_engine(world.settings.resolved_database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def test_a_wheel_is_listed_with_its_hash_requires_python_and_core_metadata(world: World) -> None:
    dist = wheel("Demo_Tool", "1.0", requires_python=">=3.8,<4")
    assert upload(world, dist).status_code == 200
    answer = page(world, "/pypi/main/simple/demo-tool/", "anonymous")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert '<meta name="pypi:repository-version" content="1.1">' in answer.text
    assert 'data-requires-python="&gt;=3.8,&lt;4"' in answer.text  # escaped, as PEP 503 says
    (link,) = links(answer.text)
    sha256 = hashlib.sha256(dist.data).hexdigest()
    assert link["text"] == dist.filename
    assert link["href"] == f"../../files/demo-tool/{dist.filename}#sha256={sha256}"
    core = metadata("Demo_Tool", "1.0", ">=3.8,<4").encode()
    assert link["data-core-metadata"] == f"sha256={hashlib.sha256(core).hexdigest()}"
    assert link["data-dist-info-metadata"] == link["data-core-metadata"]
    assert link["data-requires-python"] == ">=3.8,<4"
    url = f"/pypi/main/files/demo-tool/{dist.filename}"
    assert world.client.get(url).content == dist.data
    assert world.client.get(url + ".metadata").content == core
    assert (
        world.client.get("/pypi/main/simple/", headers={"accept": "text/html"}).text.count(
            '<a href="demo-tool/">demo-tool</a>'
        )
        == 1
    )


def test_json_pages_by_content_negotiation_with_pep_700_fields(world: World) -> None:
    upload(world, sdist("demo", "1.0"))
    upload(world, wheel("demo", "1.0"))
    upload(world, wheel("demo", "0.9"))
    upload(world, wheel("demo", "1.10"))
    answer = page(world, "/pypi/main/simple/demo/", accept=PIP_ACCEPT)
    assert answer.headers["content-type"] == JSON_V1
    assert "Accept" in answer.headers["vary"]
    body = answer.json()
    assert body["meta"] == {"api-version": "1.1"}
    assert body["name"] == "demo"
    assert body["versions"] == ["0.9", "1.0", "1.10"]  # PEP 440's order
    files = {file["filename"]: file for file in body["files"]}
    tarball = files["demo-1.0.tar.gz"]
    assert tarball["core-metadata"] is False and tarball["yanked"] is False
    assert tarball["size"] == len(sdist("demo", "1.0").data)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", tarball["upload-time"])
    assert tarball["url"] == "../../files/demo/demo-1.0.tar.gz"
    assert set(files["demo-1.0-py3-none-any.whl"]["core-metadata"]) == {"sha256"}
    root = page(world, "/pypi/main/simple/", accept=JSON_V1).json()
    assert root == {"meta": {"api-version": "1.1"}, "projects": [{"name": "demo"}]}
    html_v1 = page(world, "/pypi/main/simple/demo/", accept="application/vnd.pypi.simple.v1+html")
    assert html_v1.headers["content-type"].startswith("application/vnd.pypi.simple.v1+html")
    assert page(world, "/pypi/main/simple/demo/", accept="application/xml").status_code == 406
    again = world.client.get(
        "/pypi/main/simple/demo/",
        headers={"if-none-match": answer.headers["etag"], "accept": JSON_V1},
    )
    assert again.status_code == 304


def test_names_that_are_not_normal_redirect_to_the_normal_one(world: World) -> None:
    upload(world, wheel("Demo.Tool", "1.0"))
    for path in ("/pypi/main/simple/Demo.Tool/", "/pypi/main/simple/demo__tool/",
                 "/pypi/main/simple/demo-tool"):  # fmt: skip
        answer = page(world, path)
        assert answer.status_code == 301, path
        assert answer.headers["location"] == "/pypi/main/simple/demo-tool/"
    assert page(world, "/pypi/main/simple/missing/").status_code == 404


@pytest.mark.parametrize("field", ["md5_digest", "sha256_digest", "blake2_256_digest"])
def test_a_wrong_digest_is_refused_and_nothing_is_kept(world: World, field: str) -> None:
    dist = wheel("demo", "1.0")
    wrong = "0" * (32 if field == "md5_digest" else 64)
    answer = upload(world, dist, **{field: wrong})
    assert answer.status_code == 400 and field in answer.text
    assert page(world, "/pypi/main/simple/demo/").status_code == 404
    assert count_rows(world, pypi_files) == 0
    assert count_rows(world, blobs) == 0
    assert upload(world, dist).status_code == 200  # the name was not taken either


@pytest.mark.parametrize(
    ("dist", "fields"),
    [(wheel("demo", "1.0"), {"version": "1.1"}), (wheel("demo", "1.0"), {"name": "other"}),
     (sdist("demo", "1.0"), {"filetype": "bdist_wheel"}),
     (wheel("demo", "1.0"), {"filetype": "bdist_egg"}),
     (wheel("demo", "1.0"), {"version": "not a version"}),
     (wheel("demo", "1.0"), {"name": "../etc"})],
    ids=["version", "name", "sdist-as-wheel", "egg", "bad-version", "bad-name"],
)  # fmt: skip
def test_a_file_name_that_is_not_the_upload_is_refused(
    world: World, dist: Dist, fields: dict[str, str]
) -> None:
    answer = upload(world, dist, **fields)
    assert answer.status_code == 400, answer.text
    assert count_rows(world, pypi_files) == 0


def test_a_wheel_whose_metadata_is_of_another_release_is_refused(world: World) -> None:
    other = wheel("demo", "2.0")
    lying = Dist("demo-1.0-py3-none-any.whl", other.data, "demo", "1.0", "bdist_wheel")
    answer = upload(world, lying)
    assert answer.status_code == 400 and "METADATA" in answer.text
    not_zip = Dist("demo-1.0-py3-none-any.whl", b"not a zip", "demo", "1.0", "bdist_wheel")
    assert upload(world, not_zip).status_code == 400
    assert count_rows(world, blobs) == 0


def test_a_file_uploaded_twice_is_400_already_exists_as_pypi_says(world: World) -> None:
    dist = wheel("demo", "1.0")
    assert upload(world, dist).status_code == 200
    again = upload(world, dist)
    assert again.status_code == 400 and "already exists" in again.text  # twine's --skip-existing
    assert again.headers["content-type"].startswith("text/plain")


def test_a_project_name_belongs_to_the_first_lading_project_to_upload_it(world: World) -> None:
    assert upload(world, wheel("demo", "1.0"), "owner").status_code == 200
    refused = upload(world, wheel("Demo", "2.0"), "other")  # one name, once normalised
    assert refused.status_code == 403 and "belongs to lading project A" in refused.text
    assert upload(world, wheel("demo", "2.0"), "admin").status_code == 200
    assert upload(world, wheel("demo", "3.0"), "reader").status_code == 403
    anonymous = upload(world, wheel("demo", "4.0"), "anonymous")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="lading"'


def test_yank_with_a_reason_unyank_and_delete(world: World) -> None:
    upload(world, wheel("demo", "1.0"))
    upload(world, sdist("demo", "1.0"))
    upload(world, wheel("demo", "2.0"))
    yanked = world.client.post(
        "/pypi/main/projects/demo/1.0/yank", json={"reason": 'broken "<b>"'},
        headers=basic(world, "owner"),
    )  # fmt: skip
    assert yanked.json() == {"files": 2}
    found = {link["text"]: link for link in links(page(world, "/pypi/main/simple/demo/").text)}
    assert found["demo-1.0.tar.gz"]["data-yanked"] == 'broken "<b>"'
    assert "data-yanked" not in found["demo-2.0-py3-none-any.whl"]
    body = page(world, "/pypi/main/simple/demo/", accept=JSON_V1).json()
    assert {file["yanked"] for file in body["files"]} == {'broken "<b>"', False}
    assert (
        world.client.post(
            "/pypi/main/projects/demo/1.0/yank", headers=basic(world, "other")
        ).status_code
        == 403
    )
    world.client.post("/pypi/main/projects/demo/1.0/unyank", headers=basic(world, "owner"))
    assert "data-yanked" not in page(world, "/pypi/main/simple/demo/").text
    gone = world.request("DELETE", "/pypi/main/files/demo/demo-2.0-py3-none-any.whl", "owner")
    assert gone.json() == {"files": 1}
    assert world.request("DELETE", "/pypi/main/projects/demo/1.0", "other").status_code == 403
    assert world.request("DELETE", "/pypi/main/projects/demo/1.0", "owner").json() == {"files": 2}
    assert page(world, "/pypi/main/simple/demo/", accept=JSON_V1).json()["files"] == []
    assert count_rows(world, blobs) == 0  # the bytes went with the last reference


def test_a_private_index_is_read_by_its_project_and_admins_only(world: World) -> None:
    assert upload(world, wheel("secret", "1.0"), index="team").status_code == 200
    anonymous = page(world, "/pypi/team/simple/", "anonymous")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="lading"'
    assert page(world, "/pypi/team/simple/secret/", "other").status_code == 404
    assert (
        page(world, "/pypi/team/files/secret/secret-1.0-py3-none-any.whl", "other").status_code
        == 404
    )
    assert upload(world, wheel("mine", "1.0"), "other", index="team").status_code == 404
    assert page(world, "/pypi/team/simple/secret/", "reader").status_code == 200
    assert page(world, "/pypi/team/simple/secret/", "admin").status_code == 200
    assert "private" in page(world, "/pypi/team/simple/secret/").headers["cache-control"]
    assert page(world, "/pypi/nowhere/simple/", "anonymous").status_code == 401
    assert page(world, "/pypi/nowhere/simple/", "owner").status_code == 404


def test_a_name_in_the_private_index_is_never_taken_from_the_one_beneath(world: World) -> None:
    """Dependency confusion: someone publishes ``internal-lib`` 99.0 in the public index
    beneath; the team's index has ``internal-lib`` 1.0 and keeps serving 1.0 alone."""
    assert upload(world, wheel("internal-lib", "1.0"), "owner", index="team").status_code == 200
    assert upload(world, wheel("internal_lib", "99.0"), "other", index="main").status_code == 200
    assert upload(world, wheel("public-lib", "2.0"), "other", index="main").status_code == 200
    body = page(world, "/pypi/team/simple/internal-lib/", accept=JSON_V1).json()
    assert body["versions"] == ["1.0"]
    assert [file["filename"] for file in body["files"]] == ["internal_lib-1.0-py3-none-any.whl"]
    shadowed = "/pypi/team/files/internal-lib/internal_lib-99.0-py3-none-any.whl"
    assert page(world, shadowed).status_code == 404
    # Even with every file of the upper project gone, its name stays there: never merged.
    world.request("DELETE", "/pypi/team/projects/internal-lib/1.0", "owner")
    assert page(world, "/pypi/team/simple/internal-lib/", accept=JSON_V1).json()["files"] == []
    # What only the index beneath has is served through the upper one.
    public = page(world, "/pypi/team/simple/public-lib/", accept=JSON_V1).json()
    assert public["versions"] == ["2.0"]
    file = public["files"][0]["url"]
    fetched = world.client.get(
        f"/pypi/team/simple/public-lib/{file}", headers=basic(world, "owner")
    )
    assert fetched.content == wheel("public-lib", "2.0").data
    names = page(world, "/pypi/team/simple/", accept=JSON_V1).json()["projects"]
    assert names == [{"name": "internal-lib"}, {"name": "public-lib"}]
    # The public index alone still has its own.
    assert page(world, "/pypi/main/simple/internal-lib/", accept=JSON_V1).json()["versions"] == [
        "99.0"
    ]


def test_indexes_are_made_by_administrators_through_the_api(world: World) -> None:
    body = {"owner": "B", "visibility": "private", "bases": ["main"]}
    assert world.request("PUT", "/pypi/mirror/", "owner", json=body).status_code == 403
    made = world.request("PUT", "/pypi/mirror/", "admin", json=body)
    assert made.status_code == 200 and made.json()["bases"] == ["main"]
    assert upload(world, wheel("tool", "1.0"), "other", index="mirror").status_code == 200
    assert page(world, "/pypi/mirror/simple/tool/", "other").status_code == 200
    assert page(world, "/pypi/mirror/simple/tool/", "owner").status_code == 404
    listed = [index["name"] for index in world.request("GET", "/pypi/", "other").json()["indexes"]]
    assert listed == ["main", "mirror"]
    loop = world.request("PUT", "/pypi/main2/", "admin", json={"bases": ["mirror"]})
    assert loop.status_code == 200
    cycle = world.request("PUT", "/pypi/mirror/", "admin", json={**body, "bases": ["main2"]})
    assert cycle.status_code == 409
    assert world.request("PUT", "/pypi/main/", "admin", json=body).status_code == 409
    assert world.request("DELETE", "/pypi/mirror/", "admin").status_code == 409  # it has files
    world.request("DELETE", "/pypi/mirror/projects/tool/1.0", "other")
    assert world.request("DELETE", "/pypi/main2/", "admin").status_code == 204
    assert world.request("DELETE", "/pypi/mirror/", "admin").status_code == 204
    assert page(world, "/pypi/mirror/simple/", "admin").status_code == 404


def test_errors_are_plain_text_or_json_when_asked(world: World) -> None:
    answer = page(world, "/pypi/main/simple/missing/")
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.text.startswith("404 Not Found\n\nindex main has no project missing")
    asked = world.client.get("/pypi/main/simple/missing/", headers={"accept": "application/json"})
    assert asked.json()["itemNotFound"]["code"] == 404


def test_hostile_uploads_are_refused_without_a_500(world: World) -> None:
    dist = wheel("demo", "1.0")
    headers = basic(world, "owner")
    cases: list[dict[str, Any]] = [
        {"data": dist.fields(), "files": {"content": ("../../evil.whl", dist.data)}},
        {"data": dist.fields(), "files": {"other": (dist.filename, dist.data)}},
        {
            "data": dist.fields(**{":action": "remove_pkg"}),
            "files": {"content": (dist.filename, dist.data)},
        },
        {
            "data": dist.fields(protocol_version="2"),
            "files": {"content": (dist.filename, dist.data)},
        },
        {"data": dist.fields(sha256_digest="zz"), "files": {"content": (dist.filename, dist.data)}},
        {"data": {"name": "demo"}, "files": {"content": (dist.filename, dist.data)}},
    ]
    for case in cases:
        answer = world.client.post("/pypi/main/", headers=headers, **case)
        assert answer.status_code == 400, (case["data"], answer.text)
    assert world.client.post("/pypi/main/", headers=headers, content=b"x").status_code == 400
    bad_basic = {"authorization": "Basic !!!"}
    assert world.client.get("/pypi/main/simple/", headers=bad_basic).status_code == 401
    assert count_rows(world, pypi_files) == 0


def test_a_file_answers_head_and_its_etag_is_its_sha256(world: World) -> None:
    dist = wheel("demo", "1.0")
    upload(world, dist)
    url = f"/pypi/main/files/demo/{dist.filename}"
    head = world.client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(dist.data))
    assert head.headers["etag"] == f'"{hashlib.sha256(dist.data).hexdigest()}"'
    assert world.client.get(f"/pypi/main/files/demo/{dist.filename}x").status_code == 404
    sdist_metadata = world.client.get("/pypi/main/files/demo/demo-1.0.tar.gz.metadata")
    assert sdist_metadata.status_code == 404


def test_a_file_over_the_cap_is_413_and_kept_nowhere(world_settings: Settings) -> None:
    small = world_settings.model_copy(
        update={"pypi": world_settings.pypi.model_copy(update={"file_size_cap": 600})}
    )
    with open_world(create_app(small), IDENTITIES) as world:
        dist = wheel("demo", "1.0")
        assert len(dist.data) > 600
        answer = upload(world, dist)
        assert answer.status_code == 413, answer.text
        assert count_rows(world, blobs) == 0 and count_rows(world, pypi_files) == 0


def quota_world(world_settings: Settings, limit: int) -> contextlib.AbstractContextManager[World]:
    quota = QuotaSettings(projects={"A": QuotaLimits(bytes=limit)})
    return open_world(create_app(world_settings.model_copy(update={"quota": quota})), IDENTITIES)


def used_bytes(world: World, who: str) -> int:
    usage = world.request("GET", "/v2/info/usage", who).json()["usage"]
    return int(usage["image_size_total"]["usage"])


def test_index_files_count_in_the_byte_quota_of_the_names_owner(world_settings: Settings) -> None:
    """One total with every face's bytes (/v2/info/usage tells it), paid by the project
    that owns the name even when an administrator of another project uploads."""
    first, second = wheel("demo", "1.0"), wheel("demo", "2.0")
    with quota_world(world_settings, 10 * len(first.data)) as world:
        assert upload(world, first).status_code == 200
        assert used_bytes(world, "owner") == len(first.data)
        assert upload(world, second, "admin").status_code == 200  # under A's name: A pays
        assert used_bytes(world, "owner") == len(first.data) + len(second.data)
        assert used_bytes(world, "admin") == 0
        image = world.request("POST", "/v2/images", "owner",
                              json={"disk_format": "raw", "container_format": "bare"})  # fmt: skip
        world.request("PUT", f"/v2/images/{image.json()['id']}/file", "owner", content=b"x" * 100,
                      headers={"content-type": "application/octet-stream"})  # fmt: skip
        assert used_bytes(world, "owner") == len(first.data) + len(second.data) + 100
        # The same bytes in another index of A's cost nothing more (one blob).
        assert upload(world, first, index="team").status_code == 200
        assert used_bytes(world, "owner") == len(first.data) + len(second.data) + 100
        world.request("DELETE", f"/pypi/main/files/demo/{second.filename}", "owner")
        assert used_bytes(world, "owner") == len(first.data) + 100


def test_an_upload_past_the_quota_is_403_and_nothing_is_kept(world_settings: Settings) -> None:
    first, second = wheel("demo", "1.0"), wheel("demo", "2.0")
    with quota_world(world_settings, len(first.data) + len(second.data) // 2) as world:
        assert upload(world, first).status_code == 200
        refused = upload(world, second)
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("text/plain")
        assert refused.text.startswith("403 Forbidden\n\nquota exceeded: adding ")
        assert "lading project A holds would pass its quota of" in refused.text
        assert count_rows(world, pypi_files) == 1 and count_rows(world, blobs) == 1
        # A new name is the uploader's: its quota, refused the same, and no name is taken.
        assert upload(world, wheel("fresh", "1.0")).status_code == 403
        assert page(world, "/pypi/main/simple/fresh/").status_code == 404
        world.request("DELETE", f"/pypi/main/files/demo/{first.filename}", "owner")
        assert upload(world, second).status_code == 200
        # Another project's name is its own quota's business.
        assert upload(world, wheel("theirs", "1.0"), "other").status_code == 200


SECRET = "webhook-secret-" + "s" * 24


def test_uploads_yanks_unyanks_and_deletes_are_told_to_webhooks(world_settings: Settings) -> None:
    """Each once, in the change's transaction: what fails or changes nothing tells nothing."""
    with receiving({"/all": SECRET, "/pypi": SECRET, "/images": SECRET}) as receiver:
        webhooks: dict[str, dict[str, Any]] = {
            "all": {"url": receiver.url("/all"), "secret": SECRET},
            "pypi": {"url": receiver.url("/pypi"), "secret": SECRET, "events": ["pypi.yanked"]},
            "images": {"url": receiver.url("/images"), "secret": SECRET,
                       "events": ["artifact.*", "image.*"]},
        }  # fmt: skip
        settings = world_settings.model_copy(
            update={
                "task_poll_interval": 0.02,
                "webhooks": {name: WebhookSettings(**hook) for name, hook in webhooks.items()},
            }
        )
        with open_world(create_app(settings), IDENTITIES) as world:
            whl, tarball = wheel("Demo_Tool", "1.0"), sdist("demo-tool", "1.0")
            assert upload(world, whl).status_code == 200
            assert upload(world, tarball, "admin").status_code == 200
            assert upload(world, whl).status_code == 400  # exists: told nothing
            assert upload(world, wheel("demo-tool", "2.0"), "other").status_code == 403
            yank = "/pypi/main/projects/demo-tool/1.0/yank"
            for _ in range(2):  # the second changes nothing
                world.request("POST", yank, "owner", json={"reason": "broken"})
            world.request("POST", "/pypi/main/projects/demo-tool/1.0/unyank", "owner")
            world.request("DELETE", f"/pypi/main/files/demo-tool/{whl.filename}", "owner")
            world.request("DELETE", "/pypi/main/projects/demo-tool/1.0", "admin")
            world.settled()
    assert all(delivery.verified for delivery in receiver.deliveries)
    # Deliveries come in any order: each event is known by its type and files.
    both = tuple(sorted([tarball.filename, whl.filename]))
    events = {
        (d.event["type"], tuple(sorted(f["filename"] for f in d.event["data"]["files"]))): d.event
        for d in receiver.to("/all")
    }
    assert len(receiver.to("/all")) == len(events) == 6
    assert set(events) == {
        ("pypi.uploaded", (whl.filename,)), ("pypi.uploaded", (tarball.filename,)),
        ("pypi.yanked", both), ("pypi.unyanked", both),
        ("pypi.deleted", (whl.filename,)), ("pypi.deleted", (tarball.filename,)),
    }  # fmt: skip
    first = events["pypi.uploaded", (whl.filename,)]
    assert first["actor"] == {"project_id": "A", "user_id": None}
    assert events["pypi.uploaded", (tarball.filename,)]["actor"] == {
        "project_id": "ops", "user_id": None,
    }  # fmt: skip
    data = first["data"]
    assert {key: data[key] for key in ("index", "project", "name", "owner", "version")} == {
        "index": "main", "project": "demo-tool", "name": "Demo_Tool", "owner": "A",
        "version": "1.0",
    }  # fmt: skip
    (file,) = data["files"]
    assert file["sha256"] == hashlib.sha256(whl.data).hexdigest()
    assert file["size"] == len(whl.data) and file["filetype"] == "bdist_wheel"
    assert file["core_metadata_sha256"] is not None and file["yanked"] is False
    assert {f["yanked_reason"] for f in events["pypi.yanked", both]["data"]["files"]} == {"broken"}
    assert {f["yanked"] for f in events["pypi.unyanked", both]["data"]["files"]} == {False}
    assert [delivery.event["type"] for delivery in receiver.to("/pypi")] == ["pypi.yanked"]
    assert receiver.to("/images") == []  # index files are no images


REUSED = "This filename has already been used, use a different version."


def test_a_deleted_files_name_is_never_uploaded_again_unless_an_admin_allows_it(
    world: World,
) -> None:
    """PyPI's rule: an installer that saw a file's hash never finds other bytes under its
    name. The release's other files, and other versions, are not touched."""
    first, tarball = wheel("demo", "1.0"), sdist("demo", "1.0")
    upload(world, first)
    upload(world, tarball)
    world.request("DELETE", f"/pypi/main/files/demo/{first.filename}", "owner")
    again = upload(world, first)
    assert again.status_code == 400 and again.text.startswith(f"400 Bad Request\n\n{REUSED}")
    assert "already exist" not in again.text  # twine's --skip-existing does not skip it
    assert upload(world, first, "admin").status_code == 400  # an administrator neither
    assert count_rows(world, blobs) == 1  # the tarball's: refused before the bytes
    world.request("DELETE", "/pypi/main/projects/demo/1.0", "owner")
    assert upload(world, tarball).status_code == 400  # a release's delete burns its files
    assert upload(world, wheel("demo", "1.1")).status_code == 200
    allow = f"/pypi/main/deleted-files/{first.filename}"
    assert world.request("DELETE", allow, "owner").status_code == 403
    assert world.request("DELETE", allow, "admin").status_code == 204
    assert world.request("DELETE", allow, "admin").status_code == 404  # not burned now
    assert upload(world, first).status_code == 200
    assert upload(world, tarball).status_code == 400  # still burned
    # A removed index's burned names go with it: a new index of its name starts empty.
    world.request("PUT", "/pypi/scratch/", "admin", json={"visibility": "public"})
    upload(world, wheel("tool", "1.0"), index="scratch")
    world.request("DELETE", "/pypi/scratch/projects/tool/1.0", "owner")
    assert world.request("DELETE", "/pypi/scratch/", "admin").status_code == 204
    world.request("PUT", "/pypi/scratch/", "admin", json={"visibility": "public"})
    assert upload(world, wheel("tool", "1.0"), index="scratch").status_code == 200


def test_an_sdist_has_no_core_metadata_as_on_pypi(world: World) -> None:
    """PEP 658 leaves an sdist's metadata to the index; PyPI serves none, nor does lading."""
    tarball = sdist("demo", "1.0")
    upload(world, tarball)
    (link,) = links(page(world, "/pypi/main/simple/demo/").text)
    assert "data-core-metadata" not in link and "data-dist-info-metadata" not in link
    (file,) = page(world, "/pypi/main/simple/demo/", accept=JSON_V1).json()["files"]
    assert file["core-metadata"] is False and file["dist-info-metadata"] is False
    url = f"/pypi/main/files/demo/{tarball.filename}.metadata"
    assert world.client.get(url).status_code == 404
