"""The read-only http store, against a real HTTP server on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from lading.errors import ObjectNotFound, ReadOnlyStore
from lading.settings import Settings
from lading.stores.http import HttpStore
from lading.stores.registry import StoreRegistry
from lading.url_rules import UrlRefused
from tests.asgi_server import running_asgi

pytestmark = pytest.mark.anyio
DATA = os.urandom(300_000)
SERVER = """
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

async def whole(request):  # a server that ignores Range
    return Response(open("files/data.bin", "rb").read(), media_type="application/octet-stream")

app = Starlette(routes=[Route("/whole", whole), Mount("/files", StaticFiles(directory="files"))])
"""


@pytest.fixture(scope="module")
def files_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("http-store")
    (root / "files").mkdir()
    (root / "files" / "data.bin").write_bytes(DATA)
    (root / "files_app.py").write_text(SERVER)
    with running_asgi("files_app:app", root, "/files/data.bin") as url:
        yield url


@pytest.fixture
async def store() -> AsyncIterator[HttpStore]:
    client = httpx.AsyncClient(timeout=10, follow_redirects=True)
    store = HttpStore("web", chunk_size=64 * 1024, client=client)
    yield store
    await store.close()


async def read(store: HttpStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.open(key, start, end)])


async def test_size_and_whole_reads(store: HttpStore, files_server: str) -> None:
    key = f"{files_server}/files/data.bin"
    assert (await store.stat(key)).size == len(DATA)
    assert await read(store, key) == DATA


@pytest.mark.parametrize("path", ["/files/data.bin", "/whole"])
@pytest.mark.parametrize(("start", "end"), [(0, 1), (100, 70_000), (299_000, None), (5, 5)])
async def test_ranges_even_where_the_server_ignores_them(
    store: HttpStore, files_server: str, path: str, start: int, end: int | None
) -> None:
    assert await read(store, f"{files_server}{path}", start, end) == DATA[start:end]


async def test_missing_locations(store: HttpStore, files_server: str) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat(f"{files_server}/files/absent")
    with pytest.raises(ObjectNotFound):
        await read(store, f"{files_server}/files/absent")


async def test_writes_are_refused_and_deletes_leave_the_bytes(
    store: HttpStore, files_server: str
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(ReadOnlyStore):
        await store.put(f"{files_server}/files/new", chunks())
    await store.delete(f"{files_server}/files/data.bin")
    assert (await store.stat(f"{files_server}/files/data.bin")).size == len(DATA)


async def test_lading_reads_locations_only_where_the_fetch_rules_allow(
    files_server: str, tmp_path: Path
) -> None:
    """Callers choose these URLs: the store lading builds keeps to the fetch rules."""
    settings = Settings(data_dir=tmp_path, stores={"local": {"type": "filesystem"},
                        "web": {"type": "http"}}, default_store="local")  # fmt: skip
    registry = StoreRegistry.from_settings(settings)
    try:
        with pytest.raises(UrlRefused, match=r"not allowed|internal address"):
            await registry.external().stat(f"{files_server}/files/data.bin")
    finally:
        await registry.close()
