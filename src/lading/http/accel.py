"""Downloads handed off to nginx in front (``X-Accel-Redirect``): lading answers with the
headers and the URI of an internal location; nginx sends the file itself (sendfile),
Range and If-Range included.

nginx keeps only a few of the upstream answer's headers when it follows the redirect
(``NGINX_KEEPS``); the internal location adds back the others from its
``$upstream_http_*`` variables (``location_block``, the configuration operations.md
shows). An answer with a header neither carries (a v1 image's ``x-image-meta-property-*``)
is not handed off: lading sends it itself, so no client ever loses a header.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from starlette.responses import Response

ACCEL_HEADER = "x-accel-redirect"
# What nginx copies from the upstream answer when it follows X-Accel-Redirect
# (ngx_http_upstream's headers marked "redirect").
NGINX_KEEPS = frozenset({"content-type", "content-disposition", "cache-control", "expires"})
# What nginx sets itself from the file: lading leaves them out, or nginx would send
# Accept-Ranges twice.
NGINX_SETS = frozenset({"content-length", "accept-ranges", "content-range"})
# The image fields the Glance v1 and VISoR faces send as x-image-meta-* headers.
IMAGE_META_FIELDS = (
    "id", "_id", "uri", "name", "status", "access", "architecture", "type", "format",
    "disk_format", "container_format", "size", "virtual_size", "checksum", "min_disk",
    "min_ram", "is_public", "protected", "owner", "store", "location", "kernel", "ramdisk",
    "deleted", "deleted_at", "created_at", "updated_at",
)  # fmt: skip
# Added back by the internal location (``location_block``). ETag and Last-Modified
# replace the file's own, so that nginx's If-Range compares lading's validators.
ADDED_BACK = (
    "etag",
    "last-modified",
    "content-md5",
    "docker-content-digest",
    "x-openstack-request-id",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "access-control-expose-headers",
    "vary",
    "strict-transport-security",
    *(f"x-image-meta-{field}" for field in IMAGE_META_FIELDS),
)
CARRIED = NGINX_KEEPS | NGINX_SETS | frozenset(ADDED_BACK)


def carried(headers: Mapping[str, str]) -> bool:
    """Whether nginx answers every one of ``headers`` when lading hands the file off."""
    return all(name.lower() in CARRIED for name in headers)


def handed_off(headers: Mapping[str, str], uri: str) -> dict[str, str]:
    """The answer that hands the file at ``uri`` off to nginx: the whole file's headers
    but those nginx sets from the file itself, an empty body of lading's own."""
    kept = {name: value for name, value in headers.items() if name.lower() not in NGINX_SETS}
    return {**kept, ACCEL_HEADER: uri, "content-length": "0"}


def handed_off_response(headers: Mapping[str, str], uri: str | None) -> Response | None:
    """The answer handing the file off to nginx (``handed_off``), for a face that renders
    a whole file's ``headers`` itself; None when the store does not hand it off, or when
    nginx would drop one of the headers."""
    if uri is None or not carried(headers):
        return None
    return Response(status_code=200, headers=handed_off(headers, uri))


def location_block(prefix: str, root: Path | str) -> str:
    """nginx's internal location for a filesystem store at ``root`` whose
    ``accel_redirect`` is ``prefix``: the block operations.md shows."""
    added = "\n".join(
        f"    add_header {_header_case(name)} $upstream_http_{name.replace('-', '_')};"
        for name in ADDED_BACK
    )
    root_text = str(root).rstrip("/") + "/"
    return (
        f"location {prefix} {{\n"
        "    internal;  # only lading's X-Accel-Redirect reaches it, never a client\n"
        f"    alias {root_text};\n"
        "    # lading answered If-None-Match already; the file's own validators must not\n"
        "    # decide a 304. lading's ETag and Last-Modified, added back below, replace\n"
        "    # them, and nginx's If-Range compares those.\n"
        "    etag off;\n"
        "    if_modified_since off;\n"
        "    sendfile on;\n"
        f"{added}\n"
        "}\n"
    )


def _header_case(name: str) -> str:
    special = {"etag": "ETag", "content-md5": "Content-MD5"}
    return special.get(name, "-".join(part.capitalize() for part in name.split("-")))
