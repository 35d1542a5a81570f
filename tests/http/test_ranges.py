"""Range header parsing (RFC 9110)."""

from __future__ import annotations

import pytest

from lading.errors import RangeNotSatisfiable
from lading.http.ranges import ByteRange, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", [(0, 100)]),
        ("bytes=900-", [(900, 1000)]),
        ("bytes=-10", [(990, 1000)]),
        ("bytes=-5000", [(0, 1000)]),
        ("bytes=0-5000", [(0, 1000)]),
        ("bytes=0-1,10-11", [(0, 2), (10, 12)]),
        ("bytes=10-20,0-5,15-30", [(0, 6), (10, 31)]),
        ("bytes=0-1,2-3", [(0, 4)]),
        ("bytes=5-9, 999-", [(5, 10), (999, 1000)]),
        ("bytes=0-1,5000-", [(0, 2)]),
        ("BYTES=0-0", [(0, 1)]),
    ],
)
def test_satisfiable(header: str, expected: list[tuple[int, int]]) -> None:
    assert parse_range(header, 1000) == [ByteRange(*pair) for pair in expected]


@pytest.mark.parametrize(
    "header",
    [None, "", "bytes=", "bytes=5-1", "bytes=a-", "bytes=-", "bytes=1-2-3", "lines=0-1",
     "bytes=0x1-2", "bytes=\u0661-\u0662", "bytes=" + ",".join(["0-1"] * 101)],
)  # fmt: skip
def test_ignored(header: str | None) -> None:
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize(("header", "size"), [("bytes=1000-", 1000), ("bytes=-0", 1000),
                                               ("bytes=0-", 0), ("bytes=-1", 0)])  # fmt: skip
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size)


def test_huge_numbers_are_bounded() -> None:
    assert parse_range("bytes=0-" + "9" * 100, 10) == [ByteRange(0, 10)]
