"""Rows the db tests start from: an artifact in a given status, and stored bytes that
an artifact references (a blob reserved, then committed as an upload would)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from lading.db import artifacts, blobs
from lading.domain import Artifact, Status, Visibility

NOW = datetime(2026, 12, 6, 12, 0, 0)


def artifact(artifact_id: str, status: Status = Status.QUEUED, **values: Any) -> Artifact:
    made = Artifact(
        artifact_id, values.pop("owner", "project"), status, Visibility.PRIVATE, NOW, NOW
    )
    return replace(made, **values)


def insert(connection: Connection, made: Artifact) -> Artifact:
    assert artifacts.insert_artifact(connection, made)
    return made


def stored(connection: Connection, artifact_id: str, store: str, sha256: str) -> blobs.Blob | None:
    """Bytes of ``sha256`` written to ``store`` for the artifact; the redundant blob
    ``commit`` returns when the store held them already."""
    blob_id = blobs.reserve(connection, store, f"{artifact_id}-{store}-{sha256[:2]}", NOW)
    return blobs.commit(connection, blob_id, artifact_id, 5, "m" * 32, sha256)
