"""The legacy PATCH of /v2/images/{id}/locations (add, replace, remove), as Nova, Cinder
and Tempest send it, with ``show_multiple_locations`` on."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from starlette.testclient import TestClient

from lading.app import create_app
from lading.db.models import tasks
from lading.settings import Settings
from tests.api.helpers import assert_error
from tests.http_origin import Origin, serving
from tests.portal import call

DATA = b"external bytes " * 1000
PATCH = {"content-type": "application/openstack-images-v2.1-json-patch"}
OLDER = {"content-type": "application/openstack-images-v2.0-json-patch"}
SHA512 = hashlib.sha512(DATA).hexdigest()
MD5 = hashlib.md5(DATA).hexdigest()


class Project:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.headers = client, {"x-auth-token": token}

    def create(self) -> dict[str, Any]:
        body = {"name": "located", "disk_format": "raw", "container_format": "bare"}
        created = self.client.post("/v2/images", json=body, headers=self.headers)
        assert created.status_code == 201, created.text
        return dict(created.json())

    def show(self, image_id: str) -> dict[str, Any]:
        return dict(self.client.get(f"/v2/images/{image_id}", headers=self.headers).json())

    def patch(self, image_id: str, operations: Any, older: bool = False) -> Any:
        headers = {**self.headers, **(OLDER if older else PATCH)}
        return self.client.patch(f"/v2/images/{image_id}", json=operations, headers=headers)

    def add(self, image_id: str, url: str, **extra: Any) -> Any:
        value = {"url": url, "metadata": {}, **extra}
        return self.patch(image_id, [{"op": "add", "path": "/locations/-", "value": value}])


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(DATA) as server:
        yield server


def _settings(
    tmp_path: Path, database_url: str, origin: Origin, shown: bool, *more: Origin, **extra: Any
) -> Settings:
    ports = [server.server_address[1] for server in (origin, *more)]
    return Settings(
        data_dir=tmp_path / "data", database_url=database_url, default_store="local",
        stores={"local": {"type": "filesystem"}, "web": {"type": "http"}},
        fetch={"allowed_hosts": ["127.0.0.1"], "allowed_ports": ports},
        show_multiple_locations=shown, **extra,
    )  # fmt: skip


@pytest.fixture
def projects(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[dict[str, Project]]:
    # validation_data as the client's word; test_secure_hash_* hash the data
    app = create_app(_settings(tmp_path, database_url, origin, True, do_secure_hash=False))
    with TestClient(app, base_url="http://lading.test") as client:
        make = app.state.services.identities.create
        yield {
            name: Project(client, call(client, make, project, role).token)
            for name, project, role in [
                ("owner", "owner", "member"),
                ("reader", "owner", "reader"),
                ("other", "other", "member"),
                ("admin", "admins", "admin"),
            ]
        }


def test_the_first_location_makes_a_queued_image_active_and_serves_its_bytes(
    projects: dict[str, Project], origin: Origin
) -> None:
    owner = projects["owner"]
    image = owner.create()
    assert image["status"] == "queued" and image["locations"] == []
    added = owner.add(image["id"], origin.url("/plain"), metadata={"foo": "bar"})
    assert added.status_code == 200, added.text
    shown = owner.show(image["id"])
    assert shown["status"] == "active" and shown["size"] == len(DATA)
    assert shown["locations"] == [{"url": origin.url("/plain"), "metadata": {"foo": "bar"}}]
    assert shown["os_hash_algo"] is None and shown["checksum"] is None  # nothing vouched
    download = owner.client.get(f"/v2/images/{image['id']}/file", headers=owner.headers)
    assert download.status_code == 200 and download.content == DATA


def test_add_in_order_replace_metadata_and_remove(
    projects: dict[str, Project], origin: Origin
) -> None:
    owner, admin = projects["owner"], projects["admin"]
    image_id = owner.create()["id"]
    first, second = origin.url("/plain"), origin.url("/plain#new")
    assert owner.add(image_id, first).status_code == 200
    older = [{"add": "/locations/0", "value": {"url": second, "metadata": {"speed": "88mph"}}}]
    assert owner.patch(image_id, older, older=True).status_code == 200  # before the first
    assert [place["url"] for place in owner.show(image_id)["locations"]] == [second, first]
    assert_error(owner.add(image_id, first), 400)  # already there
    locations = owner.show(image_id)["locations"]

    # The same URLs may be given again, with other metadata or order; nothing else.
    locations[1]["metadata"]["date"] = "2015-10-15"
    swapped = [locations[1], locations[0]]
    replaced = owner.patch(image_id, [{"op": "replace", "path": "/locations", "value": swapped}])
    assert replaced.status_code == 200, replaced.text
    assert owner.show(image_id)["locations"] == swapped
    for refused in ([swapped[0]], [swapped[0], {"url": origin.url("/plain#x"), "metadata": {}}]):
        operation = [{"op": "replace", "path": "/locations", "value": refused}]
        assert_error(owner.patch(image_id, operation), 400)
    assert owner.show(image_id)["locations"] == swapped

    # Removing is for administrators (delete_image_location), never the last one.
    remove = [{"op": "remove", "path": "/locations/0"}]
    assert_error(owner.patch(image_id, remove), 403)
    assert_error(admin.patch(image_id, [{"op": "remove", "path": "/locations/2"}]), 400)
    assert admin.patch(image_id, remove).status_code == 200
    assert [place["url"] for place in owner.show(image_id)["locations"]] == [second]
    assert_error(admin.patch(image_id, remove), 403)
    assert owner.client.get(f"/v2/images/{image_id}/file", headers=owner.headers).content == DATA


def test_validation_data_sets_digests_once_and_must_match(
    projects: dict[str, Project], origin: Origin
) -> None:
    owner = projects["owner"]
    image_id = owner.create()["id"]
    vouched = {"checksum": MD5, "os_hash_algo": "sha512", "os_hash_value": SHA512}
    for wrong, status in [
        ({**vouched, "checksum": "1" * 31}, 409),
        ({**vouched, "os_hash_algo": "md5"}, 409),
        ({**vouched, "os_hash_value": "ab" * 32}, 409),  # a sha256's length
        ({**vouched, "extra": "x"}, 400),
    ]:
        assert_error(owner.add(image_id, origin.url("/plain"), validation_data=wrong), status)
        assert owner.show(image_id)["status"] == "queued"
    added = owner.add(image_id, origin.url("/plain"), validation_data=vouched)
    assert added.status_code == 200, added.text
    shown = owner.show(image_id)
    assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) == (
        MD5, "sha512", SHA512,
    )  # fmt: skip
    assert "validation_data" not in shown["locations"][0]
    # The same values again are fine; different ones are a conflict that changes nothing.
    again = owner.add(image_id, origin.url("/plain#2"), validation_data=vouched)
    assert again.status_code == 200, again.text
    for key, value in [("checksum", "2" * 32), ("os_hash_value", "be" * 64)]:
        other = owner.add(image_id, origin.url("/plain#3"), validation_data={**vouched, key: value})
        assert_error(other, 409)
    shown = owner.show(image_id)
    assert len(shown["locations"]) == 2 and shown["checksum"] == MD5


def test_locations_the_rules_refuse(projects: dict[str, Project], origin: Origin) -> None:
    owner = projects["owner"]
    image_id = owner.create()["id"]
    port = origin.server_address[1]
    for url in [
        origin.url("/absent"),
        f"http://169.254.169.254:{port}/latest/meta-data",
        "file:///etc/passwd",
        "gopher://info.cern.ch",
        origin.url().replace("://", "://user:secret@"),  # credentials are never stored
        f"http://127.0.0.1:{port + 1 if port < 65535 else 1}/data",
    ]:
        assert_error(owner.add(image_id, url), 400)
    for body in [
        [{"op": "add", "path": "/locations/9", "value": {"url": origin.url(), "metadata": {}}}],
        [{"op": "add", "path": "/locations/-", "value": {"url": origin.url()}}],
        [
            {"op": "add", "path": "/locations/-", "value": "x"},
            {"op": "add", "path": "/a", "value": "b"},
        ],
        [{"op": "replace", "path": "/locations/0", "value": []}],
    ]:
        assert_error(owner.patch(image_id, body), 400)
    shown = owner.show(image_id)
    assert shown["status"] == "queued" and shown["locations"] == []


def test_policy(projects: dict[str, Project], origin: Origin) -> None:
    owner, reader, other = projects["owner"], projects["reader"], projects["other"]
    image_id = owner.create()["id"]
    assert_error(other.add(image_id, origin.url("/plain")), 404)  # not even seen
    assert_error(reader.add(image_id, origin.url("/plain")), 403)
    assert owner.show(image_id)["status"] == "queued"


def test_refused_while_locations_are_not_shown(
    tmp_path: Path, database_url: str, origin: Origin
) -> None:
    app = create_app(_settings(tmp_path, database_url, origin, False))
    with TestClient(app, base_url="http://lading.test") as client:
        token = call(client, app.state.services.identities.create, "owner", "member").token
        owner = Project(client, token)
        image_id = owner.create()["id"]
        assert_error(owner.add(image_id, origin.url("/plain")), 403)
        assert owner.show(image_id)["status"] == "queued"


def test_data_over_the_size_cap_is_413(tmp_path: Path, database_url: str, origin: Origin) -> None:
    settings = _settings(tmp_path, database_url, origin, True, image_size_cap=len(DATA) - 1)
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        token = call(client, app.state.services.identities.create, "owner", "member").token
        owner = Project(client, token)
        image_id = owner.create()["id"]
        assert_error(owner.add(image_id, origin.url("/plain")), 413)
        shown = owner.show(image_id)
        assert shown["status"] == "queued" and shown["locations"] == []


def test_an_uploaded_copy_and_a_location_and_the_events_told(
    tmp_path: Path, database_url: str, origin: Origin
) -> None:
    hook = {"url": "http://127.0.0.1:9/hook", "secret": "webhook-secret-" + "s" * 24,
            "events": ["artifact.activated", "artifact.updated"]}  # fmt: skip
    with serving(b"other size") as other:
        settings = _settings(tmp_path, database_url, origin, True, other,
                             webhooks={"hook": hook}, task_poll_interval=60)  # fmt: skip
        told = _copy_and_location(settings, origin, other, tmp_path)
    assert told[("artifact.activated", True)] == 1  # the location made it active
    assert told[("artifact.updated", False)] == 2  # a location added, one removed


def _copy_and_location(
    settings: Settings, origin: Origin, other: Origin, tmp_path: Path
) -> Counter[tuple[str, bool]]:
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        make = app.state.services.identities.create
        owner = Project(client, call(client, make, "owner", "member").token)
        admin = Project(client, call(client, make, "admins", "admin").token)
        located = owner.create()["id"]
        assert owner.add(located, origin.url("/plain")).status_code == 200
        uploaded = owner.create()["id"]
        octets = {**owner.headers, "content-type": "application/octet-stream"}
        put = client.put(f"/v2/images/{uploaded}/file", content=DATA, headers=octets)
        assert put.status_code == 204, put.text
        assert_error(owner.add(uploaded, other.url("/plain")), 400)  # not its size
        assert owner.add(uploaded, origin.url("/plain")).status_code == 200
        # The uploaded copy goes (its bytes with it); downloads read from the location.
        remove = [{"op": "remove", "path": "/locations/0"}]
        assert admin.patch(uploaded, remove).status_code == 200
        assert [place["url"] for place in owner.show(uploaded)["locations"]] == [
            origin.url("/plain")
        ]
        files = [path for path in (tmp_path / "data").rglob("*") if path.is_file()]
        assert not [path for path in files if path.read_bytes() == DATA]
        download = client.get(f"/v2/images/{uploaded}/file", headers=owner.headers)
        assert download.content == DATA
    engine = create_engine(str(settings.database_url))
    with engine.connect() as connection:
        inputs = [json.loads(text) for text in connection.execute(select(tasks.c.input)).scalars()]
    engine.dispose()
    return Counter((task["event"], located in task["body"]) for task in inputs)


def test_v2_17_add_location_as_a_task_and_fetch_them(
    projects: dict[str, Project], origin: Origin
) -> None:
    owner, admin, reader, other = (projects[name] for name in ("owner", "admin", "reader", "other"))
    client = owner.client
    image_id = owner.create()["id"]
    path = f"/v2/images/{image_id}/locations"

    def post(who: Project, body: Any) -> Any:
        return client.post(path, json=body, headers=who.headers)

    sha256 = hashlib.sha256(DATA).hexdigest()
    for data in [
        {"os_hash_algo": "sha512", "os_hash_value": "dbc9e0f80d131e64b94913a7b40bb5"},
        {"os_hash_value": SHA512},  # no algorithm
        {"os_hash_algo": "sha123", "os_hash_value": SHA512},
        {"os_hash_algo": "sha512", "os_hash_value": sha256},  # a sha256's length
        {"os_hash_algo": "sha256", "os_hash_value": sha256, "size": 3},
    ]:
        assert_error(post(owner, {"url": origin.url("/plain"), "validation_data": data}), 400)
    assert_error(post(owner, {"url": origin.url().replace("://", "://u:p@")}), 400)
    assert_error(post(other, {"url": origin.url("/plain")}), 404)
    assert_error(post(reader, {"url": origin.url("/plain")}), 403)
    assert client.get(f"/v2/images/{image_id}/tasks", headers=owner.headers).json()["tasks"] == []
    assert owner.show(image_id)["status"] == "queued"

    vouched = {"os_hash_algo": "sha256", "os_hash_value": sha256}
    added = post(owner, {"url": origin.url("/plain"), "validation_data": vouched})
    assert added.status_code == 202, added.text
    shown = owner.show(image_id)
    assert (shown["status"], shown["size"], shown["checksum"]) == ("active", len(DATA), None)
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == ("sha256", sha256)
    (task,) = client.get(f"/v2/images/{image_id}/tasks", headers=owner.headers).json()["tasks"]
    assert (task["type"], task["status"]) == ("location_import", "success")
    assert client.get(f"/v2/images/{image_id}/file", headers=owner.headers).content == DATA
    assert_error(post(owner, {"url": origin.url("/plain#again")}), 409)  # no longer queued

    # Only services (and administrators) read them, whatever show_multiple_locations says.
    assert_error(client.get(path, headers=owner.headers), 403)
    listed = client.get(path, headers=admin.headers)
    assert listed.status_code == 200
    assert listed.json() == [{"url": origin.url("/plain"), "metadata": {}}]


def test_v2_17_is_announced_with_a_store_for_locations(
    projects: dict[str, Project], client: TestClient
) -> None:
    located = projects["owner"].client.get("/versions").json()["versions"]
    assert [version["id"] for version in located[:2]] == ["v2.17", "v2.12"]
    assert located[0]["status"] == "CURRENT"
    plain = [version["id"] for version in client.get("/versions").json()["versions"]]
    assert "v2.17" not in plain and plain[0] == "v2.12"  # no http store: nothing to add to


def test_a_member_who_may_not_see_locations_may_still_give_them_again(
    tmp_path: Path, database_url: str, origin: Origin
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text('"get_image_location": "role:admin"\n')
    settings = _settings(tmp_path, database_url, origin, True, policy_file=policy)
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        owner = Project(
            client, call(client, app.state.services.identities.create, "o", "member").token
        )
        image_id = owner.create()["id"]
        assert owner.add(image_id, origin.url("/plain")).status_code == 200
        assert owner.show(image_id)["locations"] == []  # the policy hides them
        again = [{"url": origin.url("/plain"), "metadata": {"k": "v"}}]
        replaced = owner.patch(image_id, [{"op": "replace", "path": "/locations", "value": again}])
        assert replaced.status_code == 200, replaced.text


@pytest.fixture
def hashing(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[Project]:
    """A service (the admin role, as Nova's) of a lading with do_secure_hash (the default),
    with several stores so that images say where their data lies."""
    settings = _settings(tmp_path, database_url, origin, False, task_poll_interval=0.05)
    stores = {
        "local": {"type": "filesystem"},
        "more": {"type": "filesystem"},
        "web": {"type": "http"},
    }
    settings = Settings(**{**settings.model_dump(), "stores": stores})
    assert settings.do_secure_hash and settings.location_hash_algorithm == "sha512"
    app = create_app(settings)
    with TestClient(app, base_url="http://lading.test") as client:
        yield Project(
            client, call(client, app.state.services.identities.create, "p", "admin").token
        )


def _post(who: Project, image_id: str, url: str, **validation: str) -> None:
    body: dict[str, Any] = {"url": url}
    if validation:
        body["validation_data"] = validation
    added = who.client.post(f"/v2/images/{image_id}/locations", json=body, headers=who.headers)
    assert added.status_code == 202, added.text


def _settled(who: Project, image_id: str, count: int = 1) -> tuple[dict[str, Any], dict[str, Any]]:
    """The image once its ``count`` tasks have ended, and the newest."""
    for _ in range(400):
        listed = who.client.get(f"/v2/images/{image_id}/tasks", headers=who.headers)
        found = listed.json()["tasks"]
        if len(found) >= count and all(t["status"] in ("success", "failure") for t in found):
            newest = max(found, key=lambda task: (task["created_at"], task["status"] == "success"))
            return who.show(image_id), newest
        time.sleep(0.05)
    raise AssertionError("the location's task did not end")


def test_secure_hash_checks_validation_data_before_the_image_is_active(
    hashing: Project, origin: Origin
) -> None:
    image_id = hashing.create()["id"]
    sha256 = hashlib.sha256(DATA).hexdigest()
    _post(hashing, image_id, origin.url("/plain"), os_hash_algo="sha256", os_hash_value=sha256)
    assert hashing.show(image_id)["status"] in ("importing", "active")  # active once hashed
    shown, task = _settled(hashing, image_id)
    assert (task["type"], task["status"]) == ("location_import", "success"), task["message"]
    assert (shown["status"], shown["size"], shown["stores"]) == ("active", len(DATA), "web")
    assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) == (
        MD5, "sha256", sha256,
    )  # fmt: skip
    download = hashing.client.get(f"/v2/images/{image_id}/file", headers=hashing.headers)
    assert download.content == DATA


def test_secure_hash_without_validation_data_follows_the_active_image(
    hashing: Project, origin: Origin
) -> None:
    image_id = hashing.create()["id"]
    _post(hashing, image_id, origin.url("/plain"))
    assert hashing.show(image_id)["status"] == "active"  # at once, as Glance
    shown, task = _settled(hashing, image_id)
    assert task["status"] == "success", task["message"]
    assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) == (
        MD5, "sha512", SHA512,
    )  # fmt: skip


def test_secure_hash_mismatch_queues_the_image_and_it_may_be_given_again(
    hashing: Project, origin: Origin
) -> None:
    image_id = hashing.create()["id"]
    for count, wrong in enumerate(
        [
            {"os_hash_algo": "sha512", "os_hash_value": "beefdead" * 16},
            {"checksum": "0" * 32, "os_hash_algo": "sha512", "os_hash_value": SHA512},
        ],
        start=1,
    ):
        _post(hashing, image_id, origin.url("/plain"), **wrong)
        shown, task = _settled(hashing, image_id, count)
        assert task["status"] == "failure" and "does not match" in task["message"]
        assert shown["status"] == "queued" and shown["stores"] == "web"  # as Glance leaves it
        assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) == (None,) * 3
        download = hashing.client.get(f"/v2/images/{image_id}/file", headers=hashing.headers)
        assert download.status_code in (204, 403, 404, 409)  # no data to give
    _post(hashing, image_id, origin.url("/plain"), os_hash_algo="sha512", os_hash_value=SHA512)
    shown, task = _settled(hashing, image_id, 3)
    assert (task["status"], shown["status"], shown["checksum"]) == ("success", "active", MD5)
    assert len(hashing.client.get(f"/v2/images/{image_id}/locations",
                                  headers=hashing.headers).json()) == 1  # fmt: skip


def test_secure_hash_of_data_cut_short_leaves_an_active_image_without_digests(
    hashing: Project, origin: Origin
) -> None:
    """The location's size was read whole (HEAD), its data is then cut halfway: no digests
    of half the data; the image stays active (as Glance leaves it), the task says why."""
    image_id = hashing.create()["id"]
    origin.cut = True
    _post(hashing, image_id, origin.url("/plain"))
    shown, task = _settled(hashing, image_id)
    assert task["status"] == "failure", task
    assert (shown["status"], shown["size"]) == ("active", len(DATA))
    assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"]) == (None,) * 3
