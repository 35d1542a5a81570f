"""The version order the catalogue indexes: as people read versions, and as PEP 440 has
it for the versions PEP 440 reads."""

from __future__ import annotations

import random

import pytest
from packaging.version import Version

from lading.version_order import version_key

PEP440 = ["0.9", "1.0.dev1", "1.0a1", "1.0a2", "1.0b1", "1.0rc1", "1.0", "1.0.post1",
          "1.0.1", "1.0.9", "1.0.10", "1.1", "1.10", "2.0.0-rc.1", "2.0.0", "2.0.1", "10.0",
          "10.0.0.1"]  # fmt: skip


def test_pep_440_versions_order_as_packaging_orders_them() -> None:
    shuffled = random.Random(7).sample(PEP440, len(PEP440))
    assert sorted(shuffled, key=version_key) == sorted(shuffled, key=Version) == PEP440


@pytest.mark.parametrize(
    ("older", "newer"),
    [("1.0-SNAPSHOT", "1.0"), ("1.0-rc1", "1.0-SNAPSHOT"), ("1.0-alpha", "1.0-beta"),
     ("1.0-beta", "1.0-milestone"), ("1.0-M1", "1.0-RC1"), ("1.0", "1.0-ubuntu1"),
     ("1.0-ubuntu1", "1.0.1"), ("1.0.9", "1.0.10"), ("1.9", "1.10"), ("2.0-beta.2", "2.0-beta.10"),
     ("0.0.1", "0.1"), ("1.0.0", "1.0.0.1"), ("9", "10")],
)  # fmt: skip
def test_order_beyond_pep_440(older: str, newer: str) -> None:
    assert version_key(older) < version_key(newer)


def test_trailing_zeros_and_case_do_not_count() -> None:
    assert version_key("1.0") == version_key("1.0.0") == version_key("1")
    assert version_key("1.0-RC1") == version_key("1.0rc1")
