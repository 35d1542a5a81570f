"""The UI's pages over the services: listing, an artifact, upload and download, delete
after a confirmation, publishing, import with its task; each under the API's rules."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lading.domain import Task
from lading.services.tasks import Progress
from lading.settings import Settings
from tests.disk_images import qcow2_header
from tests.http_origin import Origin, serving
from tests.portal import call
from tests.web.conftest import AS_SCRIPT, SAME_ORIGIN, Site, open_site

ID = re.compile(r"/ui/artifacts/([0-9a-f-]{36})")


def listed(site: Site, query: str = "") -> list[str]:
    """The names the list page shows, in order."""
    page = site.browser.get(f"/ui/{query}")
    assert page.status_code == 200, page.text
    return re.findall(r'<a href="/ui/artifacts/[0-9a-f-]{36}">([^<]*)</a>', page.text)


@pytest.fixture
def both_engines(settings: Settings) -> Iterator[Site]:
    """As ``site``, on SQLite and on PostgreSQL: searching is the engine's business."""
    with open_site(settings) as site:
        yield site


def test_listing_filters_sorts_and_pages(both_engines: Site) -> None:
    site = both_engines
    site.image("member", b"x" * 10, name="Ubuntu-Noble", tags=["lts"], os_distro="ubuntu")
    site.image("member", b"x" * 30, name="ubuntu_jammy", tags=["lts", "old"], os_distro="ubuntu")
    site.image("member", None, name="cirros 100%", disk_format="qcow2")
    site.image("other", b"x" * 20, name="debian", visibility="community")
    site.image("member", b"x", name="secret", os_hidden=True)
    site.sign_in("member")

    assert sorted(listed(site)) == ["Ubuntu-Noble", "cirros 100%", "ubuntu_jammy"]
    assert sorted(listed(site, "?q=UBUNTU")) == ["Ubuntu-Noble", "ubuntu_jammy"]
    assert listed(site, "?q=_") == ["ubuntu_jammy"]  # the LIKE wildcards are plain text
    assert listed(site, "?q=100%25") == ["cirros 100%"]
    assert listed(site, "?status=queued") == ["cirros 100%"]
    assert listed(site, "?disk_format=qcow2") == ["cirros 100%"]
    assert listed(site, "?tag=old") == ["ubuntu_jammy"]
    assert sorted(listed(site, "?property=os_distro%3Dubuntu")) == ["Ubuntu-Noble", "ubuntu_jammy"]
    assert listed(site, "?visibility=community") == ["debian"]
    assert "secret" in listed(site, "?hidden=on")
    # (no size sorts as each engine sorts NULL: not compared here)
    assert listed(site, "?q=ubuntu&sort=size&direction=desc") == ["ubuntu_jammy", "Ubuntu-Noble"]
    assert listed(site, "?q=ubuntu&sort=size&direction=asc") == ["Ubuntu-Noble", "ubuntu_jammy"]

    by_name = listed(site, "?sort=name&direction=asc&visibility=all&hidden=on")
    assert by_name == sorted(by_name) and len(by_name) == 5
    first = site.browser.get("/ui/?sort=name&direction=asc&visibility=all&hidden=on&limit=25")
    assert 'rel="next"' not in first.text  # the only page
    page = site.browser.get("/ui/?sort=name&direction=asc&visibility=all&hidden=on")
    assert "ubuntu_jammy" in page.text and 'class="tags"' in page.text
    assert '<span class="key">os_distro</span>=ubuntu' in page.text


def test_paging_goes_on_by_marker(site: Site) -> None:
    for number in range(30):
        site.image("member", None, name=f"image-{number:02}")
    site.sign_in("member")
    first = site.browser.get("/ui/?sort=name&direction=asc&q=image")
    names = re.findall(r">(image-\d\d)</a>", first.text)
    assert names == [f"image-{number:02}" for number in range(25)]
    following = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert following is not None
    second = site.browser.get(following.group(1).replace("&amp;", "&"))
    assert re.findall(r">(image-\d\d)</a>", second.text) == [f"image-{n}" for n in range(25, 30)]
    assert 'rel="next"' not in second.text and "First page" in second.text
    assert site.browser.get("/ui/?marker=not-an-id").status_code == 400


def test_an_artifact_page_shows_what_the_caller_may_see(site: Site) -> None:
    data = os.urandom(5000)
    image = site.image("member", data, name="noble", tags=["lts"], os_distro="ubuntu")
    site.sign_in("member")
    page = site.browser.get(f"/ui/artifacts/{image['id']}")
    assert page.status_code == 200
    digests = hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()
    for shown in (image["id"], "active", *digests, "5,000 bytes", "os_distro", "ubuntu", "lts"):
        assert shown in page.text, shown
    assert f'href="/ui/artifacts/{image["id"]}/download"' in page.text
    assert f'href="/ui/artifacts/{image["id"]}/delete"' in page.text
    assert "publish</button>" not in page.text.lower()  # publishing is for administrators
    assert "Locations" not in page.text  # never without the settings that show them

    site.sign_in("reader")  # Glance's download_image: members, not readers
    read_only = site.browser.get(f"/ui/artifacts/{image['id']}")
    assert "Download" not in read_only.text and "Delete" not in read_only.text
    site.sign_in("admin")
    assert ">Unpublish</button>" in site.browser.get(f"/ui/artifacts/{image['id']}").text


def test_locations_are_shown_as_the_api_shows_them(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", show_multiple_locations=True)
    with open_site(settings) as site:
        image = site.image("member", b"data", name="located", visibility="community")
        site.sign_in("other")  # get_image_location: admins and the owner's project
        assert "Locations" not in site.browser.get(f"/ui/artifacts/{image['id']}").text
        site.sign_in("reader")
        shown = site.browser.get(f"/ui/artifacts/{image['id']}").text
    assert "Locations" in shown and "file://" in shown


def test_an_artifact_page_lists_only_the_tasks_the_caller_may_see(site: Site) -> None:
    """Another project sees a public artifact, not its owner's tasks (what they were given
    may carry URLs and credentials): the rule of ``GET /v2/tasks/{id}``."""
    image = site.image("member", b"data", name="shared widely")
    made_public = site.browser.patch(
        f"/v2/images/{image['id']}",
        json=[{"op": "replace", "path": "/visibility", "value": "public"}],
        headers={**site.api("admin"),
                 "content-type": "application/openstack-images-v2.1-json-patch"},
    )  # fmt: skip
    assert made_public.status_code == 200, made_public.text
    tasks = site.browser.app.state.services.tasks  # type: ignore[attr-defined]

    async def noted(task: Task, progress: Progress) -> None:
        await progress.report(0, None, "from https://user:s3cret@example.org/x")

    tasks.register("note", noted)
    task = call(
        site.browser, tasks.submit, "A", "note", {"uri": "https://example.org/x"}, image["id"]
    )
    site.sign_in("member")
    own = site.browser.get(f"/ui/artifacts/{image['id']}").text
    assert f'href="/ui/tasks/{task.id}"' in own
    assert "<dt>Created by</dt><dd>project A</dd>" in own  # lading's tokens name no user
    site.sign_in("other")
    page = site.browser.get(f"/ui/artifacts/{image['id']}")
    assert page.status_code == 200 and "shared widely" in page.text
    assert task.id[:8] not in page.text and "s3cret" not in page.text
    assert "Created by" not in page.text  # nor who in the owner's project made it
    assert site.browser.get(f"/ui/tasks/{task.id}").status_code == 404


def test_what_others_cannot_see_does_not_exist(site: Site) -> None:
    image = site.image("member", b"private data", name="ours", visibility="private")
    site.sign_in("other")
    assert "ours" not in listed(site)
    for path in ("", "/download", "/delete"):
        page = site.browser.get(f"/ui/artifacts/{image['id']}{path}")
        assert page.status_code == 404, path
        assert "private data" not in page.text
    for path in ("/delete", "/publish", "/unpublish"):
        posted = site.browser.post(
            f"/ui/artifacts/{image['id']}{path}", data={"confirm": image["id"]},
            headers=SAME_ORIGIN,
        )  # fmt: skip
        assert posted.status_code == 404, path
    unconfirmed = site.browser.post(
        f"/ui/artifacts/{image['id']}/delete", data={}, headers=SAME_ORIGIN
    )
    assert unconfirmed.status_code == 404  # not sent on to a confirmation it cannot show
    sent = site.browser.put(
        f"/ui/api/artifacts/{image['id']}/data", content=b"x", headers=AS_SCRIPT
    )
    assert sent.status_code == 404 and sent.json()["error"]["code"] == "itemNotFound"
    assert site.browser.get(f"/v2/images/{image['id']}", headers=site.api("member")).is_success


def test_a_reader_may_look_but_not_change(site: Site) -> None:
    image = site.image("member", b"data", name="ours")
    site.sign_in("reader")
    refused = site.browser.post(
        f"/ui/artifacts/{image['id']}/delete", data={"confirm": image["id"]}, headers=SAME_ORIGIN
    )
    assert refused.status_code == 403 and "delete_image" in refused.text
    made = site.browser.post("/ui/api/artifacts", data={"name": "x"}, headers=AS_SCRIPT)
    assert made.status_code == 403


def test_delete_asks_first(site: Site) -> None:
    image = site.image("member", b"data", name="doomed")
    site.sign_in("member")
    confirm = site.browser.get(f"/ui/artifacts/{image['id']}/delete")
    assert confirm.status_code == 200 and "This cannot be undone" in confirm.text
    assert f'name="confirm" value="{image["id"]}"' in confirm.text
    assert f'href="/ui/artifacts/{image["id"]}">Cancel' in confirm.text

    unconfirmed = site.browser.post(
        f"/ui/artifacts/{image['id']}/delete", data={}, headers=SAME_ORIGIN,
        follow_redirects=False,
    )  # fmt: skip
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["location"] == f"/ui/artifacts/{image['id']}/delete"
    assert site.browser.get(f"/ui/artifacts/{image['id']}").status_code == 200

    deleted = site.browser.post(
        f"/ui/artifacts/{image['id']}/delete", data={"confirm": image["id"]}, headers=SAME_ORIGIN
    )
    assert deleted.status_code == 200 and "The artifact was deleted." in deleted.text
    assert site.browser.get(f"/ui/artifacts/{image['id']}").status_code == 404
    assert (
        site.browser.get(f"/v2/images/{image['id']}", headers=site.api("member")).status_code == 404
    )


def test_protected_artifacts_offer_no_delete(site: Site) -> None:
    image = site.image("member", b"data", name="kept", protected=True)
    site.sign_in("member")
    assert "Delete" not in site.browser.get(f"/ui/artifacts/{image['id']}").text
    refused = site.browser.post(
        f"/ui/artifacts/{image['id']}/delete", data={"confirm": image["id"]}, headers=SAME_ORIGIN
    )
    assert refused.status_code == 403 and "protected" in refused.text


def test_administrators_publish_and_unpublish(site: Site) -> None:
    image = site.image("member", b"data", name="reviewed", visibility="community")
    site.sign_in("admin")
    unpublished = site.browser.post(f"/ui/artifacts/{image['id']}/unpublish", headers=SAME_ORIGIN)
    assert unpublished.status_code == 200
    assert "no longer published" in unpublished.text and ">Publish</button>" in unpublished.text
    site.sign_in("other")
    assert site.browser.get(f"/ui/artifacts/{image['id']}").status_code == 404
    site.sign_in("admin")
    site.browser.post(f"/ui/artifacts/{image['id']}/publish", headers=SAME_ORIGIN)
    site.sign_in("other")
    assert site.browser.get(f"/ui/artifacts/{image['id']}").status_code == 200
    site.sign_in("member")  # the owner, but publishing is the administrators' (policy)
    refused = site.browser.post(f"/ui/artifacts/{image['id']}/unpublish", headers=SAME_ORIGIN)
    assert refused.status_code == 403


def test_the_page_uploads_in_two_steps(site: Site) -> None:
    site.sign_in("member")
    form = site.browser.get("/ui/upload")
    assert 'enctype="multipart/form-data"' in form.text and '<label for="file">' in form.text
    created = site.browser.post(
        "/ui/api/artifacts",
        data={"name": "", "filename": "disk.img", "disk_format": "qcow2",
              "container_format": "bare", "visibility": "private", "tags": "a, b,,",
              "properties": "os_distro = debian\n\nos_version=12"},
        headers=AS_SCRIPT,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    artifact = created.json()
    assert artifact["name"] == "disk.img" and artifact["status"] == "queued"
    data = qcow2_header() + os.urandom(3 * 1024 * 1024 + 5)  # a qcow2, as declared
    sent = site.browser.put(artifact["data"], content=data, headers=AS_SCRIPT)
    assert sent.status_code == 200 and sent.json()["status"] == "active"
    image = site.browser.get(f"/v2/images/{artifact['id']}", headers=site.api("member")).json()
    assert image["size"] == len(data) and image["os_hash_value"] == hashlib.sha256(data).hexdigest()
    assert image["tags"] == ["a", "b"] and image["visibility"] == "private"
    assert image["os_distro"] == "debian" and image["os_version"] == "12"
    assert image["disk_format"] == "qcow2"
    again = site.browser.put(artifact["data"], content=b"more", headers=AS_SCRIPT)
    assert again.status_code == 409 and "not queued" in again.json()["error"]["message"]
    bad = site.browser.post(
        "/ui/api/artifacts", data={"properties": "no equals sign"}, headers=AS_SCRIPT
    )
    assert bad.status_code == 400 and "line 1" in bad.json()["error"]["message"]


def test_the_form_uploads_without_scripts(site: Site) -> None:
    site.sign_in("member")
    data = os.urandom(1024 * 1024)
    posted = site.browser.post(
        "/ui/upload",
        data={"name": "", "disk_format": "raw", "container_format": "bare", "tags": "x"},
        files={"file": ("C:\\Users\\me\\plain.iso", data, "application/octet-stream")},
        headers=SAME_ORIGIN,
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    match = ID.search(posted.headers["location"])
    assert match is not None and posted.headers["location"].endswith("?done=uploaded")
    page = site.browser.get(posted.headers["location"])
    assert "The data was uploaded." in page.text and "plain.iso" in page.text
    assert hashlib.sha256(data).hexdigest() in page.text

    # What a browser sends for a file input left empty (httpx leaves filename="" out).
    empty = (b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nlater\r\n--b\r\n'
             b'Content-Disposition: form-data; name="file"; filename=""\r\n'
             b"Content-Type: application/octet-stream\r\n\r\n\r\n--b--\r\n")  # fmt: skip
    nothing = site.browser.post(
        "/ui/upload", content=empty,
        headers={**SAME_ORIGIN, "content-type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert nothing.status_code == 200 and "without data" in nothing.text
    assert "Upload its data" in nothing.text  # the queued artifact's page offers it

    # A form whose upload fails (a part after the file) leaves no empty artifact behind.
    broken = (b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nbroken\r\n--b\r\n'
              b'Content-Disposition: form-data; name="file"; filename="f.img"\r\n\r\n'
              b"data\r\n--b\r\nContent-Disposition: form-data; name=\"late\"\r\n\r\nx\r\n"
              b"--b--\r\n")  # fmt: skip
    failed = site.browser.post(
        "/ui/upload", content=broken,
        headers={**SAME_ORIGIN, "content-type": "multipart/form-data; boundary=b"},
    )  # fmt: skip
    assert failed.status_code == 400
    listing = site.browser.get("/ui/", params={"q": "broken", "status": "queued"})
    assert "No artifacts match." in listing.text


def test_a_failed_form_leaves_nothing_even_for_who_may_not_delete(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("delete_image: [admin]\n")
    settings = Settings(data_dir=tmp_path / "data", policy_file=policy, delayed_delete=True)
    broken = (b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nbroken\r\n--b\r\n'
              b'Content-Disposition: form-data; name="file"; filename="f.img"\r\n\r\n'
              b"data\r\n--b\r\nContent-Disposition: form-data; name=\"late\"\r\n\r\nx\r\n"
              b"--b--\r\n")  # fmt: skip
    with open_site(settings) as site:
        site.sign_in("member")
        failed = site.browser.post(
            "/ui/upload", content=broken,
            headers={**SAME_ORIGIN, "content-type": "multipart/form-data; boundary=b"},
        )  # fmt: skip
        assert failed.status_code == 400
        site.sign_in("admin")
        assert "broken" not in listed(site, "?visibility=all&hidden=on")


def test_downloads_are_attachments_with_ranges(site: Site) -> None:
    data = os.urandom(100_000)
    image = site.image("member", data, name="café image.img")
    site.sign_in("member")
    got = site.browser.get(f"/ui/artifacts/{image['id']}/download")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"caf_ image.img\"; filename*=UTF-8''caf%C3%A9%20image.img"
    )
    assert got.headers["cache-control"] == "private, no-cache"
    part = site.browser.get(
        f"/ui/artifacts/{image['id']}/download", headers={"range": "bytes=10-19"}
    )
    assert part.status_code == 206 and part.content == data[10:20]
    empty = site.image("member", None, name="empty")
    assert site.browser.get(f"/ui/artifacts/{empty['id']}/download").status_code == 409


def follow(site: Site, task_id: str) -> tuple[dict[str, Any], list[int]]:
    """A task's state once finished, as the task page's script polls it, and the bytes
    it told on the way."""
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state: dict[str, Any] = site.browser.get(
            f"/ui/api/tasks/{task_id}", headers=AS_SCRIPT
        ).json()
        seen.append(state["done_bytes"])
        if state["finished"]:
            return state, seen
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} is still {state['status']}")


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(os.urandom(2 * 1024 * 1024)) as server:
        yield server


def test_an_import_shows_its_task(tmp_path: Path, origin: Origin) -> None:
    port = origin.server_address[1]
    settings = Settings(
        data_dir=tmp_path / "data", task_poll_interval=0.05,
        fetch={"allowed_hosts": ["127.0.0.1"], "allowed_ports": [port]},
    )  # fmt: skip
    with open_site(settings) as site:
        site.sign_in("member")
        assert '<label for="url">' in site.browser.get("/ui/import").text
        started = site.browser.post(
            "/ui/import", data={"url": origin.url("/slow"), "tags": "fetched", "name": ""},
            headers=SAME_ORIGIN, follow_redirects=False,
        )  # fmt: skip
        assert started.status_code == 303 and started.headers["location"].startswith("/ui/tasks/")
        task_id = started.headers["location"].rpartition("/")[2]
        page = site.browser.get(started.headers["location"])
        assert page.status_code == 200 and 'aria-live="polite"' in page.text
        assert 'http-equiv="refresh"' in page.text  # without scripts, the page reloads itself

        state, seen = follow(site, task_id)
        assert state["status"] == "success", state
        assert any(0 < done < len(origin.data) for done in seen)  # progress as it went
        assert state["done_bytes"] == len(origin.data) and state["artifact"].startswith(
            "/ui/artifacts/"
        )
        finished = site.browser.get(f"/ui/tasks/{task_id}")
        assert "http-equiv" not in finished.text and "Open the artifact" in finished.text
        artifact = site.browser.get(state["artifact"])
        assert "slow" in artifact.text and "active" in artifact.text  # named after the URL
        assert hashlib.sha256(origin.data).hexdigest() in artifact.text
        assert f'href="/ui/tasks/{task_id}"' in artifact.text

        site.sign_in("other")
        assert site.browser.get(f"/ui/tasks/{task_id}").status_code == 404
        site.sign_in("member")
        refused = site.browser.post(
            "/ui/import", data={"url": "http://169.254.169.254/latest"}, headers=SAME_ORIGIN
        )
        assert refused.status_code == 400 and "not allowed" in refused.text
