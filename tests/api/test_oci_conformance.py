"""The OCI conformance suite's cases (``tests/oci_conformance.py``, which says why they
are walked in Python) against the registry in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from lading.app import create_registry_app
from tests.oci_conformance import *  # noqa: F403 (the cases, collected here)
from tests.oci_conformance import Data, Suite
from tests.world import World


@pytest.fixture
def suite(world: World, request: pytest.FixtureRequest) -> Iterator[Suite]:
    app = create_registry_app(world.settings)
    seed = int(hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8], 16)
    with TestClient(app, base_url="http://registry.test") as client:
        yield Suite(client, world.tokens["owner"], Data(seed))
