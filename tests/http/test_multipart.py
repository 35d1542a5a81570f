"""``multipart/form-data`` read as it arrives (``lading.http.multipart``): a field that
comes again, as twine repeats ``classifiers``, taken when the reader allows it (its first
value kept) and refused otherwise; the count and size of fields bounded."""

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
    return JSONResponse({"fields": fields, "file": file.filename, "size": len(data)})


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
    }
    refused = client.post("/", data=form, files={"content": ("d.whl", b"x")})
    assert refused.status_code == 400 and "repeated" in refused.json()["error"]


def test_fields_are_bounded_in_count_and_size(client: TestClient) -> None:
    many = {"classifiers": [str(number) for number in range(6)]}
    answer = client.post("/?repeats=1", data=many, files={"content": ("d", b"x")})
    assert answer.status_code == 400 and "more than 5 fields" in answer.json()["error"]
    large = client.post("/", data={"description": "x" * 101}, files={"content": ("d", b"x")})
    assert large.status_code == 413
