"""Tests that need a real server skip without it, saying why; CI makes that a failure."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_SERVICES_VARIABLE = "LADING_REQUIRE_SERVICES"


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose server is missing, or fail where the servers are required."""
    if os.environ.get(REQUIRE_SERVICES_VARIABLE):
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_VARIABLE} is set)")
    pytest.skip(f"{reason}; run scripts/services.sh start")
