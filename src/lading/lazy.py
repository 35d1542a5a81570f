"""Modules imported when first used, for the libraries a default server never needs.

A worker of ``lading serve`` on its defaults (SQLite and a filesystem store) imports
neither an HTTP client (httpx pulls in httpcore, h11, trio, rich and pygments), nor
Keystone's (keystoneauth1 and requests), nor ICU or cryptography's OpenSSL until a
request needs them: each is megabytes of resident memory per worker
(docs/performance.md, idle memory). A module names such a library once, at its top::

    if TYPE_CHECKING:
        import httpx
    else:
        httpx = LazyModule("httpx")

and uses it as if imported (``httpx.URL(...)``, ``except httpx.HTTPError``): the import
happens at the first attribute read, under Python's import lock. A class that subclasses
one of its classes cannot be defined before the import: it lives in a module of its own,
imported where it is used.
"""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """The module ``name``, imported at the first attribute read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        # Only called for what this object does not hold yet: once read, an attribute is
        # kept here and found directly after.
        value = getattr(importlib.import_module(self._name), attribute)
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
