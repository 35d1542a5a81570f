"""An artifact as a Glance v2 image document."""

from __future__ import annotations

from typing import Any

from lading.api.glance_v2.paths import Routes, path_for, schema
from lading.documents import artifact_document
from lading.domain import Artifact


def image_view(artifact: Artifact, multistore: bool, routes: Routes) -> dict[str, Any]:
    """The document every image response carries; it validates against the image schema.

    With several stores, an image with data also says where it lies (``stores``).
    """
    document = artifact_document(artifact) | {
        "self": path_for(routes, "image", image_id=artifact.id),
        "file": path_for(routes, "image_file", image_id=artifact.id),
        "schema": schema(routes, "image"),
    }
    if multistore and artifact.locations:
        document["stores"] = ",".join(location.store for location in artifact.locations)
    return document
