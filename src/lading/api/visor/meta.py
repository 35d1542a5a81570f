"""VISoR's image metadata and lading's artifacts.

VISoR's fields map onto the artifact: ``_id`` is the id, ``access`` the visibility
(public, or private for anything else), ``format`` the disk format, ``status`` a
lifecycle status under VISoR's four names, and ``architecture``, ``type``, ``kernel`` and
``ramdisk`` the properties Glance uses for them (``architecture``, ``visor_type``,
``kernel_id``, ``ramdisk_id``), so that the other faces see them too. Any other attribute
is a property. Attributes with no value are left out, as VISoR leaves them out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lading.api.headers import Meta, meta_items
from lading.clock import timestamp
from lading.domain import DISK_FORMATS, PROPERTY_SORT, Artifact, Status, Visibility
from lading.errors import BadRequest

ARCHITECTURES = ("i386", "i686", "x86_64", "aarch64", "armv7l", "ppc64le", "s390x")
TYPES = ("kernel", "ramdisk", "machine", "amazon", "eucalyptus", "openstack", "opennebula",
         "nimbus")  # fmt: skip
ACCESS = {"public": Visibility.PUBLIC, "private": Visibility.PRIVATE}
# VISoR's status names for lading's statuses (deactivated data cannot be read: locked).
STATUSES = {
    Status.QUEUED: "locked",
    Status.DEACTIVATED: "locked",
    Status.SAVING: "uploading",
    Status.UPLOADING: "uploading",
    Status.IMPORTING: "uploading",
    Status.ACTIVE: "available",
    Status.KILLED: "error",
}
PROPERTIES = {"architecture": "architecture", "type": "visor_type", "kernel": "kernel_id",
              "ramdisk": "ramdisk_id"}  # fmt: skip
# Set by the server; a request that sets them is refused.
READ_ONLY = ("uri", "status", "created_at", "updated_at", "uploaded_at", "accessed_at",
             "access_count", "owner")  # fmt: skip
# Said by the client about the data, or choosing where it goes.
DATA_FIELDS = ("_id", "size", "checksum", "store", "location")
BRIEF = ("_id", "uri", "name", "architecture", "type", "format", "store", "size", "created_at")
SORTS = {"_id": "id", "uri": "id", "name": "name", "access": "visibility", "status": "status",
         "format": "disk_format", "size": "size", "owner": "owner", "checksum": "checksum",
         "created_at": "created_at", "updated_at": "updated_at"}  # fmt: skip
# What says where the data is, which no column orders.
UNSORTED = ("store", "location")


def read_meta(headers: Mapping[str, str]) -> Meta:
    meta = Meta()
    for name, key, value in meta_items(headers):
        if key in READ_ONLY:
            raise BadRequest(f"{name} is the server's to set")
        if key in DATA_FIELDS:
            meta.given[key] = value
        elif key == "name":
            meta.fields["name"] = value
        elif key == "access":
            meta.fields["visibility"] = _one_of(name, value.lower(), ACCESS)
        elif key == "format":
            fmt = value.lower()
            meta.fields["disk_format"] = None if fmt == "none" else _one_of(name, fmt, DISK_FORMATS)
        elif key == "architecture":
            meta.properties["architecture"] = _one_of(name, value, ARCHITECTURES)
        elif key == "type":
            meta.properties["visor_type"] = _one_of(name, value.lower(), TYPES)
        elif key in PROPERTIES:
            meta.properties[PROPERTIES[key]] = value
        elif not key or key.startswith("_"):
            raise BadRequest(f"{name} is not an attribute one may set")
        else:
            meta.properties[key] = value
    return meta


def document(artifact: Artifact, uri: str, store: str | None, location: str | None = None
             ) -> dict[str, Any]:  # fmt: skip
    """The image as VISoR describes it (detail), its attributes with no value left out."""
    properties = dict(artifact.properties)
    shown: dict[str, Any] = {
        "_id": artifact.id,
        "uri": uri,
        "name": artifact.name,
        "architecture": properties.pop("architecture", None),
        "access": "public" if artifact.visibility is Visibility.PUBLIC else "private",
        "status": STATUSES.get(artifact.status, "error"),
        "size": artifact.size,
        "type": properties.pop("visor_type", None),
        "format": artifact.disk_format,
        "store": store,
        "location": location,
        "kernel": properties.pop("kernel_id", None),
        "ramdisk": properties.pop("ramdisk_id", None),
        "owner": artifact.owner,
        "checksum": artifact.checksum,
        "created_at": timestamp(artifact.created_at),
        "updated_at": timestamp(artifact.updated_at),
    }
    for key, value in properties.items():
        shown.setdefault(key, value)  # VISoR's own attributes win over a same-named property
    return {key: value for key, value in shown.items() if value is not None}


def brief(detail: Mapping[str, Any]) -> dict[str, Any]:
    return {key: detail[key] for key in BRIEF if key in detail}


def sort_key(attribute: str) -> str:
    """The listing's sort key for a VISoR attribute: a field, else the property that
    holds it (VISoR sorted by any attribute)."""
    if attribute in SORTS:
        return SORTS[attribute]
    if attribute in UNSORTED or not attribute or attribute.startswith("_") or len(attribute) > 255:
        raise BadRequest(f"cannot sort by {attribute!r}")
    return PROPERTY_SORT + PROPERTIES.get(attribute, attribute)


def statuses(name: str) -> list[Status]:
    """The lifecycle statuses one of VISoR's status names stands for."""
    found = [status for status, shown in STATUSES.items() if shown == name.lower()]
    if not found:
        raise BadRequest(f"unknown status {name!r}; use one of {sorted(set(STATUSES.values()))}")
    return found


def _one_of(name: str, value: str, allowed: Mapping[str, Any] | tuple[str, ...]) -> Any:
    if value not in allowed:
        raise BadRequest(f"{name} must be one of {list(allowed)}, not {value!r}")
    return allowed[value] if isinstance(allowed, Mapping) else value
