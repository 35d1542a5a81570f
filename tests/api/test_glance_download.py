"""glance-download against a second lading as the other region, found in the catalogue of
the real Keystone of scripts/services.sh.

The test registers a region of its own in that Keystone, with the second lading as its
``image`` endpoint on the public interface and a fake Glance (which answers what the
test tells it: garbage, a huge document, wrong digests) on the internal one; both go
afterwards. The importing lading keeps its default fetch rules, which refuse loopback:
the catalogue's endpoints are trusted as the operator's.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from keystoneauth1 import session
from keystoneauth1.identity import v3
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import KeystoneSettings, Settings
from tests.api.helpers import assert_error
from tests.api.test_keystone import TEST_PASSWORD, Token, project_scope, sign_in
from tests.clients.conftest import Lading, keystone_settings, running_lading
from tests.http_origin import SHUTDOWN_POLL
from tests.portal import call

DATA = os.urandom(300 * 1024 + 11)
ADMIN: dict[str, Any] = {"username": "admin", "password": "keystone-admin", "project_name": "admin"}
COPIED = {"hw_cpu_cores": "5", "trait:STORAGE_DISK_SSD": "required", "os_distro": "rhel"}


@dataclass
class FakeGlance:
    """What the fake Glance serves: image id -> (its document as bytes, its data)."""

    server: ThreadingHTTPServer
    images: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)
    tokens: list[str | None] = field(default_factory=list)

    def add(self, document: Any, data: bytes = DATA) -> str:
        image_id = str(uuid.uuid4())
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.images[image_id] = (raw, data)
        return image_id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def glance_document(data: bytes = DATA, **fields: Any) -> dict[str, Any]:
    """An active image as Glance shows it (sha512, its default)."""
    return {
        "status": "active", "size": len(data), "disk_format": "raw",
        "container_format": "bare", "checksum": hashlib.md5(data).hexdigest(),
        "os_hash_algo": "sha512", "os_hash_value": hashlib.sha512(data).hexdigest(),
        "hw_disk_bus": "scsi", "os_type": "linux", "owner_specified.openstack.md5": "x",
        **fields,
    }  # fmt: skip


@pytest.fixture(scope="module")
def fake_glance() -> Iterator[FakeGlance]:
    fake: FakeGlance

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            fake.tokens.append(self.headers.get("x-auth-token"))
            parts = self.path.split("/")  # /v2/images/<id>[/file]
            found = fake.images.get(parts[3]) if len(parts) >= 4 else None
            if found is None:
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = found[1] if parts[-1] == "file" else found[0]
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeGlance(server)
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def remote(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config, keystone_url: str
) -> Iterator[Lading]:
    """The other region's lading, taking the same Keystone's tokens."""
    root = tmp_path_factory.mktemp("other-region")
    with running_lading(root, pytestconfig, keystone_settings(keystone_url)) as server:
        yield server


@pytest.fixture(scope="module")
def region(keystone_url: str, remote: Lading, fake_glance: FakeGlance) -> Iterator[str]:
    """A region of the test's own: the remote lading public, the fake Glance internal."""
    admin = session.Session(
        auth=v3.Password(
            auth_url=keystone_url,
            user_domain_name="Default",
            project_domain_name="Default",
            **ADMIN,
        )
    )
    name = f"lading-test-{secrets.token_hex(4)}"
    admin.post(f"{keystone_url}/regions", json={"region": {"id": name}})
    found = admin.get(f"{keystone_url}/services", params={"type": "image"}).json()["services"]
    made = None
    if not found:  # another run's lading is usually there; else one of the test's own
        body = {"service": {"type": "image", "name": "lading-test", "enabled": True}}
        made = admin.post(f"{keystone_url}/services", json=body).json()["service"]["id"]
    service_id = made or found[0]["id"]
    endpoints = []
    try:
        for interface, url in (("public", remote.url), ("internal", fake_glance.url)):
            body = {"endpoint": {"service_id": service_id, "interface": interface,
                                 "region_id": name, "url": url}}  # fmt: skip
            endpoints.append(
                admin.post(f"{keystone_url}/endpoints", json=body).json()["endpoint"]["id"]
            )
        yield name
    finally:
        for endpoint in endpoints:
            admin.delete(f"{keystone_url}/endpoints/{endpoint}", raise_exc=False)
        if made is not None:
            admin.delete(f"{keystone_url}/services/{made}", raise_exc=False)
        admin.delete(f"{keystone_url}/regions/{name}", raise_exc=False)


@pytest.fixture(scope="module")
def member(keystone_url: str) -> Token:
    return sign_in(keystone_url, "alpha-member", TEST_PASSWORD, project_scope("alpha"))


class Here:
    """The importing lading, in-process; its calls carry the member's token."""

    def __init__(self, client: TestClient, token: Token, data_dir: Path) -> None:
        self.client, self.headers = client, {"x-auth-token": token.value}
        self.data_dir = data_dir
        self.seen: set[str] = set()  # the tasks settled

    def image(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "downloaded", "disk_format": "iso", "container_format": "ovf", **fields}
        created = self.client.post("/v2/images", json=body, headers=self.headers)
        assert created.status_code == 201, created.text
        return dict(created.json())

    def start(self, image_id: str, /, **method: Any) -> httpx2.Response:
        body = {"method": {"name": "glance-download", **method}}
        return self.client.post(f"/v2/images/{image_id}/import", json=body, headers=self.headers)

    def settle(self, image_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The image once its task not seen before has ended, and that task (tasks made
        within a clock tick may be listed in any order)."""
        for _ in range(400):
            listed = self.client.get(f"/v2/images/{image_id}/tasks", headers=self.headers)
            new = [task for task in listed.json()["tasks"] if task["id"] not in self.seen]
            if new and new[0]["status"] in ("success", "failure"):
                self.seen.add(new[0]["id"])
                image = self.client.get(f"/v2/images/{image_id}", headers=self.headers).json()
                return image, new[0]
            time.sleep(0.05)
        raise AssertionError("the import did not end")

    def fails(self, image_id: str, **method: Any) -> str:
        """Start an import that must fail cleanly: the image back to queued, as it was."""
        before = self.client.get(f"/v2/images/{image_id}", headers=self.headers).json()
        started = self.start(image_id, **method)
        assert started.status_code == 202, started.text
        image, task = self.settle(image_id)
        assert task["status"] == "failure", task
        assert image["status"] == "queued"
        unchanged = ("disk_format", "container_format", "hw_cpu_cores", "size", "checksum")
        assert {key: image.get(key) for key in unchanged} == {
            key: before.get(key) for key in unchanged
        }
        return str(task["message"])


@pytest.fixture
def here(tmp_path: Path, keystone_url: str, database_url: str, member: Token) -> Iterator[Here]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, task_poll_interval=0.05,
        keystone=KeystoneSettings(auth_url=keystone_url, username="lading",
                                  password="lading", project_name="service"),
    )  # fmt: skip
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        yield Here(client, member, tmp_path / "data")


def remote_image(remote: Lading, token: Token, data: bytes | None, **fields: Any) -> str:
    """An image on the other region's lading, with ``data`` if given (else queued)."""
    headers = {"x-auth-token": token.value}
    body = {"name": "source", "disk_format": "raw", "container_format": "bare", **fields}
    created = httpx.post(f"{remote.url}/v2/images", json=body, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    image_id = str(created.json()["id"])
    if data is not None:
        put = httpx.put(f"{remote.url}/v2/images/{image_id}/file", content=data,
                        headers={**headers, "content-type": "application/octet-stream"},
                        timeout=30)  # fmt: skip
        assert put.status_code == 204, put.text
    return image_id


def test_an_image_of_another_region_with_its_formats_and_properties(
    here: Here, remote: Lading, region: str, member: Token
) -> None:
    methods = here.client.get("/v2/info/import", headers=here.headers).json()
    assert "glance-download" in methods["import-methods"]["value"]
    source = remote_image(remote, member, DATA, speed="88mph", **COPIED)
    image = here.image(hw_cpu_cores="1", os_distro="windows", kept="yes")
    started = here.start(image["id"], glance_image_id=source, glance_region=region)
    assert started.status_code == 202, started.text
    done, task = here.settle(image["id"])
    assert task["status"] == "success", task["message"]
    assert (done["status"], done["size"]) == ("active", len(DATA))
    assert (done["disk_format"], done["container_format"]) == ("raw", "bare")
    assert done["checksum"] == hashlib.md5(DATA).hexdigest()
    assert {key: done.get(key) for key in COPIED} == COPIED
    assert "speed" not in done and done["kept"] == "yes"
    data = here.client.get(f"/v2/images/{image['id']}/file", headers=here.headers)
    assert data.content == DATA
    # The token was sealed, never shown; Glance's request kept with its interface.
    assert member.value not in json.dumps(task)
    assert task["input"]["import_req"]["method"] == {
        "name": "glance-download", "glance_image_id": source, "glance_region": region,
        "glance_service_interface": "public",
    }  # fmt: skip


def test_a_glance_with_sha512_and_the_token_sent_to_it_only(
    here: Here, fake_glance: FakeGlance, region: str, member: Token
) -> None:
    source = fake_glance.add(glance_document())
    fake_glance.tokens.clear()
    image = here.image()
    started = here.start(image["id"], glance_image_id=source, glance_region=region,
                         glance_service_interface="internal")  # fmt: skip
    assert started.status_code == 202, started.text
    done, task = here.settle(image["id"])
    assert task["status"] == "success", task["message"]
    assert (done["disk_format"], done["hw_disk_bus"], done["os_type"]) == ("raw", "scsi", "linux")
    assert "owner_specified.openstack.md5" not in done
    assert fake_glance.tokens == [member.value, member.value]  # the document, the data


def test_each_failure_leaves_the_image_queued_and_a_retry_works(
    here: Here, remote: Lading, fake_glance: FakeGlance, region: str, member: Token
) -> None:
    image = here.image(hw_cpu_cores="1")
    somewhere = {"glance_image_id": str(uuid.uuid4())}
    internal = {"glance_region": region, "glance_service_interface": "internal"}
    assert "no image endpoint" in here.fails(image["id"], glance_region="nowhere", **somewhere)
    message = here.fails(image["id"], glance_region=region, glance_service_interface="nothing",
                         **somewhere)  # fmt: skip
    assert "no image endpoint" in message
    assert "has no image" in here.fails(image["id"], glance_region=region, **somewhere)
    queued = remote_image(remote, member, None)
    assert "only an active image" in here.fails(
        image["id"], glance_image_id=queued, glance_region=region
    )
    wrong = hashlib.md5(b"other").hexdigest()
    for document, data, says in [
        (b"<html>not json</html>", DATA, "not JSON"),
        (b"[" + b" " * (2 * 1024 * 1024) + b"]", DATA, "more than"),
        ([1, 2], DATA, "not an image"),
        (glance_document(size="many"), DATA, "size"),
        (glance_document(disk_format="exe"), DATA, "formats"),
        (glance_document(os_hash_algo="crc32"), DATA, "cannot be checked"),
        (glance_document(hw_cpu_cores=5), DATA, "must be a string"),
        (glance_document(checksum=wrong, os_hash_value=None), DATA, "md5"),
        (glance_document(), DATA[:-1] + b"!", "sha512"),
        (glance_document(), DATA + b"more", "announced"),
        (glance_document(), DATA[:-5], "announced"),
        (glance_document(size=2**50), DATA, "larger than the limit"),  # refused unread
    ]:
        source = fake_glance.add(document, data)
        message = here.fails(image["id"], glance_image_id=source, **internal)
        assert says in message, (says, message)
    assert [path for path in (here.data_dir / "stores").rglob("*") if path.is_file()] == []

    # The remote image becomes active: the same import is asked for again, and succeeds.
    headers = {"x-auth-token": member.value, "content-type": "application/octet-stream"}
    put = httpx.put(f"{remote.url}/v2/images/{queued}/file", content=DATA, headers=headers)
    assert put.status_code == 204, put.text
    assert here.start(image["id"], glance_image_id=queued, glance_region=region).status_code == 202
    done, task = here.settle(image["id"])
    assert (task["status"], done["status"]) == ("success", "active"), task["message"]


def test_requests_refused_at_once(here: Here, region: str) -> None:
    image = here.image()
    some = str(uuid.uuid4())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"glance_region": region}, "glance_image_id"),
        ({"glance_image_id": some}, "glance_region"),
        ({"glance_image_id": "foo", "glance_region": region}, "image id does not look like a UUID"),
        ({"glance_image_id": 7, "glance_region": region}, "UUID"),
        ({"glance_image_id": some, "glance_region": ["r"]}, "glance_region"),
        ({"glance_image_id": some, "glance_region": ""}, "glance_region"),
        ({"glance_image_id": some, "glance_region": "r" * 256}, "glance_region"),
        ({"glance_image_id": some, "glance_region": region, "glance_service_interface": 1},
         "glance_service_interface"),
    ]  # fmt: skip
    for method, says in cases:
        refused = here.start(image["id"], **method)
        assert_error(refused, 400)
        assert says in refused.text, refused.text
    tasks = here.client.get(f"/v2/images/{image['id']}/tasks", headers=here.headers)
    assert tasks.json()["tasks"] == []
    # A lading token has no Keystone token to send on.
    make = here.client.app.state.services.identities.create  # type: ignore[attr-defined]
    own = call(here.client, make, "ops", "admin")
    body = {"method": {"name": "glance-download", "glance_image_id": some, "glance_region": region}}
    refused = here.client.post(f"/v2/images/{image['id']}/import", json=body,
                               headers={"x-auth-token": own.token})  # fmt: skip
    assert_error(refused, 400)
    assert "Keystone token" in refused.text


def test_offered_only_with_keystone(client: TestClient) -> None:
    methods = client.get("/v2/info/import").json()["import-methods"]["value"]
    assert "glance-download" not in methods
    image = client.post("/v2/images", json={"disk_format": "raw", "container_format": "bare"})
    body = {"method": {"name": "glance-download", "glance_image_id": str(uuid.uuid4()),
                       "glance_region": "RegionOne"}}  # fmt: skip
    assert_error(client.post(f"/v2/images/{image.json()['id']}/import", json=body), 400)
