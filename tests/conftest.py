"""Fixtures shared by the suite: settings in a temporary directory, the app in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from lading.app import create_app
from lading.settings import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real application, driven in-process over ASGI, lifespan included."""
    with TestClient(create_app(settings), base_url="http://lading.test") as test_client:
        yield test_client
