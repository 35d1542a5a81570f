"""The query string of ``GET /v2/images``: filters, sorting and paging, as Glance reads it."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from lading.api.query import boolean, moment, page_limit, single, sort_dir, sort_key
from lading.domain import ListQuery, MemberStatus, SortDir, TimeFilter, Visibility
from lading.errors import BadRequest
from lading.http.requests import parse_count

MEMBER_STATUSES = (*MemberStatus, "all")
TEXT_FILTERS = ("name", "owner", "status", "container_format", "disk_format", "checksum",
                "os_hash_value", "id", "version")  # fmt: skip
# ``size`` is the data's size, as in Glance (whose filters name the image's columns before
# its properties); no property can be named so, since ``size`` is read-only.
INTEGER_FILTERS = ("min_disk", "min_ram", "size", "virtual_size")
BOOLEAN_FILTERS = ("protected", "os_hidden")
TIME_FILTERS = ("created_at", "updated_at")
PAGING = ("limit", "marker", "sort_key", "sort_dir", "sort")


def parse_list_query(params: Sequence[tuple[str, str]]) -> tuple[ListQuery, str | None]:
    """The validated query, and the marker id (the catalogue resolves it)."""
    limit, sort = page_limit(params), _sort(params)
    fields: dict[str, list[object]] = {}
    properties: dict[str, list[str]] = {}
    tags: list[str] = []
    times: list[TimeFilter] = []
    sizes: dict[str, int] = {}
    with_community = False
    member_status: tuple[MemberStatus, ...] = (MemberStatus.ACCEPTED,)
    marker = single(params, "marker")
    for key, value in params:
        if key in PAGING:
            continue
        if key == "tag":
            tags.append(value)
        elif key == "visibility":
            if value != "all":
                fields["visibility"] = [_visibility(value)]
            with_community = value in ("all", Visibility.COMMUNITY)
        elif key == "member_status":
            if value not in MEMBER_STATUSES:
                raise BadRequest(f"member_status must be one of {list(MEMBER_STATUSES)}")
            member_status = tuple(MemberStatus) if value == "all" else (MemberStatus(value),)
        elif key in ("size_min", "size_max"):
            sizes[key] = parse_count(key, value)
        elif key in TEXT_FILTERS:
            fields[key] = list(_values(value))
        elif key in INTEGER_FILTERS:
            fields[key] = [parse_count(key, item) for item in _values(value)]
        elif key in BOOLEAN_FILTERS:
            fields[key] = [boolean(key, value)]
        elif key in TIME_FILTERS:
            times.append(_time(key, value))
        else:
            properties[key] = list(_values(value))
    query = ListQuery(
        fields=fields, properties=properties, tags=tags, times=times,
        size_min=sizes.get("size_min"), size_max=sizes.get("size_max"),
        member_status=member_status, with_community=with_community,
        sort=sort, limit=limit,
    )  # fmt: skip
    return query, marker


def page_links(
    path: str, params: Sequence[tuple[str, str]], last_id: str | None, full: bool
) -> dict[str, str]:
    """``first`` always; ``next`` only when the page is full, as Glance does."""
    kept = [(key, value) for key, value in params if key != "marker"]
    links = {"first": path + (f"?{urlencode(kept)}" if kept else "")}
    if full and last_id is not None:
        links["next"] = f"{path}?" + urlencode([*kept, ("marker", last_id)])
    return links


def _sort(params: Sequence[tuple[str, str]]) -> list[tuple[str, SortDir]]:
    """The order asked for; a key given twice is refused (each key makes the condition
    that pages by marker longer: a thousand of them took SQLite minutes)."""
    order = _order(params)
    keys = [key for key, _ in order]
    if len(set(keys)) < len(keys):
        raise BadRequest("each sort key may be given once")
    return order


def _order(params: Sequence[tuple[str, str]]) -> list[tuple[str, SortDir]]:
    keys = [value for key, value in params if key == "sort_key"]
    dirs = [value for key, value in params if key == "sort_dir"]
    combined = single(params, "sort")
    if combined is not None:
        if keys or dirs:
            raise BadRequest("sort cannot be combined with sort_key or sort_dir")
        pairs = [item.partition(":") for item in combined.split(",")]
        return [(sort_key(key), sort_dir(direction or "desc")) for key, _, direction in pairs]
    if len(dirs) > 1 and len(dirs) != len(keys):
        raise BadRequest("give one sort_dir, or one for each sort_key")
    if not keys:
        return [("created_at", sort_dir(dirs[0]) if dirs else SortDir.DESC)]
    directions = (
        [sort_dir(d) for d in dirs]
        if len(dirs) > 1
        else [sort_dir(dirs[0] if dirs else "desc")] * len(keys)
    )
    return [(sort_key(key), direction) for key, direction in zip(keys, directions, strict=True)]


def _values(value: str) -> list[str]:
    """``in:a,b`` matches any of a and b; anything else matches itself."""
    if value.startswith("in:"):
        return [item for item in value[3:].split(",") if item]
    return [value]


def _visibility(value: str) -> Visibility:
    try:
        return Visibility(value)
    except ValueError:
        choices = [v.value for v in Visibility] + ["all"]
        raise BadRequest(f"visibility must be one of {choices}") from None


def _time(name: str, value: str) -> TimeFilter:
    operator, _, when = value.partition(":")
    if operator not in ("gt", "gte", "lt", "lte", "eq", "neq"):
        operator, when = "eq", value
    try:
        return TimeFilter(name, operator, moment(name, when))
    except BadRequest:
        raise BadRequest(f"{name} must be [operator:]an ISO 8601 time, not {value!r}") from None
