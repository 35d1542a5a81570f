"""Container disk layers in the catalogue: kept per image, replaced when worked out again
(another layout or size), the same row written twice harmlessly."""

from __future__ import annotations

from lading.db.container_disks import Layer, find_layer, remember_layer
from lading.db.engine import Database
from tests.db.rows import NOW, artifact, insert

IMAGE = "11111111-1111-4111-8111-111111111111"


def test_a_layer_is_kept_and_replaced(database: Database) -> None:
    database.run(True, insert, artifact(IMAGE))
    assert database.run(False, find_layer, IMAGE) is None
    first = Layer(1, 4096, "a" * 64)
    database.run(True, remember_layer, IMAGE, first, NOW)
    assert database.run(False, find_layer, IMAGE) == first
    database.run(True, remember_layer, IMAGE, first, NOW)  # a second process, same bytes
    assert database.run(False, find_layer, IMAGE) == first
    other = Layer(2, 8192, "b" * 64)
    database.run(True, remember_layer, IMAGE, other, NOW)
    assert database.run(False, find_layer, IMAGE) == other
