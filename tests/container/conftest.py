"""The engine and the Containerfile's image, once per session: both modules use them."""

from __future__ import annotations

import pytest

from tests.container.engine import Engine, build_image, engine


@pytest.fixture(scope="session")
def tools() -> Engine:
    return engine()


@pytest.fixture(scope="session")
def image(tools: Engine) -> str:
    return build_image(tools)
