"""Glance's image_conversion plugin: which imports convert (a convertible disk format
other than the output's, in a container whose data was inspected, with data), and a
conversion to raw refused from the header's virtual size before qemu-img writes a byte."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lading.db.engine import Database
from lading.domain import Artifact, Location, Status, Visibility
from lading.errors import TooLarge
from lading.services import Services
from lading.services.conversion import Conversion
from lading.settings import Settings

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 12, 6, 12, 0, 0)
QCOW2 = Artifact("i", "p", Status.IMPORTING, Visibility.PRIVATE, NOW, NOW,
                 disk_format="qcow2", container_format="bare", size=10, virtual_size=2000,
                 locations=[Location("default", "k", 10, None, None)])  # fmt: skip


def conversion(
    tmp_path: Path, database: Database, services: Services, output: str | None, **more: Any
) -> Conversion:
    settings = Settings(data_dir=tmp_path, image_conversion={"output_format": output}, **more)
    return Conversion(settings, database, services.catalogue, services.transfers)


@pytest.mark.parametrize(
    ("output", "changes", "wanted"),
    [
        ("raw", {}, True),
        (None, {}, False),  # no output format: no conversion
        ("qcow2", {}, False),  # already in it
        ("raw", {"disk_format": "iso"}, False),  # left as it is, as Glance leaves it
        ("raw", {"container_format": "ova"}, False),  # its data was not inspected
        ("raw", {"container_format": None}, True),
        ("raw", {"locations": []}, False),  # no data yet
        ("vhd", {"disk_format": "vmdk"}, True),
    ],
)
def test_which_imports_convert(
    tmp_path: Path, database: Database, services: Services, output: str | None,
    changes: dict[str, Any], wanted: bool,
) -> None:  # fmt: skip
    converter = conversion(tmp_path, database, services, output)
    assert converter.wanted(replace(QCOW2, **changes)) is wanted


async def test_a_raw_image_over_the_cap_is_refused_before_qemu_img_runs(
    tmp_path: Path, database: Database, services: Services
) -> None:
    converter = conversion(tmp_path, database, services, "raw", image_size_cap=1000)
    with pytest.raises(TooLarge, match="2000 bytes"):
        await converter.convert(QCOW2, None)  # type: ignore[arg-type]  # no progress reached
    assert not (tmp_path / "conversions").exists()  # nothing written
