"""An artifact and a task as JSON documents, in the Glance v2 shape: what the v2 face
shows (with its links) and what events carry (lading.services.events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lading.domain import Artifact, Task


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


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
