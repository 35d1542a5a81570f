"""HTTP Range requests (RFC 9110 section 14) for any store."""

from __future__ import annotations

from dataclasses import dataclass

from lading.errors import RangeNotSatisfiable
from lading.http.requests import MAX_DIGITS

MAX_RANGE_SPECS = 100
BEYOND = 10**MAX_DIGITS


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # exclusive

    @property
    def length(self) -> int:
        return self.end - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


def parse_range(header: str | None, size: int) -> list[ByteRange] | None:
    """The ranges to send, merged and in order; None to send the whole representation.

    A header that is malformed, in another unit or absurdly long is ignored, as RFC
    9110 allows. A well-formed header that selects nothing raises RangeNotSatisfiable.
    """
    if header is None:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs:
        return None
    parts = specs.split(",")
    if len(parts) > MAX_RANGE_SPECS:
        return None
    ranges: list[ByteRange] = []
    for part in parts:
        first, dash, last = part.strip().partition("-")
        if not dash or not _is_digits(first, allow_empty=True) or not _is_digits(last, True):
            return None
        if not first:  # suffix: the last N bytes
            if not last:
                return None
            length = _number(last)
            if length > 0 and size > 0:
                ranges.append(ByteRange(max(0, size - length), size))
            continue
        start = _number(first)
        if last and _number(last) < start:
            return None
        end = _number(last) + 1 if last else size
        if start < size:
            ranges.append(ByteRange(start, min(end, size)))
    if not ranges:
        raise RangeNotSatisfiable(f"no requested range lies within the {size} bytes", size)
    return _merge(ranges)


def _is_digits(text: str, allow_empty: bool = False) -> bool:
    return (allow_empty and not text) or (text.isascii() and text.isdigit())


def _number(digits: str) -> int:
    # Past 18 digits a position lies beyond any object: no need to convert it (for
    # thousands of digits int() is slow, and Python refuses past 4,300).
    return int(digits) if len(digits) <= MAX_DIGITS else BEYOND


def _merge(ranges: list[ByteRange]) -> list[ByteRange]:
    """Overlapping or touching ranges become one, so a request cannot amplify the answer."""
    merged: list[ByteRange] = []
    for byte_range in sorted(ranges, key=lambda r: r.start):
        if merged and byte_range.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = ByteRange(last.start, max(last.end, byte_range.end))
        else:
            merged.append(byte_range)
    return merged
