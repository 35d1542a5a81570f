"""Tests that need a real server skip without it, saying why; CI makes that a failure."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_SERVICES_VARIABLE = "LADING_REQUIRE_SERVICES"
# The marker of a test, or of a parameter (``pytest.param(..., marks=SERVICES)``), that needs
# one of these servers: it takes the test out of ``make check`` (tests/conftest.py).
SERVICES = pytest.mark.services


def unavailable(reason: str, remedy: str = "run scripts/services.sh start") -> NoReturn:
    """Skip a test whose server (or program) is missing, or fail where they are required."""
    if os.environ.get(REQUIRE_SERVICES_VARIABLE):
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_VARIABLE} is set)")
    pytest.skip(f"{reason}; {remedy}")
