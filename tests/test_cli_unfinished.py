"""The state file of ``lading upload``'s unfinished uploads (``lading.cli.unfinished``)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lading.cli.resuming import ByteSize
from lading.cli.unfinished import KEPT, Unfinished, UnfinishedUploads, state_path

SERVER = "http://127.0.0.1:9292"


def a_record(tmp_path: Path, name: str = "disk.img", server: str = SERVER) -> Unfinished:
    file = tmp_path / name
    if not file.exists():
        file.write_bytes(b"x" * 100)
    return Unfinished.of(server, file, f"{server}/uploads/{name}", "artifact-1")


def test_the_state_file_is_under_xdg_state_home_else_local_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert state_path() == tmp_path / "state" / "lading" / "uploads.json"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert state_path() == tmp_path / "home" / ".local" / "state" / "lading" / "uploads.json"


def test_a_record_is_found_by_server_and_file_until_forgotten(tmp_path: Path) -> None:
    kept = UnfinishedUploads(tmp_path / "state" / "uploads.json")
    record = a_record(tmp_path)
    kept.keep(record)
    kept.keep(a_record(tmp_path, server="http://elsewhere:9292"))
    # The same file by another path (relative, through ..) is the same file.
    assert kept.find(SERVER, tmp_path / "state" / ".." / "disk.img") == record
    assert kept.find(SERVER, tmp_path / "other.img") is None
    assert stat.S_IMODE(kept.path.stat().st_mode) == 0o600  # its URLs are for the user only
    kept.forget(record)
    assert kept.find(SERVER, tmp_path / "disk.img") is None
    assert kept.find("http://elsewhere:9292", tmp_path / "disk.img") is not None


def test_a_changed_file_no_longer_fits(tmp_path: Path) -> None:
    record = a_record(tmp_path)
    file = tmp_path / "disk.img"
    assert record.fits(file)
    os.utime(file, ns=(record.mtime_ns, record.mtime_ns + 1_000_000_000))
    assert not record.fits(file)  # touched: same size, another time
    os.utime(file, ns=(record.mtime_ns, record.mtime_ns))
    with file.open("ab") as appended:
        appended.write(b"y")
    os.utime(file, ns=(record.mtime_ns, record.mtime_ns))
    assert not record.fits(file)  # grown, with its time put back
    file.unlink()
    assert not record.fits(file)


def test_a_damaged_state_file_is_read_as_empty_and_rewritten(tmp_path: Path) -> None:
    kept = UnfinishedUploads(tmp_path / "uploads.json")
    kept.path.write_text("{not json")
    assert kept.find(SERVER, tmp_path / "disk.img") is None
    kept.keep(a_record(tmp_path))
    assert kept.find(SERVER, tmp_path / "disk.img") is not None


def test_the_oldest_records_go_first(tmp_path: Path) -> None:
    kept = UnfinishedUploads(tmp_path / "uploads.json")
    for number in range(KEPT + 3):
        kept.keep(a_record(tmp_path, f"disk-{number}.img"))
    assert kept.find(SERVER, tmp_path / "disk-0.img") is None
    assert kept.find(SERVER, tmp_path / f"disk-{KEPT + 2}.img") is not None


@pytest.mark.parametrize(
    ("given", "expected"),
    [("1048576", 1048576), ("64M", 64 << 20), ("64MiB", 64 << 20), ("8 k", 8192), ("1g", 1 << 30)],
)
def test_chunk_sizes_are_read_in_units_of_1024(given: str, expected: int) -> None:
    assert ByteSize().convert(given, None, None) == expected


@pytest.mark.parametrize("given", ["0", "-1", "64 MB extra", "lots"])
def test_a_chunk_size_that_is_not_one_is_refused(given: str) -> None:
    with pytest.raises(Exception, match="is not a size"):
        ByteSize().convert(given, None, None)
