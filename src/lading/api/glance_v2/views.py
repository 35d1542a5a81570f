"""An artifact as a Glance v2 image document."""

from __future__ import annotations

from typing import Any

from lading.documents import artifact_document
from lading.domain import Artifact

IMAGE_SCHEMA = "/v2/schemas/image"


def image_view(artifact: Artifact, multistore: bool) -> dict[str, Any]:
    """The document every image response carries; it validates against the image schema.

    With several stores, an image with data also says where it lies (``stores``).
    """
    document = artifact_document(artifact) | {
        "self": f"/v2/images/{artifact.id}",
        "file": f"/v2/images/{artifact.id}/file",
        "schema": IMAGE_SCHEMA,
    }
    if multistore and artifact.locations:
        document["stores"] = ",".join(location.store for location in artifact.locations)
    return document
