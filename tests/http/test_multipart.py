"""``multipart/form-data`` read as it arrives (``lading.http.multipart``): a field that
comes again, as twine repeats ``classifiers``, taken when the reader allows it (its first
value kept) and refused otherwise; the count and size of fields bounded; the file's size
told by Content-Length before its bytes are read (a quota refuses it then)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from lading.errors import LadingError
from lading.http.multipart import FormReader


async def read(request: Request) -> Response:
    repeats = request.query_params.get("repeats") == "1"
    try:
        fields, file = await FormReader(
            request, max_field=100, max_fields=5, repeats=repeats
        ).fields()
        data = b"".join([chunk async for chunk in file.chunks])
    except LadingError as exc:
        return JSONResponse({"error": exc.message}, exc.status)
    return JSONResponse(
        {"fields": fields, "file": file.filename, "size": len(data), "least": file.size_at_least}
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(Starlette(routes=[Route("/", read, methods=["POST"])])) as test_client:
        yield test_client


CLASSIFIERS = ["Programming Language :: Python", "Typing :: Typed"]


def test_a_repeated_field_keeps_its_first_value_when_repeats_are_allowed(
    client: TestClient,
) -> None:
    form = {"name": "demo", "classifiers": CLASSIFIERS}
    answer = client.post("/?repeats=1", data=form, files={"content": ("d.whl", b"x" * 10)})
    assert answer.json() == {
        "fields": {"name": "demo", "classifiers": "Programming Language :: Python"},
        "file": "d.whl",
        "size": 10,
        "least": 10,
    }
    refused = client.post("/", data=form, files={"content": ("d.whl", b"x")})
    assert refused.status_code == 400 and "repeated" in refused.json()["error"]


def test_fields_are_bounded_in_count_and_size(client: TestClient) -> None:
    many = {"classifiers": [str(number) for number in range(6)]}
    answer = client.post("/?repeats=1", data=many, files={"content": ("d", b"x")})
    assert answer.status_code == 400 and "more than 5 fields" in answer.json()["error"]
    large = client.post("/", data={"description": "x" * 101}, files={"content": ("d", b"x")})
    assert large.status_code == 413


@pytest.mark.parametrize("size", [0, 1, 1000, 200_000])
def test_the_files_size_is_known_from_content_length_before_its_bytes(
    client: TestClient, size: int
) -> None:
    fields = {"name": "demo", "description": "d" * 90}
    answer = client.post("/", data=fields, files={"content": ("d.whl", b"x" * size)}).json()
    assert answer["size"] == size
    # At most what comes, and no further below than the bytes a parser may hold back.
    assert size - 80 <= answer["least"] <= size


def test_without_content_length_the_files_size_is_unknown(client: TestClient) -> None:
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; "
            f"filename=\"d\"\r\n\r\nxyz\r\n--{boundary}--\r\n").encode()  # fmt: skip

    def chunked() -> Iterator[bytes]:
        yield body

    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    answer = client.post("/", content=chunked(), headers=headers).json()
    assert answer["size"] == 3 and answer["least"] is None
