"""The OCI conformance suite's cases (``tests/oci_conformance.py``, which says why they
are walked in Python) against the registry in-process, on SQLite and PostgreSQL.

Heavy: each case replays its workflow's setup on a new catalogue, 65 cases in about 30 s
on SQLite, which would take a sixth of ``make check``'s time; ``test_oci.py`` keeps the
registry's cases in that tier, and ``make test`` runs these."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from lading.app import create_registry_app
from tests.oci_conformance import *  # noqa: F403 (the cases, collected here)
from tests.oci_conformance import Data, Suite
from tests.world import World

pytestmark = pytest.mark.heavy


@pytest.fixture
def suite(world: World, request: pytest.FixtureRequest) -> Iterator[Suite]:
    app = create_registry_app(world.settings)
    seed = int(hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8], 16)
    with TestClient(app, base_url="http://registry.test") as client:
        yield Suite(client, world.tokens["owner"], Data(seed))
