"""Sealed secrets: opened with the same key only; the key file is private and made once."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from lading.services.sealing import KEY_FILE, Sealer, Unsealable
from lading.settings import Settings

SECRET = {"username": "alice", "password": "s3cret"}


def test_a_key_file_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    sealed = Sealer(settings).seal(SECRET)
    assert "s3cret" not in sealed and "alice" not in sealed
    key = tmp_path / KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert Sealer(settings).open(sealed) == SECRET  # another process, the same file
    assert [path.name for path in tmp_path.iterdir()] == [KEY_FILE]


def test_processes_sharing_a_database_need_the_same_secret_key(tmp_path: Path) -> None:
    one = Settings(data_dir=tmp_path / "one", secret_key="k" * 32)
    sealed = Sealer(one).seal(SECRET)
    assert Sealer(Settings(data_dir=tmp_path / "two", secret_key="k" * 32)).open(sealed) == SECRET
    with pytest.raises(Unsealable, match="secret_key"):
        Sealer(Settings(data_dir=tmp_path / "two")).open(sealed)
    assert not (tmp_path / "one" / KEY_FILE).exists()  # a configured key needs no file
