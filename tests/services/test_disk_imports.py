"""Reading a container disk's layer (``lading.services.disk_imports``): references as
docker writes them, long names, and the extended headers a hostile tar may bring."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import AsyncIterator

import pytest

from lading.services.disk_imports import DiskLayerInvalid, LayerReader, split_reference


def test_references_as_docker_writes_them() -> None:
    assert split_reference("team/disk:v1") == ("team/disk", "v1")
    assert split_reference("team/disk") == ("team/disk", "latest")
    assert split_reference("team/disk@sha256:ab") == ("team/disk", "sha256:ab")
    assert split_reference("team/disk:v1@sha256:ab") == ("team/disk", "sha256:ab")
    assert split_reference("team/disk.v2") == ("team/disk.v2", "latest")


async def chunks_of(data: bytes, size: int = 700) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


def tar(name: str, data: bytes, form: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=form) as archive:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.anyio
@pytest.mark.parametrize("form", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
async def test_a_disk_with_a_long_name(form: int) -> None:
    name = "disk/" + "n" * 200 + ".qcow2"
    data = os.urandom(3000)
    reader = LayerReader(chunks_of(tar(name, data, form)), disk_cap=1 << 20)
    found = await reader.find_disk()
    assert found.name == name and found.size == len(data)
    assert b"".join([chunk async for chunk in reader.disk_data()]) == data


@pytest.mark.anyio
async def test_a_global_header_setting_sizes_is_refused() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"size": "5"}) as archive:  # fmt: skip
        info = tarfile.TarInfo("disk/a.img")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"12345"))
    reader = LayerReader(chunks_of(buffer.getvalue()), disk_cap=1 << 20)
    with pytest.raises(DiskLayerInvalid, match="global pax"):
        await reader.find_disk()


@pytest.mark.anyio
async def test_too_many_members_is_refused() -> None:
    block = tarfile.TarInfo("etc/x").tobuf(tarfile.USTAR_FORMAT)
    reader = LayerReader(chunks_of(block * 10_001, 512 * 64), disk_cap=1 << 20)
    with pytest.raises(DiskLayerInvalid, match="more than 10000 members"):
        await reader.find_disk()
