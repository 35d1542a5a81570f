"""VISoR's store names and lading's stores.

VISoR named a backend by its kind: ``s3`` and the S3-compatible ``walrus``, ``cumulus``
and ``lunacloud``, ``file``, ``http`` (read-only) and ``hdfs``. Each name leads to a
configured lading store: the one ``visor_stores`` names, else the default store when it
is of that kind, else the first store of that kind. ``swift`` and ``rbd`` are lading's own
additions. HDFS is not offered (see docs/api-visor.md), so ``hdfs`` leads nowhere unless mapped.
"""

from __future__ import annotations

from lading.errors import BadRequest
from lading.settings import Settings

KINDS = {"s3": "s3", "walrus": "s3", "cumulus": "s3", "lunacloud": "s3", "file": "filesystem",
         "http": "http", "swift": "swift", "rbd": "rbd", "hdfs": "hdfs"}  # fmt: skip
# The name a store of each kind shows as, when no visor_stores entry names it.
SHOWN = {"s3": "s3", "filesystem": "file", "http": "http", "swift": "swift", "rbd": "rbd"}


def lading_store(settings: Settings, name: str) -> str:
    """The lading store a VISoR store name leads to; 400, naming the ones that lead
    somewhere, when it leads nowhere."""
    name = name.strip().lower()
    found = _resolve(settings, name)
    if found is None:
        raise BadRequest(f"no store here for {name!r}; available: {', '.join(available(settings))}")
    return found


def available(settings: Settings) -> list[str]:
    """The VISoR store names that lead to a store here."""
    names = {*KINDS, *settings.visor_stores}
    return sorted(name for name in names if _resolve(settings, name) is not None)


def visor_name(settings: Settings, store: str) -> str:
    """How a lading store shows in VISoR's ``store`` field."""
    for name, mapped in sorted(settings.visor_stores.items()):
        if mapped == store:
            return name
    return SHOWN[settings.stores[store].type]


def _resolve(settings: Settings, name: str) -> str | None:
    if name in settings.visor_stores:
        return settings.visor_stores[name]
    kind = KINDS.get(name)
    of_kind = [store for store, config in settings.stores.items() if config.type == kind]
    if settings.default_store in of_kind:
        return settings.default_store
    return of_kind[0] if of_kind else None
