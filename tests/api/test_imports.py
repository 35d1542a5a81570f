"""Interoperable import with web-download, run by the app's own task loop: a transfer cut
halfway resumes, wrong bytes leave nothing behind, refused URLs are refused."""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from lading.app import create_app
from lading.db.models import tasks
from lading.settings import Settings
from lading.stores.registry import StoreRegistry
from tests.api.helpers import assert_error
from tests.http_origin import Origin, serving
from tests.json_schemas import conforms
from tests.object_servers import s3_store, swift_store
from tests.services_required import SERVICES
from tests.stores.faulty import FaultyStore
from tests.world import World, open_world

MiB = 1024 * 1024


@functools.cache
def big() -> bytes:
    """200 MiB of noise, made when a test first needs it: at import, every worker of the
    suite made it while collecting, whether it ran this module or not."""
    return os.urandom(200 * MiB)


@functools.cache
def big_sha256() -> str:
    return hashlib.sha256(big()).hexdigest()


def new_image(world: World) -> dict[str, Any]:
    body = {"name": "imported", "disk_format": "raw", "container_format": "bare"}
    created = world.request("POST", "/v2/images", json=body)
    assert created.status_code == 201, created.text
    image: dict[str, Any] = created.json()
    return image


def start(world: World, image_id: str, uri: str, **method: str) -> Any:
    body = {"method": {"name": "web-download", "uri": uri, **method}}
    return world.request("POST", f"/v2/images/{image_id}/import", json=body)


def settle(world: World, image_id: str, who: str = "owner") -> dict[str, Any]:
    """The image once its import task has finished, and that task (a project sees its
    own tasks: an administrator's copy-image is the administrator's)."""
    for _ in range(600):
        tasks = world.request("GET", f"/v2/images/{image_id}/tasks", who).json()["tasks"]
        if tasks and tasks[0]["status"] in ("success", "failure"):
            image: dict[str, Any] = world.request("GET", f"/v2/images/{image_id}", who).json()
            return {"image": image, "task": tasks[0]}
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


@pytest.fixture
def origin() -> Iterator[Origin]:
    with serving(big()) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, database_url: str, origin: Origin) -> Iterator[World]:
    fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, fetch=fetch,
                        task_poll_interval=0.05)  # fmt: skip
    with open_world(create_app(settings)) as opened:
        yield opened


@pytest.mark.heavy  # 200 MiB imported
def test_web_download_resumes_a_cut_transfer(world: World, origin: Origin) -> None:
    origin.cut = True
    image = new_image(
        world,
    )
    accepted = start(world, image["id"], origin.url())
    assert accepted.status_code == 202, accepted.text
    importing = world.request("GET", f"/v2/images/{image['id']}").json()
    assert importing["status"] in ("importing", "active")
    settled = settle(world, image["id"])
    done, task = settled["image"], settled["task"]
    assert task["status"] == "success", task["message"]
    assert done["status"] == "active" and done["size"] == len(big())
    assert done["checksum"] == hashlib.md5(big()).hexdigest()
    assert done["os_hash_value"] == big_sha256()
    assert not any(key.startswith("os_glance") for key in done)
    assert task["input"]["uri"] == origin.url() and task["type"] == "api_image_import"
    assert len(origin.ranges) == 1  # resumed once, from where the cut came
    data = world.request("GET", f"/v2/images/{image['id']}/file")
    assert hashlib.sha256(data.content).hexdigest() == done["os_hash_value"]


@pytest.mark.heavy  # 200 MiB fetched
def test_wrong_bytes_fail_the_import_and_leave_nothing(world: World, origin: Origin) -> None:
    image = new_image(
        world,
    )
    assert start(world, image["id"], origin.url(), sha256="0" * 64).status_code == 202
    settled = settle(world, image["id"])
    assert settled["task"]["status"] == "failure" and "sha256" in settled["task"]["message"]
    back = settled["image"]
    assert back["status"] == "queued" and back["os_glance_failed_import"] == "default"
    assert "os_glance_import_task" not in back
    assert world.stored_files() == []
    # It may be imported again.
    assert start(world, image["id"], origin.url()).status_code == 202
    assert settle(world, image["id"])["image"]["status"] == "active"


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [("file:///etc/passwd", "scheme"), ("http://127.0.0.1:22/x", "port 22"),
     ("http://10.1.2.3:PORT/x", "allowed hosts"), ("not a url", "scheme")],
)  # fmt: skip
def test_refused_urls_are_refused_at_once(
    world: World, origin: Origin, uri: str, complaint: str
) -> None:
    image = new_image(
        world,
    )
    response = start(world, image["id"], uri.replace("PORT", str(origin.server_address[1])))
    assert_error(response, 400)
    assert complaint in response.text
    assert world.request("GET", f"/v2/images/{image['id']}").json()["status"] == "queued"
    assert world.request("GET", f"/v2/images/{image['id']}/tasks").json()["tasks"] == []


def test_a_redirect_to_a_denied_address_fails_the_task(world: World, origin: Origin) -> None:
    image = new_image(
        world,
    )
    port = origin.server_address[1]
    bounce = origin.url(f"/redirect?to=http://169.254.169.254:{port}/latest/meta-data")
    assert start(world, image["id"], bounce).status_code == 202
    settled = settle(world, image["id"])
    assert settled["task"]["status"] == "failure"
    assert "169.254.169.254" in settled["task"]["message"]
    assert settled["image"]["status"] == "queued"


@pytest.mark.heavy  # 200 MiB imported
def test_bad_import_requests(world: World, origin: Origin) -> None:
    image = new_image(
        world,
    )
    path = f"/v2/images/{image['id']}/import"
    method = {"name": "web-download", "uri": origin.url()}
    for body in ({}, {"method": "web-download"}, {"method": {"name": "copy-image"}},
                 {"method": {"name": "web-download"}}, {"method": method, "all_stores": "yes"},
                 {"method": method, "stores": ["x"]}, {"method": method, "stores": [[]]},
                 {"method": {"name": "glance-direct"}, "stores": [{}]},
                 {"method": {"name": "web-download", "uri": "http://xn--/"}}):  # fmt: skip
        assert_error(world.request("POST", path, json=body), 400)
    assert_error(world.request("POST", path, who="other", json={}), 404)
    assert start(world, image["id"], origin.url()).status_code == 202
    assert_error(start(world, image["id"], origin.url()), 409)  # importing already
    settle(world, image["id"])
    assert_error(start(world, image["id"], origin.url()), 409)  # active


@pytest.mark.heavy  # 200 MiB imported, twice
def test_credentials_go_sealed_to_their_origin_only(
    tmp_path: Path, database_url: str, origin: Origin
) -> None:
    data = big()[:MiB]
    with serving(data) as elsewhere:
        ports = [origin.server_address[1], elsewhere.server_address[1]]
        fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": ports}
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url, fetch=fetch,
                            task_poll_interval=0.05)  # fmt: skip
        with open_world(create_app(settings)) as world:

            def fetched(uri: str, **method: str) -> dict[str, Any]:
                image = new_image(
                    world,
                )
                assert start(world, image["id"], uri, **method).status_code == 202
                return settle(world, image["id"])

            origin.required = "Basic " + base64.b64encode(b"alice:s3cret").decode()
            refused = fetched(origin.url())
            assert refused["task"]["status"] == "failure" and "401" in refused["task"]["message"]
            in_url = fetched(origin.url().replace("http://", "http://alice:s3cret@"))
            assert in_url["task"]["status"] == "success", in_url["task"]["message"]
            assert in_url["task"]["input"]["uri"] == origin.url()  # not echoed back
            assert in_url["task"]["input"]["import_req"]["method"]["uri"] == origin.url()
            as_fields = fetched(origin.url(), username="alice", password="s3cret")
            asked = {"name": "web-download", "uri": origin.url()}  # the credentials left out
            assert as_fields["task"]["input"]["import_req"] == {"method": asked}
            assert as_fields["image"]["os_hash_value"] == big_sha256()
            origin.required = "Bearer t0ken-of-alice"
            bearer = fetched(origin.url(), bearer_token="t0ken-of-alice")
            assert bearer["task"]["status"] == "success", bearer["task"]["message"]
            # A redirect to another origin: followed, without the credentials.
            origin.required = None
            elsewhere.required = "Bearer t0ken-of-alice"
            redirected = fetched(origin.url(f"/redirect?to={elsewhere.url()}"),
                                 bearer_token="t0ken-of-alice")  # fmt: skip
            assert redirected["task"]["status"] == "failure"
            assert elsewhere.authorizations == [None]
            shown = world.request("GET", f"/v2/tasks/{bearer['task']['id']}").text
            assert "t0ken" not in shown and "sealed" not in shown
            for body in ({"username": "alice"} | {"bearer_token": "x"}, {"password": "p"},
                         {"username": ""}, {"bearer_token": 7}):  # fmt: skip
                image = new_image(
                    world,
                )
                assert_error(start(world, image["id"], origin.url(), **body), 400)
    engine = create_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        kept = " ".join(connection.execute(select(tasks.c.input)).scalars())
    engine.dispose()
    assert "sealed_credentials" in kept
    assert "s3cret" not in kept and "t0ken" not in kept and "alice" not in kept


def test_glance_direct_stages_then_imports(world: World, origin: Origin) -> None:
    data = big()[: 5 * MiB]
    image = new_image(
        world,
    )
    path = f"/v2/images/{image['id']}"
    assert_error(
        world.request("POST", f"{path}/import", json={"method": {"name": "glance-direct"}}), 409
    )
    octets = {"content-type": "application/octet-stream"}
    staged = world.request("PUT", f"{path}/stage", content=data, headers=octets)
    assert staged.status_code == 204, staged.text
    assert world.request("GET", path).json()["status"] == "uploading"
    assert world.request("GET", f"{path}/file").status_code == 204  # not the image's data yet
    assert_error(world.request("PUT", f"{path}/stage", content=data, headers=octets), 409)
    assert_error(start(world, image["id"], origin.url()), 409)  # web-download: not queued
    accepted = world.request("POST", f"{path}/import", json={"method": {"name": "glance-direct"}})
    assert accepted.status_code == 202, accepted.text
    settled = settle(world, image["id"])
    assert settled["task"]["status"] == "success", settled["task"]["message"]
    done = settled["image"]
    assert done["status"] == "active" and done["os_hash_value"] == hashlib.sha256(data).hexdigest()
    assert world.request("GET", f"{path}/file").content == data
    # The task as Glance keeps it, and as Tempest checks it.
    task = settled["task"]
    conforms(task, world.request("GET", "/v2/schemas/task").json())
    assert task["request_id"] == accepted.headers["x-openstack-request-id"]
    assert task["input"]["import_req"] == {"method": {"name": "glance-direct"}}
    assert task["input"]["image_id"] == image["id"] and task["input"]["backend"] == [None]
    assert task["user_id"] is None  # lading's own tokens name no user


@pytest.mark.heavy  # a slow origin, two apps
def test_an_import_cut_by_a_shutdown_goes_on_in_the_next_process(
    tmp_path: Path, database_url: str
) -> None:
    data = os.urandom(2 * MiB)
    with serving(data) as slow:
        fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [slow.server_address[1]]}
        settings = Settings(data_dir=tmp_path / "data", database_url=database_url, fetch=fetch,
                            task_poll_interval=0.05, task_lease=1)  # fmt: skip
        with open_world(create_app(settings)) as world:
            image = new_image(
                world,
            )
            assert start(world, image["id"], slow.url("/slow")).status_code == 202
            time.sleep(0.5)  # fetching
        with open_world(create_app(settings)) as world:
            settled = settle(world, image["id"])
            assert settled["task"]["status"] == "success", settled["task"]["message"]
            assert settled["image"]["os_hash_value"] == hashlib.sha256(data).hexdigest()


@pytest.fixture
def stores() -> dict[str, FaultyStore]:
    return {name: FaultyStore(name) for name in ("fast", "bulk", "cold")}


@pytest.fixture
def multistore(
    tmp_path: Path, database_url: str, stores: dict[str, FaultyStore], origin: Origin
) -> Iterator[World]:
    fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url,
                        task_poll_interval=0.05, fetch=fetch,
                        stores={name: {"type": "filesystem"} for name in stores},
                        default_store="fast")  # fmt: skip
    registry = StoreRegistry(dict(stores), "fast")
    with open_world(create_app(settings, registry)) as opened:
        yield opened


def copy_image(world: World, image_id: str, who: str = "admin", **body: Any) -> Any:
    """Glance's copy_image policy: administrators."""
    body = {"method": {"name": "copy-image"}, **body}
    return world.request("POST", f"/v2/images/{image_id}/import", who=who, json=body)


def test_copy_image_to_other_stores(multistore: World, stores: dict[str, FaultyStore]) -> None:
    methods = multistore.request("GET", "/v2/info/import").json()["import-methods"]["value"]
    assert "copy-image" in methods
    image = new_image(
        multistore,
    )
    data = big()[:MiB]
    octets = {"content-type": "application/octet-stream"}
    put = multistore.request("PUT", f"/v2/images/{image['id']}/file", content=data, headers=octets)
    assert put.status_code == 204
    assert_error(copy_image(multistore, image["id"], who="owner", stores=["bulk"]), 403)
    assert copy_image(multistore, image["id"], stores=["bulk"]).status_code == 202
    settled = settle(multistore, image["id"], "admin")
    assert settled["task"]["status"] == "success", settled["task"]["message"]
    assert settled["task"]["result"] == {"image_id": image["id"], "stores": ["bulk"],
                                         "failed_stores": []}  # fmt: skip
    assert settled["task"]["input"]["backend"] == ["bulk"]
    assert settled["task"]["input"]["import_req"] == {"method": {"name": "copy-image"},
                                                      "stores": ["bulk"]}  # fmt: skip
    copied = settled["image"]
    assert copied["status"] == "active" and set(copied["stores"].split(",")) == {"fast", "bulk"}
    # Left on the image, empty, as Glance leaves them; the task's hold goes.
    assert copied["os_glance_importing_to_stores"] == copied["os_glance_failed_import"] == ""
    assert "os_glance_import_task" not in copied
    assert len(stores["bulk"].objects) == 1
    assert_error(copy_image(multistore, image["id"], stores=["bulk", "fast"]), 409)  # there
    # One store failing: with all_stores_must_succeed, nothing of the task stays.
    other = new_image(
        multistore,
    )
    path = f"/v2/images/{other['id']}"
    assert multistore.request("PUT", f"{path}/file", content=data[:1000], headers=octets).is_success
    stores["cold"].failing_puts = True
    assert copy_image(multistore, other["id"], all_stores=True).status_code == 202
    failed = settle(multistore, other["id"], "admin")
    assert failed["task"]["status"] == "failure" and "cold" in failed["task"]["message"]
    assert failed["image"]["status"] == "active" and failed["image"]["stores"] == "fast"
    assert failed["image"]["os_glance_failed_import"] == "bulk,cold"
    assert failed["image"]["os_glance_importing_to_stores"] == ""
    assert len(stores["bulk"].objects) == 1  # the first image's copy only
    assert multistore.request("GET", f"{path}/file").content == data[:1000]


def copied_to_stores(world: World, image_id: str) -> str:
    """Tempest's ``wait_for_image_copied_to_stores``: the image alone is watched, until
    ``os_glance_importing_to_stores`` is there and empty (missing: the copy has not
    started); then ``os_glance_failed_import`` says where copying failed."""
    for _ in range(600):
        image = world.request("GET", f"/v2/images/{image_id}").json()
        left = image.get("os_glance_importing_to_stores")
        if left is not None and not left:
            return str(image["os_glance_failed_import"])
        time.sleep(0.05)
    raise AssertionError(f"the copy did not finish as Tempest waits for it: {image}")


def test_copy_image_ends_as_tempest_waits_for_it(
    multistore: World, stores: dict[str, FaultyStore]
) -> None:
    image = new_image(
        multistore,
    )
    path = f"/v2/images/{image['id']}"
    octets = {"content-type": "application/octet-stream"}
    assert multistore.request("PUT", f"{path}/file", content=b"x" * 1000, headers=octets).is_success
    assert copy_image(multistore, image["id"], stores=["bulk"]).status_code == 202
    assert copied_to_stores(multistore, image["id"]) == ""
    assert settle(multistore, image["id"], "admin")["task"]["status"] == "success"
    assert set(multistore.request("GET", path).json()["stores"].split(",")) == {"fast", "bulk"}
    # A store that fails, and may: listed, the copy to the others kept.
    stores["cold"].failing_puts = True
    body: dict[str, Any] = {"stores": ["cold"], "all_stores_must_succeed": False}
    assert copy_image(multistore, image["id"], **body).status_code == 202
    assert copied_to_stores(multistore, image["id"]) == "cold"
    assert settle(multistore, image["id"], "admin")["task"]["status"] == "success"


@pytest.mark.heavy  # 200 MiB imported
def test_imports_into_several_stores(
    multistore: World, stores: dict[str, FaultyStore], origin: Origin
) -> None:
    data = big()[: 3 * MiB]
    octets = {"content-type": "application/octet-stream"}

    def staged() -> str:
        image = new_image(
            multistore,
        )
        path = f"/v2/images/{image['id']}/stage"
        assert multistore.request("PUT", path, content=data, headers=octets).is_success
        return str(image["id"])

    def glance_direct(image_id: str, **body: Any) -> dict[str, Any]:
        body = {"method": {"name": "glance-direct"}, **body}
        accepted = multistore.request("POST", f"/v2/images/{image_id}/import", json=body)
        assert accepted.status_code == 202, accepted.text
        return settle(multistore, image_id)

    # Staged in the default store, imported into two others: the staged copy goes.
    moved = glance_direct(staged(), stores=["bulk", "cold"])
    assert moved["task"]["result"]["stores"] == ["bulk", "cold"], moved["task"]["message"]
    assert moved["image"]["status"] == "active"
    assert set(moved["image"]["stores"].split(",")) == {"bulk", "cold"}
    assert not stores["fast"].objects and len(stores["cold"].objects) == 1
    # web-download into every store; one failing, and allowed to: listed, the rest kept.
    stores["cold"].failing_puts = True
    image = new_image(
        multistore,
    )
    body = {"method": {"name": "web-download", "uri": origin.url()}, "all_stores": True,
            "all_stores_must_succeed": False}  # fmt: skip
    assert multistore.request("POST", f"/v2/images/{image['id']}/import", json=body).is_success
    fetched = settle(multistore, image["id"])
    assert fetched["task"]["status"] == "success", fetched["task"]["message"]
    assert fetched["image"]["os_glance_failed_import"] == "cold"
    assert set(fetched["image"]["stores"].split(",")) == {"fast", "bulk"}
    assert fetched["image"]["os_hash_value"] == big_sha256()
    # The same failure when every store must succeed: back to queued, nothing left.
    before = {name: len(store.objects) for name, store in stores.items()}
    failed = glance_direct(staged(), all_stores=True)
    assert failed["task"]["status"] == "failure" and "cold" in failed["task"]["message"]
    assert failed["image"]["status"] == "queued"
    assert failed["image"]["os_glance_failed_import"] == "fast,bulk,cold"
    assert {name: len(store.objects) for name, store in stores.items()} == before


def test_an_image_leaves_one_store_but_not_its_last(
    multistore: World, stores: dict[str, FaultyStore]
) -> None:
    image = new_image(
        multistore,
    )
    path = f"/v2/images/{image['id']}"
    octets = {"content-type": "application/octet-stream"}
    assert multistore.request("PUT", f"{path}/file", content=b"x" * 1000, headers=octets).is_success
    assert copy_image(multistore, image["id"], stores=["bulk"]).status_code == 202
    assert set(settle(multistore, image["id"], "admin")["image"]["stores"].split(",")) == {
        "fast",
        "bulk",
    }
    fast = f"/v2/stores/fast/{image['id']}"
    assert_error(multistore.request("DELETE", fast), 403)  # delete_image_location: admins
    assert_error(multistore.request("DELETE", fast, who="other"), 404)  # not theirs to see
    assert_error(multistore.request("DELETE", f"/v2/stores/cold/{image['id']}", who="admin"), 404)
    assert_error(multistore.request("DELETE", f"/v2/stores/tape/{image['id']}", who="admin"), 409)
    assert multistore.request("DELETE", fast, who="admin").status_code == 204
    assert not stores["fast"].objects
    assert multistore.request("GET", path).json()["stores"] == "bulk"
    assert multistore.request("GET", f"{path}/file").content == b"x" * 1000
    last = f"/v2/stores/bulk/{image['id']}"
    assert_error(multistore.request("DELETE", last, who="admin"), 403)  # its only copy
    assert len(stores["bulk"].objects) == 1


def test_copy_image_needs_an_active_image_and_stores(multistore: World) -> None:
    image = new_image(
        multistore,
    )
    assert_error(copy_image(multistore, image["id"], stores=["bulk"]), 409)  # no data
    bodies: list[dict[str, Any]] = [
        {}, {"stores": []}, {"stores": ["nowhere"]}, {"stores": "bulk"},
        {"stores": ["bulk"], "all_stores_must_succeed": "yes"},
    ]  # fmt: skip
    for body in bodies:
        assert_error(copy_image(multistore, image["id"], **body), 400)


def test_copy_image_is_not_offered_with_one_store(world: World) -> None:
    image = new_image(
        world,
    )
    assert_error(copy_image(world, image["id"], stores=["default"]), 400)


@pytest.fixture(params=[pytest.param(store, marks=SERVICES) for store in (swift_store, s3_store)])
def object_world(
    request: pytest.FixtureRequest, tmp_path: Path, database_url: str, origin: Origin
) -> Iterator[World]:
    """As ``world``, on a real Swift (or S3 through Swift's s3api) store."""
    fetch = {"allowed_hosts": ["127.0.0.1"], "allowed_ports": [origin.server_address[1]]}
    store = request.param(request, tmp_path.name)
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, fetch=fetch,
                        task_poll_interval=0.05, stores={"default": store})  # fmt: skip
    with open_world(create_app(settings)) as opened:
        yield opened


def test_imports_into_object_stores(object_world: World, origin: Origin) -> None:
    origin.cut = True
    fetched = new_image(object_world)
    assert start(object_world, fetched["id"], origin.url()).status_code == 202
    done = settle(object_world, fetched["id"])
    assert done["task"]["status"] == "success", done["task"]["message"]
    assert done["image"]["os_hash_value"] == big_sha256()
    data = big()[: 12 * MiB]  # segmented on Swift (5 MiB segments)
    staged = new_image(object_world)
    path = f"/v2/images/{staged['id']}"
    octets = {"content-type": "application/octet-stream"}
    assert object_world.request("PUT", f"{path}/stage", content=data, headers=octets).is_success
    method = {"method": {"name": "glance-direct"}}
    assert object_world.request("POST", f"{path}/import", json=method).status_code == 202
    assert settle(object_world, staged["id"])["image"]["status"] == "active"
    assert object_world.request("GET", f"{path}/file").content == data


@pytest.mark.heavy  # 200 MiB imported
def test_the_legacy_task_api_imports_for_administrators(world: World, origin: Origin) -> None:
    """Glance's POST /v2/tasks (type import), as Tempest's ImageTaskCreate sends it."""
    properties = {"name": "legacy", "disk_format": "raw", "container_format": "bare",
                  "visibility": "public", "os_distro": "cirros"}  # fmt: skip
    task = {"type": "import", "input": {"image_properties": properties,
            "import_from_format": "raw", "import_from": origin.url()}}  # fmt: skip
    assert_error(world.request("POST", "/v2/tasks", json=task), 403)  # tasks_api_access
    created = world.request("POST", "/v2/tasks", "admin", json=task)
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(f"/v2/tasks/{created.json()['id']}")
    image_id = created.json()["input"]["image_id"]
    settled = settle(world, image_id, "admin")
    assert settled["task"]["id"] == created.json()["id"]
    assert settled["task"]["status"] == "success", settled["task"]["message"]
    assert settled["task"]["result"]["image_id"] == image_id
    image = settled["image"]
    assert (image["status"], image["name"], image["disk_format"]) == ("active", "legacy", "raw")
    assert (image["visibility"], image["os_distro"], image["size"]) == (
        "public",
        "cirros",
        len(big()),
    )


@pytest.mark.parametrize(
    ("task", "message"),
    [({"type": "export", "input": {}}, "only imports"),
     ({"type": "import", "input": {"import_from_format": "qcow2"}}, "import_from"),
     ({"type": "import", "input": {"import_from": "http://x", "image_properties": []}},
      "image_properties"),
     ({"type": "import", "input": {"import_from": "http://tempest-dummy.qcow2",
                                   "image_properties": {"name": "refused"}}}, "")],
)  # fmt: skip
def test_a_legacy_task_that_cannot_run_is_refused_and_makes_nothing(
    world: World, task: dict[str, Any], message: str
) -> None:
    refused = world.request("POST", "/v2/tasks", "admin", json=task)
    assert_error(refused, 400)
    assert message in refused.text
    listed = world.request("GET", "/v2/images", "admin").json()["images"]
    assert listed == [] and world.request("GET", "/v2/tasks", "admin").json()["tasks"] == []
