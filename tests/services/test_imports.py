"""Starting an import (Glance v2's interoperable import): the request checked at once
(method offered, stores, formats, a URL the rules allow), the image moved to importing
and held by the task, whose input keeps the request as Glance does without credentials;
a second import of the same image refused; the legacy task API for administrators."""

from __future__ import annotations

from typing import Any

import pytest

from lading.db import artifacts
from lading.db.engine import Database
from lading.domain import Status
from lading.errors import BadRequest, Conflict, Forbidden
from lading.services import Services
from lading.services.access import Caller
from lading.services.roles import ADMIN, MEMBER
from lading.services.validation import Changes
from lading.url_rules import UrlRefused

pytestmark = pytest.mark.anyio
OWNER = Caller.with_role("A", MEMBER)
FORMATS = {"disk_format": "raw", "container_format": "bare"}
WEB = {"method": {"name": "web-download", "uri": "https://alice:pw@example.org/disk.img"}}


async def queued(services: Services, **fields: Any) -> str:
    return (await services.catalogue.create(OWNER, Changes({**FORMATS, **fields}))).id


def test_the_methods_offered_depend_on_stores_and_keystone(services: Services) -> None:
    assert services.imports.methods == ("glance-direct", "web-download")  # one store, no Keystone


async def test_a_web_download_holds_the_image_and_keeps_no_credentials(
    services: Services, database: Database
) -> None:
    image = await queued(services)
    task = await services.imports.start(OWNER, image, WEB, request_id="req-1")
    assert (task.artifact_id, task.request_id, task.owner) == (image, "req-1", "A")
    assert await database.read(artifacts.status_of, image) is Status.IMPORTING
    assert task.input["uri"] == "https://example.org/disk.img"
    assert task.input["import_req"]["method"]["uri"] == "https://example.org/disk.img"
    assert "pw" not in str(task.shown_input)
    assert (task.input["image_id"], task.input["backend"]) == (image, [None])
    with pytest.raises(Conflict, match="imports into an image that is queued"):
        await services.imports.start(OWNER, image, WEB)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("web-download", BadRequest),
        ({"method": {"name": "copy-image"}}, BadRequest),  # not offered with one store
        ({"method": {"name": "magic"}}, BadRequest),
        ({**WEB, "stores": ["elsewhere"]}, BadRequest),
        ({**WEB, "all_stores": "yes"}, BadRequest),
        ({**WEB, "all_stores_must_succeed": 1}, BadRequest),
        ({"method": {"name": "web-download", "uri": "file:///etc/passwd"}}, UrlRefused),
        ({"method": {"name": "web-download", "uri": "http://127.0.0.1/x"}}, UrlRefused),
        ({"method": {**WEB["method"], "sha256": 5}}, BadRequest),
    ],
)
async def test_a_bad_request_is_refused_and_the_image_left_as_it_was(
    services: Services, database: Database, body: Any, error: type[Exception]
) -> None:
    image = await queued(services)
    with pytest.raises(error):
        await services.imports.start(OWNER, image, body)
    assert await database.read(artifacts.status_of, image) is Status.QUEUED


async def test_an_import_needs_the_owner_formats_and_the_right_status(
    services: Services,
) -> None:
    without = (await services.catalogue.create(OWNER, Changes())).id
    with pytest.raises(BadRequest, match="must be set before"):
        await services.imports.start(OWNER, without, WEB)
    image = await queued(services, visibility="community")  # seen by others
    with pytest.raises(Forbidden):
        await services.imports.start(Caller.with_role("B", MEMBER), image, WEB)
    with pytest.raises(Conflict, match="that is uploading"):  # nothing was staged
        await services.imports.start(OWNER, image, {"method": {"name": "glance-direct"}})


async def test_the_legacy_task_api_is_for_administrators(services: Services) -> None:
    properties = {"name": "legacy", **FORMATS}
    task_input = {"import_from": "https://example.org/d.img", "image_properties": properties}
    body = {"type": "import", "input": task_input}
    with pytest.raises(Forbidden):
        await services.imports.start_legacy(OWNER, body)
    admin = Caller.with_role("A", ADMIN)
    for bad in ({"type": "export"}, {"type": "import", "input": {}}):
        with pytest.raises(BadRequest):
            await services.imports.start_legacy(admin, bad)
    task = await services.imports.start_legacy(admin, body)
    assert task.artifact_id is not None
    image = await services.catalogue.get(admin, task.artifact_id)
    assert (image.name, image.status) == ("legacy", Status.IMPORTING)
