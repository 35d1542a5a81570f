"""Python distributions as the index takes them: names (PEP 503), file names (PEP 427
wheels, PEP 625 sdists) checked against the upload's name and version, and a wheel's core
metadata (``*.dist-info/METADATA``, PEP 658) read from its file within bounds.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lading.errors import BadRequest, TooLarge

# PEP 508's names (and so the core metadata's Name), case-insensitive.
PROJECT_NAME = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
MAX_NAME = 200
WHEEL, SDIST = "bdist_wheel", "sdist"
# A wheel's core metadata: one METADATA in one top-level .dist-info folder.
METADATA_MEMBER = re.compile(r"[^/]+\.dist-info/METADATA")


@dataclass(frozen=True, slots=True)
class Distribution:
    """What an upload's file name and fields say it is, checked against each other."""

    project: str  # PEP 503's normalised name
    name: str  # as the upload wrote it
    version: str  # normalised (PEP 440)
    filetype: str


def normalize(name: str) -> str:
    """PEP 503's normalised form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def check_project_name(name: str) -> str:
    if len(name) > MAX_NAME or PROJECT_NAME.fullmatch(name) is None:
        raise BadRequest(
            f"{name[:MAX_NAME]!r} is not a project name (PEP 508: letters, digits, and . _ - "
            "between them)"
        )
    return name


def parse_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise BadRequest(f"{text[:100]!r} is not a PEP 440 version") from None


def check_filename(filename: str, name: str, version: str, filetype: str) -> Distribution:
    """The distribution an upload brings; BadRequest when its file name is not the name,
    version and type its fields say (a wheel's PEP 427 name, an sdist's PEP 625 one)."""
    check_project_name(name)
    wanted = parse_version(version)
    if "/" in filename or "\\" in filename or len(filename) > 255:
        raise BadRequest("the file name may not hold a path, nor exceed 255 characters")
    try:
        if filetype == WHEEL:
            if not filename.endswith(".whl"):
                raise BadRequest(f"a bdist_wheel is a .whl file, not {filename!r}")
            found_name, found_version, _, _ = parse_wheel_filename(filename)
        elif filetype == SDIST:
            if not filename.endswith((".tar.gz", ".zip")):
                raise BadRequest(f"an sdist is a .tar.gz file (PEP 625), not {filename!r}")
            found_name, found_version = parse_sdist_filename(filename)
        else:
            raise BadRequest(f"filetype {filetype!r} is not taken: wheels and sdists only")
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise BadRequest(f"{filename!r} is not a valid file name: {exc}") from None
    if found_name != canonicalize_name(name) or found_version != wanted:
        raise BadRequest(
            f"{filename!r} is not a file of {name} {version}: its name and version must be "
            "the upload's"
        )
    return Distribution(normalize(name), name, str(wanted), filetype)


def wheel_metadata(path: Path, distribution: Distribution, cap: int) -> bytes:
    """The wheel's ``METADATA``, at most ``cap`` bytes, whose Name and Version are the
    upload's; BadRequest for a file that is no such wheel. Blocking: run it on a thread."""
    try:
        with zipfile.ZipFile(path) as wheel:
            found = [i for i in wheel.infolist() if METADATA_MEMBER.fullmatch(i.filename)]
            if len(found) != 1:
                raise BadRequest("a wheel holds one .dist-info/METADATA")
            if found[0].file_size > cap:
                raise TooLarge(f"the wheel's METADATA is larger than {cap} bytes")
            with wheel.open(found[0]) as member:
                data = member.read(cap + 1)  # the header's size may lie
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise BadRequest(f"the wheel is not a readable zip file: {exc}") from None
    except (NotImplementedError, RuntimeError) as exc:  # compression methods, encryption
        raise BadRequest(f"the wheel's METADATA cannot be read: {exc}") from None
    if len(data) > cap:
        raise TooLarge(f"the wheel's METADATA is larger than {cap} bytes")
    headers = BytesHeaderParser().parsebytes(data)
    name, version = headers.get("Name"), headers.get("Version")
    if name is None or version is None:
        raise BadRequest("the wheel's METADATA has no Name or no Version")
    try:
        same_version = Version(str(version)) == Version(distribution.version)
    except InvalidVersion:
        same_version = False
    if normalize(str(name)) != distribution.project or not same_version:
        raise BadRequest(
            f"the wheel's METADATA is of {name} {version}, not of {distribution.name} "
            f"{distribution.version}"
        )
    return data
