"""An artifact as a Glance v2 image document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lading.domain import Artifact

IMAGE_SCHEMA = "/v2/schemas/image"


def image_view(artifact: Artifact, multistore: bool) -> dict[str, Any]:
    """The document every image response carries; it validates against the image schema.

    With several stores, an image with data also says where it lies (``stores``).
    """
    document: dict[str, Any] = {
        "id": artifact.id,
        "name": artifact.name,
        "status": artifact.status.value,
        "visibility": artifact.visibility.value,
        "protected": artifact.protected,
        "os_hidden": artifact.os_hidden,
        "checksum": artifact.checksum,
        "os_hash_algo": artifact.os_hash_algo,
        "os_hash_value": artifact.os_hash_value,
        "owner": artifact.owner,
        "size": artifact.size,
        "virtual_size": artifact.virtual_size,
        "container_format": artifact.container_format,
        "disk_format": artifact.disk_format,
        "min_ram": artifact.min_ram,
        "min_disk": artifact.min_disk,
        "tags": artifact.tags,
        "created_at": timestamp(artifact.created_at),
        "updated_at": timestamp(artifact.updated_at),
        "self": f"/v2/images/{artifact.id}",
        "file": f"/v2/images/{artifact.id}/file",
        "schema": IMAGE_SCHEMA,
    }
    if artifact.version is not None:
        document["version"] = artifact.version
    if artifact.filename is not None:
        document["filename"] = artifact.filename
    if multistore and artifact.locations:
        document["stores"] = ",".join(location.store for location in artifact.locations)
    document.update(artifact.properties)
    return document


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
