"""Locations in VISoR's stores (``s3://``, ``walrus://``, ``cumulus://``,
``lunacloud://``, ``hdfs://``, ``file://``), read as objects of the lading stores those
names lead to (``lading.api.visor.stores``), and registered where they are.

The scheme picks the store, as ``x-image-meta-store`` would; the rest of the URL names
the object in it, read as that store's kind reads it, whatever the scheme:

- an S3 store: ``/<bucket>/<object>`` after the host, as VISoR wrote its URLs, or
  ``s3://<bucket>/<object>`` as lading shows its own; the bucket must be the store's,
  and the object lie under its prefix;
- a filesystem store: an absolute path inside the store's directory;
- a Swift store: ``<container>/<object>``, the store's container.

Credentials in the URL (VISoR wrote ``access:secret@``) are ignored, never kept: the
store's own, from settings, are used. lading's own objects (the keys it makes for the
data it stores) cannot be named: registering one would let a caller claim, and on
delete remove, another image's data.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from lading.errors import BadRequest
from lading.settings import (
    FilesystemStoreSettings,
    S3StoreSettings,
    Settings,
    SwiftStoreSettings,
)

SCHEMES = ("s3", "walrus", "cumulus", "lunacloud", "hdfs", "file")
# The keys lading makes for its own objects (transfers._new_key), temporary ones too.
OWN_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}")
MAX_KEY = 1024


def scheme_of(url: str) -> str | None:
    """The VISoR store scheme of a location, or None for any other (http, https, ...)."""
    scheme = url.partition(":")[0].lower() if "://" in url else ""
    return scheme if scheme in SCHEMES else None


def stored_key(settings: Settings, store: str, url: str) -> str:
    """The key in ``store`` that the location names; 400 when it names none there."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    host = parts.hostname or ""
    match settings.stores[store]:
        case S3StoreSettings(bucket=bucket, prefix=prefix):
            if host == bucket:
                key = path.lstrip("/")
            else:
                found, _, key = path.lstrip("/").partition("/")
                if found != bucket:
                    raise BadRequest(f"{_shown(url)}: store {store!r} is the bucket {bucket!r}")
            prefix = prefix.strip("/")
            if prefix:
                if not key.startswith(f"{prefix}/"):
                    raise BadRequest(f"{_shown(url)}: store {store!r} keeps objects under "
                                     f"{prefix!r}")  # fmt: skip
                key = key.removeprefix(f"{prefix}/")
        case FilesystemStoreSettings():
            root = settings.store_path(store)
            absolute = PurePosixPath(path)
            if not absolute.is_absolute() or ".." in absolute.parts:
                raise BadRequest(f"{_shown(url)}: a file location is an absolute path")
            try:
                key = absolute.relative_to(PurePosixPath(root.as_posix())).as_posix()
            except ValueError:
                raise BadRequest(f"{_shown(url)}: store {store!r} keeps its files under "
                                 f"{root}") from None  # fmt: skip
        case SwiftStoreSettings(container=container):
            if host != container:
                raise BadRequest(f"{_shown(url)}: store {store!r} is the container {container!r}")
            key = path.lstrip("/")
        case _:
            raise BadRequest(f"{_shown(url)}: store {store!r} registers http(s) URLs only")
    if not key or key == "." or len(key) > MAX_KEY or "\x00" in key:
        raise BadRequest(f"{_shown(url)} names no object")
    if OWN_KEY.fullmatch(key):
        raise BadRequest(f"{_shown(url)} is lading's own object: it cannot be registered")
    return key


def _shown(url: str) -> str:
    """The location without its credentials, shortened, for a message."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=netloc).geturl()[:200]
