"""The artifact list's search form: what it asks, as a catalogue query and as links.

The form's values come back in the page's links (next page, sort headers), so that
paging keeps the search; pages go on by marker, as the API's do.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from lading.domain import DISK_FORMATS, GONE, ListQuery, SortDir, Status, Visibility
from lading.errors import BadRequest
from lading.web.forms import properties

SORT_KEYS = ("created_at", "updated_at", "name", "size", "status")
LIMITS = (25, 50, 100)
STATUSES = tuple(status.value for status in Status if status not in GONE)
VISIBILITIES = (*(visibility.value for visibility in Visibility), "all")


@dataclass(frozen=True, slots=True)
class Search:
    """The list form's values, checked; empty means no filter. ``path`` is the list's, where
    its links go."""

    text: str = ""
    status: str = ""
    visibility: str = ""
    tag: str = ""
    disk_format: str = ""
    prop: str = ""  # a property, as name=value
    hidden: bool = False  # hidden artifacts (os_hidden) too
    sort: str = "created_at"
    direction: str = "desc"
    limit: int = LIMITS[0]
    marker: str = ""
    path: str = ""

    @classmethod
    def parse(cls, params: QueryParams, path: str) -> Search:
        def one(name: str, allowed: tuple[str, ...] | None = None) -> str:
            value = params.get(name, "").strip()
            if value and allowed is not None and value not in allowed:
                raise BadRequest(f"{name} must be one of {list(allowed)}")
            return value

        limit = one("limit", tuple(str(limit) for limit in LIMITS))
        search = cls(
            text=one("q"),
            status=one("status", STATUSES),
            visibility=one("visibility", VISIBILITIES),
            tag=one("tag"),
            disk_format=one("disk_format", DISK_FORMATS),
            prop=one("property"),
            hidden=params.get("hidden") == "on",
            sort=one("sort", SORT_KEYS) or "created_at",
            direction=one("direction", ("asc", "desc")) or "desc",
            limit=int(limit) if limit else LIMITS[0],
            marker=one("marker"),
            path=path,
        )
        search.query()  # refuse a malformed search now, with its reason
        return search

    def query(self) -> ListQuery:
        fields: dict[str, list[object]] = {}
        if self.status:
            fields["status"] = [self.status]
        if self.disk_format:
            fields["disk_format"] = [self.disk_format]
        if self.visibility and self.visibility != "all":
            fields["visibility"] = [self.visibility]
        chosen = properties(self.prop) if self.prop else {}
        return ListQuery(
            fields=fields,
            properties={name: [value] for name, value in chosen.items()},
            tags=[self.tag] if self.tag else [],
            name_contains=self.text or None,
            with_community=self.visibility in ("all", Visibility.COMMUNITY),
            with_hidden=self.hidden,
            sort=[(self.sort, SortDir(self.direction))],
            limit=self.limit,
        )

    def link(self, **changes: object) -> str:
        """This search's page with some values changed; paging starts over unless a
        marker is given."""
        changed = replace(self, **{"marker": "", **changes})  # type: ignore[arg-type]
        defaults = Search()
        params = [
            (name, value)
            for name, value in (
                ("q", changed.text),
                ("status", changed.status),
                ("visibility", changed.visibility),
                ("tag", changed.tag),
                ("disk_format", changed.disk_format),
                ("property", changed.prop),
                ("hidden", "on" if changed.hidden else ""),
                ("sort", changed.sort if changed.sort != defaults.sort else ""),
                ("direction", changed.direction if changed.direction != defaults.direction else ""),
                ("limit", str(changed.limit) if changed.limit != defaults.limit else ""),
                ("marker", changed.marker),
            )
            if value
        ]
        return self.path + (f"?{urlencode(params)}" if params else "")

    def sorted_by(self, key: str) -> str:
        """The link of a column header: by that key, or the other way when already so."""
        if key == self.sort:
            return self.link(direction="asc" if self.direction == "desc" else "desc")
        return self.link(sort=key, direction="asc" if key == "name" else "desc")

    @property
    def filtered(self) -> bool:
        return any((self.text, self.status, self.visibility, self.tag, self.disk_format,
                    self.prop, self.hidden))  # fmt: skip
