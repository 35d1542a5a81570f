"""What the UI's forms send: read within bounds, and turned into the services' terms."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request

from lading.errors import BadRequest, UnsupportedMediaType
from lading.http.requests import has_body, read_bounded
from lading.services.validation import Changes

URLENCODED = "application/x-www-form-urlencoded"
MAX_FORM = 256 * 1024  # bytes: properties are typed into a text area, not uploaded
MAX_FIELDS = 64
# The base fields the upload and import forms set; tags and properties are read apart.
METADATA = ("name", "disk_format", "container_format", "visibility")


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form, bounded in size; a field given twice keeps its last value."""
    if not has_body(request):
        return {}
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != URLENCODED:
        raise UnsupportedMediaType(f"a form is sent as {URLENCODED}, not {media_type or 'none'}")
    body = await read_bounded(request, MAX_FORM, "a form")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the form cannot be read: {exc}") from None
    return dict(pairs)


def artifact_changes(form: Mapping[str, str], default_name: str | None = None) -> Changes:
    """A new artifact's metadata: fields left empty are left out (their defaults hold),
    tags come comma-separated and properties one ``name=value`` a line."""
    fields: dict[str, object] = {
        name: form[name].strip() for name in METADATA if form.get(name, "").strip()
    }
    if "name" not in fields and default_name:
        fields["name"] = default_name
    tags = [tag.strip() for tag in form.get("tags", "").split(",") if tag.strip()]
    return Changes(fields, properties(form.get("properties", "")), tags)


def properties(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        name, equals, value = line.partition("=")
        if not equals or not name.strip():
            raise BadRequest(f"properties, line {number}: write name=value, not {line!r}")
        found[name.strip()] = value.strip()
    return found
