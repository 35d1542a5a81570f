"""The read-only http store, against a real HTTP server on loopback."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from lading.errors import ObjectNotFound, ReadOnlyStore
from lading.stores.http import HttpStore
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
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("http-store")
    (root / "files").mkdir()
    (root / "files" / "data.bin").write_bytes(DATA)
    (root / "files_app.py").write_text(SERVER)
    with running_asgi("files_app:app", root, "/files/data.bin") as url:
        yield url


@pytest.fixture
async def store() -> AsyncIterator[HttpStore]:
    store = HttpStore("web", chunk_size=64 * 1024, timeout=10)
    yield store
    await store.close()


async def read(store: HttpStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.open(key, start, end)])


async def test_size_and_whole_reads(store: HttpStore, server: str) -> None:
    key = f"{server}/files/data.bin"
    assert (await store.stat(key)).size == len(DATA)
    assert await read(store, key) == DATA


@pytest.mark.parametrize("path", ["/files/data.bin", "/whole"])
@pytest.mark.parametrize(("start", "end"), [(0, 1), (100, 70_000), (299_000, None), (5, 5)])
async def test_ranges_even_where_the_server_ignores_them(
    store: HttpStore, server: str, path: str, start: int, end: int | None
) -> None:
    assert await read(store, f"{server}{path}", start, end) == DATA[start:end]


async def test_missing_locations(store: HttpStore, server: str) -> None:
    with pytest.raises(ObjectNotFound):
        await store.stat(f"{server}/files/absent")
    with pytest.raises(ObjectNotFound):
        await read(store, f"{server}/files/absent")


async def test_writes_are_refused_and_deletes_leave_the_bytes(
    store: HttpStore, server: str
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(ReadOnlyStore):
        await store.put(f"{server}/files/new", chunks())
    await store.delete(f"{server}/files/data.bin")
    assert (await store.stat(f"{server}/files/data.bin")).size == len(DATA)
