"""Python distributions as the index reads them (``lading.services.python_dists``): names
normalised as PEP 503 says, file names checked against the upload, and a wheel's METADATA
read within its cap, whatever its zip header claims."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from lading.errors import BadRequest, TooLarge
from lading.services.python_dists import check_filename, normalize, wheel_metadata
from tests.python_dists import metadata, sdist, wheel


@pytest.mark.parametrize(
    ("name", "normal"),
    [("Friendly-Bard", "friendly-bard"), ("FRIENDLY_BARD", "friendly-bard"),
     ("friendly.bard", "friendly-bard"), ("friendly--_.bard", "friendly-bard")],
)  # fmt: skip
def test_names_are_normalised_as_pep_503_says(name: str, normal: str) -> None:
    assert normalize(name) == normal


def test_file_names_of_wheels_and_sdists_are_the_uploads() -> None:
    found = check_filename("Demo_Tool-1.0.post1-py3-none-any.whl", "demo.tool", "1.0-post1",
                           "bdist_wheel")  # fmt: skip
    assert (found.project, found.version) == ("demo-tool", "1.0.post1")
    assert check_filename(sdist("demo", "2.0").filename, "Demo", "2.0", "sdist").filetype == "sdist"
    for filename, version in (("demo-1.0.tar.gz", "1.1"), ("demo-1.0-x.whl", "1.0"),
                              ("../demo-1.0.tar.gz", "1.0"), ("demo-1.0.exe", "1.0")):  # fmt: skip
        with pytest.raises(BadRequest):
            check_filename(filename, "demo", version, "sdist")


def write_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_metadata_is_read_within_its_cap(tmp_path: Path) -> None:
    dist = wheel("demo", "1.0")
    path = dist.write(tmp_path)
    distribution = check_filename(dist.filename, "demo", "1.0", "bdist_wheel")
    assert wheel_metadata(path, distribution, 4096) == metadata("demo", "1.0").encode()
    big = metadata("demo", "1.0").encode() + b"x" * 10_000  # compresses to almost nothing
    bomb = write_wheel(tmp_path / "bomb.whl", {"demo-1.0.dist-info/METADATA": big})
    with pytest.raises(TooLarge):
        wheel_metadata(bomb, distribution, 4096)
    two = write_wheel(tmp_path / "two.whl", {"a-1.0.dist-info/METADATA": big,
                                             "b-1.0.dist-info/METADATA": big})  # fmt: skip
    with pytest.raises(BadRequest, match=r"one \.dist-info/METADATA"):
        wheel_metadata(two, distribution, 1 << 20)


def test_a_zip_header_that_lies_about_the_size_is_still_capped(tmp_path: Path) -> None:
    """The size in the central directory says 10 bytes; the member inflates to 100 KiB:
    reading stops at the cap."""
    data = metadata("demo", "1.0").encode() + b"\n" + b"y" * 100_000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo-1.0.dist-info/METADATA", data)
    raw = bytearray(buffer.getvalue())
    # Patch the uncompressed size in the central directory entry (offset 24 of it).
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24 : central + 28] = (10).to_bytes(4, "little")
    path = tmp_path / "liar.whl"
    path.write_bytes(bytes(raw))
    distribution = check_filename("demo-1.0-py3-none-any.whl", "demo", "1.0", "bdist_wheel")
    with pytest.raises((TooLarge, BadRequest)):
        wheel_metadata(path, distribution, 4096)
