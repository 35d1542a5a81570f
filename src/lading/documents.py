"""An artifact and a task as JSON documents, in the Glance v2 shape: what the v2 face
shows (with its links) and what events carry (lading.services.events); and an artifact
in Glance v1's shape, what the v1 face shows and Glance's ``image.*`` notifications carry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lading.clock import timestamp
from lading.domain import Artifact, Status, Task, Visibility

# lading's statuses v1 never had, as a v1 client expects them: an import (a copy-from's
# fetch) is v1's saving.
V1_STATUS = {Status.IMPORTING: "saving"}


def artifact_document(artifact: Artifact) -> dict[str, Any]:
    """Its fields and properties, never where its bytes lie."""
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
    }
    if artifact.version is not None:
        document["version"] = artifact.version
    if artifact.filename is not None:
        document["filename"] = artifact.filename
    return document | artifact.properties


def task_document(task: Task) -> dict[str, Any]:
    """What anyone who may see the task may know of it: not its input or its result."""
    document: dict[str, Any] = {
        "id": task.id,
        "type": task.type,
        "status": task.status.value,
        "owner": task.owner,
        "message": task.message,
        "created_at": timestamp(task.created_at),
        "updated_at": timestamp(task.updated_at),
    }
    if task.artifact_id is not None:
        document["image_id"] = task.artifact_id
    return document


def v1_document(artifact: Artifact) -> dict[str, Any]:
    """The artifact as Glance v1 showed an image (its detail listings, its answers and
    its notifications), never where its bytes lie."""
    return {
        "id": artifact.id,
        "name": artifact.name,
        "status": V1_STATUS.get(artifact.status, artifact.status.value),
        "disk_format": artifact.disk_format,
        "container_format": artifact.container_format,
        "size": artifact.size,
        "virtual_size": artifact.virtual_size,
        "checksum": artifact.checksum,
        "min_disk": artifact.min_disk,
        "min_ram": artifact.min_ram,
        "is_public": artifact.visibility is Visibility.PUBLIC,
        "protected": artifact.protected,
        "owner": artifact.owner,
        "deleted": artifact.deleted_at is not None,
        "deleted_at": None if artifact.deleted_at is None else v1_timestamp(artifact.deleted_at),
        "created_at": v1_timestamp(artifact.created_at),
        "updated_at": v1_timestamp(artifact.updated_at),
        "properties": {key: str(value) for key, value in artifact.properties.items()},
    }


def v1_timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
