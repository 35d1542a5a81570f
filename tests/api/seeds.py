"""A small world on every face, for the fuzzing and the hostile corpus to aim at: images
in each status, a shared one with a member and a tag, a task, a PNDA file, a published
Click package, an onboarded OSM package. Each face's seed returns what its path
parameters may name (``{parameter: [values]}``), so that generated requests reach past
the 404 of an unknown id.

Seeds take Starlette's TestClient, inside its lifespan.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from lading.settings import Settings
from tests.osm_packages import package

DATA = bytes(range(256)) * 16  # 4 KiB
MEMBER = "other-project"
TAG = "seed"
SCHEMA_NAMES = ["image", "images", "member", "members", "task", "tasks"]
NAMESPACE, RESOURCE_TYPE = "seed-namespace", "OS::Glance::Image"
Pools = dict[str, list[str]]


def world_settings(data_dir: Path, catalogue: Path, image_size_cap: int = 1024 * 1024) -> Settings:
    """SQLite and a filesystem store, 1 MiB at most an artifact; fetches go nowhere (a
    closed port on loopback, allowed), so that the seeded import fails fast."""
    return Settings(
        data_dir=data_dir, database_url=f"sqlite:///{catalogue}", task_poll_interval=0.05,
        image_size_cap=image_size_cap,
        fetch={"allowed_hosts": ["127.0.0.1"], "allowed_ports": [9], "retries": 0,
               "connect_timeout": 1.0},
    )  # fmt: skip


def call(client: TestClient, method: str, url: str, expected: int, **kwargs: Any) -> Any:
    answer = client.request(method, url, **kwargs)
    assert answer.status_code == expected, f"{method} {url}: {answer.status_code} {answer.text}"
    return answer.json() if answer.text and answer.text[0] in "[{" else None


def image(client: TestClient, **fields: Any) -> str:
    body = {"disk_format": "raw", "container_format": "bare", **fields}
    return str(call(client, "POST", "/v2/images", 201, json=body)["id"])


def active_image(client: TestClient, **fields: Any) -> str:
    image_id = image(client, **fields)
    octets = {"content-type": "application/octet-stream"}
    call(client, "PUT", f"/v2/images/{image_id}/file", 204, content=DATA, headers=octets)
    return image_id


def seed_metadefs(client: TestClient) -> Pools:
    """A metadata definition namespace holding an object, a property and a tag, each
    named as the first schema (the pools share ``name``), tied to a resource type; made
    afresh each call."""
    client.delete(f"/v2/metadefs/namespaces/{NAMESPACE}")  # 404 the first time
    name = SCHEMA_NAMES[0]
    body = {"namespace": NAMESPACE, "visibility": "public",
            "objects": [{"name": name, "properties": {}}],
            "properties": {name: {"title": name, "type": "string"}},
            "tags": [{"name": name}]}  # fmt: skip
    call(client, "POST", "/v2/metadefs/namespaces", 201, json=body)
    association = {"name": RESOURCE_TYPE, "prefix": "seed_"}
    call(client, "POST", f"/v2/metadefs/namespaces/{NAMESPACE}/resource_types", 201,
         json=association)  # fmt: skip
    return {"namespace": [NAMESPACE], "name": SCHEMA_NAMES, "resource_type": [RESOURCE_TYPE]}


def seed_images(client: TestClient) -> Pools:
    """Queued, active, deactivated, protected, staged (uploading) and shared images, one
    with a member and a tag, and an import task."""
    queued, active = image(client, name="queued"), active_image(client, name="active")
    deactivated = active_image(client, name="deactivated")
    call(client, "POST", f"/v2/images/{deactivated}/actions/deactivate", 204)
    protected = active_image(client, name="protected", protected=True)
    shared = active_image(client, name="shared", visibility="shared", tags=[TAG])
    call(client, "POST", f"/v2/images/{shared}/members", 200, json={"member": MEMBER})
    staged = image(client, name="staged")
    octets = {"content-type": "application/octet-stream"}
    call(client, "PUT", f"/v2/images/{staged}/stage", 204, content=DATA, headers=octets)
    imported = image(client, name="imported")
    method = {"name": "web-download", "uri": "http://127.0.0.1:9/nothing.img"}
    call(client, "POST", f"/v2/images/{imported}/import", 202, json={"method": method})
    (task,) = call(client, "GET", f"/v2/images/{imported}/tasks", 200)["tasks"]
    metadefs = seed_metadefs(client)
    keep = {"pattern": "queued", "keep_newest": 1}
    policy = call(client, "POST", "/v2/retention/policies", 201, json=keep)
    formats = "disk_format cmF3,container_format YmFyZQ=="  # raw, bare
    tus = {"tus-resumable": "1.0.0", "upload-length": "3", "upload-metadata": formats}
    created = client.post("/uploads/", headers=tus)
    assert created.status_code == 201, created.text
    ids = [queued, active, deactivated, protected, shared, staged, imported]
    return {
        "image_id": [*ids, active.upper(), shared.replace("-", "")],
        "artifact_id": ids,
        "tag": [TAG],
        "member_id": [MEMBER],
        "task_id": [task["id"]],
        "store_id": ["default"],
        "policy_id": [policy["id"]],
        "upload_id": [created.headers["location"].rstrip("/").rpartition("/")[2]],
        **metadefs,  # its "name" pool is also the schemas'
        "file": ["lading.css", "lading.js"],  # the UI's static files
    }


def seed_pypi(client: TestClient) -> Pools:
    """The index's parameters: its names need no file behind them to be refused."""
    return {"index": ["main"], "project": ["demo"], "filename": ["demo-1.0-py3-none-any.whl"],
            "version": ["1.0"]}  # fmt: skip


def seed_pnda(client: TestClient, number: int) -> Pools:
    name = f"seed-{number}-1.0.tar.gz"
    call(client, "PUT", f"/packages/{name}", 200, content=DATA)
    return {"file": [name]}


def seed_click(client: TestClient, number: int) -> Pools:
    fields = {"name": f"com.example.seed{number}", "version": "1.0", "visibility": "public"}
    files = {"file": (f"seed{number}_1.0.click", DATA)}
    found = call(client, "POST", "/click/uploads", 201, data=fields, files=files)
    call(client, "POST", f"/click/packages/{found['id']}/publish", 200)
    return {"package_id": [found["id"]], "name": [found["name"]],
            "version": [found["version"]], "file": [found["file"]]}  # fmt: skip


def seed_osm(client: TestClient, number: int) -> Pools:
    files = {"descriptor": ("seed.tar.gz", package(f"seed_{number}_vnfd"))}
    transaction = call(client, "POST", "/api/upload", 200, files=files)["transaction_id"]
    state = call(client, "GET", f"/api/upload/{transaction}/state", 200)
    assert state["status"] == "success", state
    package_id = state["package_id"]
    listed = call(client, "GET", f"/api/package/{package_id}/files/", 200)["files"]
    export = call(client, "GET", f"/api/export/vnfd?ids=seed_{number}_vnfd", 200)
    paths = [entry["path"] for entry in listed]
    return {"transaction_id": [transaction, export["transaction_id"]], "id": [package_id],
            "name": [f"seed_{number}_vnfd"],
            # lading's paths, from the archive's top; the launchpad's, from the package's
            "path": paths + [path.partition("/")[2] for path in paths if "/" in path]}  # fmt: skip


def seed_service(client: TestClient) -> Pools:
    return {"face": ["glance-v2", "glance-v1", "visor", "pnda", "click", "osm", "ui"]}


def seeder(face: str) -> Callable[[TestClient], Pools]:
    """A function that seeds ``face``'s world afresh each time (new names each call)."""
    numbers = itertools.count()
    match face:
        case "pnda":
            return lambda client: seed_pnda(client, next(numbers))
        case "click":
            return lambda client: seed_click(client, next(numbers))
        case "osm":
            return lambda client: seed_osm(client, next(numbers))
        case "service":
            return seed_service
    return seed_images
