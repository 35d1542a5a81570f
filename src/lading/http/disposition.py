"""``Content-Disposition`` for a download saved under a file name, built once for every
face: the name as plain ASCII (``filename=``, for clients that read only that) and as
it is, in UTF-8 (``filename*=``, RFC 6266 and RFC 8187), which clients prefer."""

from __future__ import annotations

import re
from urllib.parse import quote

# What a file name may hold as plain ASCII in a quoted string; the rest goes in filename*.
UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._ ()+-]")
HEADER = "content-disposition"


def attachment(name: str, fallback: str = "download") -> dict[str, str]:
    """The header for saving the download as ``name``; ``fallback`` is the plain name when
    nothing of ``name`` is left in ASCII (or ``name`` is empty)."""
    plain = _plain(name) or _plain(fallback) or "download"
    encoded = quote(name or fallback, safe="")
    return {HEADER: f"attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}"}


def _plain(name: str) -> str:
    return UNSAFE_IN_FILENAME.sub("_", name).strip(" .")
