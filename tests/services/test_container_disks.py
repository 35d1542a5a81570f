"""The container disk's layer as ``lading.services.container_disks`` composes it: a tar
that tarfile reads, whatever range is asked, and a header that tells sizes past 8 GiB."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest

from lading.domain import Artifact, Location, Status, Visibility
from lading.services.container_disks import ComposedLayer, config_of, layer_header
from lading.services.disk_imports import LayerReader

NOW = datetime(2026, 12, 6, 12, 0, 0)


def image(size: int, disk_format: str = "raw", **properties: str) -> Artifact:
    made = Artifact("22222222-2222-4222-8222-222222222222", "A", Status.ACTIVE,
                    Visibility.PRIVATE, NOW, NOW)  # fmt: skip
    return replace(made, size=size, disk_format=disk_format, container_format="bare",
                   properties=dict(properties))  # fmt: skip


class Data:
    """What a Download gives the layer: ranges of some bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.location = Location("default", "key", len(data), None, None)

    async def read(self, start: int, end: int) -> AsyncIterator[bytes]:
        for at in range(start, end, 1000):
            yield self.data[at : min(at + 1000, end)]


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@pytest.mark.anyio
async def test_the_layer_is_a_tar_of_the_disk_and_any_range_of_it() -> None:
    data = os.urandom(5000)
    made = image(len(data), "qcow2")
    layer = ComposedLayer(layer_header(made), Data(data), len(data))  # type: ignore[arg-type]
    whole = await collect(layer.read(0, layer.size))
    assert len(whole) == layer.size and layer.size % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(whole)) as tar:
        member = tar.getmember("disk/disk.qcow2")
        extracted = tar.extractfile(member)
        assert extracted is not None and extracted.read() == data
    for start, end in ((0, 1), (1000, 1100), (1020, 1030), (6000, layer.size), (5, 6100)):
        assert await collect(layer.read(start, end)) == whole[start:end]


@pytest.mark.anyio
async def test_a_disk_past_8_gib_has_its_size_in_a_pax_header() -> None:
    size = 9 * 1024**3 + 3
    header = layer_header(image(size))
    assert layer_header(image(size)) == header  # the same bytes every time

    async def chunks() -> AsyncIterator[bytes]:
        yield header

    reader = LayerReader(chunks(), disk_cap=10 * 1024**3)
    found = await reader.find_disk()
    assert (found.name, found.size) == ("disk/disk.img", size)


def test_the_config_names_the_architecture_as_oci_does() -> None:
    def architecture(**properties: Any) -> str:
        return str(config_of(image(1, **properties), "sha256:x").decode())

    assert '"architecture":"amd64"' in architecture()
    assert '"architecture":"arm64"' in architecture(architecture="aarch64")
    assert '"architecture":"ppc64le"' in architecture(architecture="ppc64le")
