"""What people read, the same in the CLI and the web UI: sizes, and the name a URL
suggests for what it brings."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: float) -> str:
    """``512 B``, ``1.5 MiB``: binary units, one decimal."""
    value, index = float(size), 0
    while value >= 1024 and index < len(UNITS) - 1:
        value, index = value / 1024, index + 1
    return f"{value:.0f} B" if index == 0 else f"{value:.1f} {UNITS[index]}"


def name_from_url(url: str) -> str | None:
    """The last segment of a URL's path, decoded: a default name for what it brings."""
    try:
        last = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2])
    except ValueError:
        return None
    return last or None
