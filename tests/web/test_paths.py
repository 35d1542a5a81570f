"""The UI's paths are built from its routes' names (``lading.web.paths``), in its code and
its templates alike: none is written out, so that where the UI is mounted is said once."""

from __future__ import annotations

import re
from pathlib import Path

import lading.web

WEB = Path(lading.web.__file__).parent
WRITTEN = re.compile(r"""["'(]/(ui|v1|v2)\b""")  # a path of a face, as a literal


def test_no_path_is_written_out() -> None:
    sources = [
        *WEB.glob("*.py"),
        *(WEB / "templates").glob("*.html"),
        *(WEB / "static").glob("*.js"),
    ]
    written = {
        f"{source.name}:{number}: {line.strip()}"
        for source in sources
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
        if WRITTEN.search(line)
    }
    assert written == set()
