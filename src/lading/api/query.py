"""Reading query strings, for every face: single values, page sizes, sort keys and
directions, booleans and times, each refused with a clear 400 when malformed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from lading.domain import SORT_KEYS, SortDir
from lading.errors import BadRequest
from lading.http.requests import parse_count

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


def single(params: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        raise BadRequest(f"{name} may be given only once")
    return values[0] if values else None


def page_limit(params: Sequence[tuple[str, str]]) -> int:
    raw = single(params, "limit")
    if raw is None:
        return DEFAULT_LIMIT
    limit = parse_count("limit", raw)
    return min(limit, MAX_LIMIT)


def sort_key(key: str) -> str:
    key = key.strip()
    if key not in SORT_KEYS:
        raise BadRequest(f"invalid sort key {key!r}; use one of {list(SORT_KEYS)}")
    return key


def sort_dir(direction: str) -> SortDir:
    try:
        return SortDir(direction.strip())
    except ValueError:
        raise BadRequest(f"invalid sort direction {direction!r}; use asc or desc") from None


def boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise BadRequest(f"{name} must be true or false")
    return lowered == "true"


def moment(name: str, value: str) -> datetime:
    """An ISO 8601 time, as a naive UTC datetime (as the catalogue keeps them)."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:  # 9999-12-31T23:59-01:00 is past the last UTC time
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise BadRequest(f"{name} must be an ISO 8601 time, not {value!r}") from None
    return parsed
