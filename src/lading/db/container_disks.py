"""Queries on the container disk layers an image's pulls have worked out
(``lading.services.container_disks`` holds their rules).

Every function takes the ``Connection`` of its transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from lading.db.models import container_disk_layers


@dataclass(frozen=True, slots=True)
class Layer:
    layout: int
    size: int
    sha256: str


def find_layer(connection: Connection, artifact_id: str) -> Layer | None:
    row = connection.execute(
        select(
            container_disk_layers.c.layout,
            container_disk_layers.c.size,
            container_disk_layers.c.sha256,
        ).where(container_disk_layers.c.artifact_id == artifact_id)
    ).first()
    return None if row is None else Layer(row.layout, row.size, row.sha256)


def remember_layer(
    connection: Connection, artifact_id: str, layer: Layer, moment: datetime
) -> None:
    """Keep the layer's digest, in place of any kept for another layout or size; two
    processes working it out at once write the same row."""
    connection.execute(
        delete(container_disk_layers).where(container_disk_layers.c.artifact_id == artifact_id)
    )
    try:
        with connection.begin_nested():
            connection.execute(
                insert(container_disk_layers).values(
                    artifact_id=artifact_id,
                    layout=layer.layout,
                    size=layer.size,
                    sha256=layer.sha256,
                    created_at=moment,
                )
            )
    except IntegrityError:
        pass  # written meanwhile by another process, from the same bytes
