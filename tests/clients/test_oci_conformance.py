"""The OCI conformance suite's cases (``tests/oci_conformance.py``, which says why they
are walked in Python) against a live ``lading serve``'s registry listener, over HTTP as
OCI's suite runs them: granian's framing of HEAD, 204 and 416 answers and all. One server
for the module; each case in a repository of its own."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.clients.conftest import Lading, free_port, running_lading, wait_registry
from tests.oci_conformance import *  # noqa: F403 (the cases, collected here)
from tests.oci_conformance import Data, Suite

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[tuple[str, Lading]]:
    root: Path = tmp_path_factory.mktemp("oci-conformance")
    port = free_port()
    with running_lading(root, pytestconfig, {"LADING_OCI__PORT": str(port)}) as lading:
        url = f"http://127.0.0.1:{port}"
        wait_registry(url, root / "server.log")
        yield url, lading


@pytest.fixture
def suite(registry: tuple[str, Lading], request: pytest.FixtureRequest) -> Iterator[Suite]:
    url, lading = registry
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()
    with httpx2.Client(base_url=url, timeout=TIMEOUT) as client:
        yield Suite(client, lading.token, Data(int(digest[:8], 16)), f"conformance/{digest[:16]}")
