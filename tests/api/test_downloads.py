"""DataResponse at the ASGI level: pathsend, and what happens when clients go away."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient
from starlette.types import Message, Scope

from lading.domain import Artifact, Location, Status, Visibility
from lading.errors import StoreError
from lading.http.downloads import PATHSEND, DataResponse
from lading.services.transfers import Download
from lading.settings import Settings
from lading.stores.filesystem import FilesystemStore
from lading.stores.memory import MemoryStore
from tests.api.helpers import create, upload
from tests.portal import call

pytestmark = pytest.mark.anyio
SIZE = 4 * 1024 * 1024


def scope(extensions: dict[str, Any] | None = None, headers: list[Any] | None = None) -> Any:
    return {
        "type": "http", "method": "GET", "path": "/", "headers": headers or [],
        "extensions": extensions or {}, "query_string": b"",
    }  # fmt: skip


@pytest.fixture
async def download(tmp_path: Path) -> Download:
    store = FilesystemStore("fs", tmp_path, chunk_size=64 * 1024)

    async def data() -> Any:
        yield b"x" * SIZE

    await store.put("ab/object", data())
    moment = datetime(2026, 1, 1)
    artifact = Artifact(
        id="id", owner="p", status=Status.ACTIVE, visibility=Visibility.SHARED,
        created_at=moment, updated_at=moment,
    )  # fmt: skip
    location = Location("fs", "ab/object", SIZE, "0" * 32, "0" * 64)
    return Download(artifact, location, store)


async def test_a_whole_local_file_goes_out_by_pathsend(download: Download) -> None:
    sent: list[Message] = []

    async def receive() -> Any:
        await anyio.sleep_forever()

    async def send(message: Message) -> None:
        sent.append(message)

    await DataResponse(download)(scope({PATHSEND: {}}), receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", PATHSEND]
    assert sent[1]["path"] == str(download.local_path())


async def test_ranges_are_streamed_even_with_pathsend(download: Download) -> None:
    sent: list[Message] = []

    async def receive() -> Any:
        await anyio.sleep_forever()

    async def send(message: Message) -> None:
        sent.append(message)

    await DataResponse(download)(scope({PATHSEND: {}}, [(b"range", b"bytes=0-9")]), receive, send)
    assert sent[0]["status"] == 206 and PATHSEND not in [m["type"] for m in sent]
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"x" * 10


async def test_reading_stops_when_the_client_goes_away(download: Download) -> None:
    received = 0

    async def receive() -> Any:
        await anyio.sleep(0.01)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal received
        received += len(message.get("body", b""))
        await anyio.sleep(0.001)  # a real socket takes time

    sent: list[Message] = []

    async def recording_send(message: Message) -> None:
        sent.append(message)
        await send(message)

    with anyio.fail_after(5):
        await DataResponse(download)(scope(), receive, recording_send)
    assert 0 < received < SIZE
    assert sent[-1].get("more_body") is True  # nothing is sent after the client left


class BrokenReads(MemoryStore):
    """Starts to read, then loses its disk."""

    async def open(self, key: str, start: int = 0, end: int | None = None) -> Any:
        yield b"x"
        raise StoreError("the disk went away")


async def test_a_store_failure_mid_stream_keeps_its_type(download: Download) -> None:
    broken = Download(download.artifact, download.location, BrokenReads("broken"))

    async def receive() -> Any:
        await anyio.sleep_forever()

    async def send(message: Message) -> None:
        pass

    with pytest.raises(StoreError):
        await DataResponse(broken)(scope(), receive, send)


def test_an_upload_whose_client_goes_away_leaves_nothing(
    client: TestClient, settings: Settings
) -> None:
    image = create(client)
    path = f"/v2/images/{image['id']}/file"
    messages = iter(
        [
            {"type": "http.request", "body": b"first part", "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[Message] = []

    async def receive() -> Any:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message)

    request: Scope = {
        "type": "http", "method": "PUT", "path": path, "raw_path": path.encode(),
        "headers": [(b"host", b"lading.test")], "query_string": b"", "http_version": "1.1",
        "scheme": "http", "server": ("lading.test", 80), "client": ("127.0.0.1", 1),
        "root_path": "", "extensions": {},
    }  # fmt: skip
    call(client, client.app, request, receive, send)
    assert client.get(f"/v2/images/{image['id']}").json() == image
    stored = settings.store_path("default")
    assert [p for p in stored.rglob("*") if p.is_file()] == []
    upload(client, image["id"], b"retried")
