"""Settings come from LADING_* variables and an optional TOML file, validated once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from lading.settings import CONFIG_FILE_VARIABLE, FilesystemStoreSettings, Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first, so that teardown removes what Settings.load records there.
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, "")
    monkeypatch.delenv(CONFIG_FILE_VARIABLE)


def test_defaults() -> None:
    settings = Settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 9292)
    assert settings.data_dir == Path("data")
    assert settings.resolved_database_url == f"sqlite:///{Path('data/lading.db').resolve()}"
    assert settings.stores == {"default": FilesystemStoreSettings()}
    assert settings.store_path("default") == Path("data/stores/default").resolve()


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LADING_PORT", "8080")
    monkeypatch.setenv("LADING_IMAGE_SIZE_CAP", "1000")
    monkeypatch.setenv("LADING_STORES", '{"fast": {"type": "filesystem", "path": "/srv/fast"}}')
    monkeypatch.setenv("LADING_DEFAULT_STORE", "fast")
    settings = Settings()
    assert settings.port == 8080 and settings.image_size_cap == 1000
    assert settings.store_path("fast") == Path("/srv/fast")


def test_toml_file_with_environment_on_top(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(
        'port = 9000\nchunk_size = 65536\ndatabase_url = "sqlite:////tmp/x.db"\n'
        '[stores.default]\ntype = "filesystem"\npath = "/srv/images"\n'
    )
    monkeypatch.setenv("LADING_PORT", "9001")
    settings = Settings.load(config)
    assert settings.port == 9001 and settings.chunk_size == 65536
    assert settings.resolved_database_url == "sqlite:////tmp/x.db"
    assert settings.store_path("default") == Path("/srv/images")


@pytest.mark.parametrize(
    "values",
    [{"port": 70000}, {"default_store": "missing"}, {"chunk_size": 10}, {"unknown": 1},
     {"stores": {"x": {"type": "tape"}}}, {"upload_stuck_after": 0},
     {"stores": {"web": {"type": "http"}}, "default_store": "web"}],
)  # fmt: skip
def test_invalid_settings_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)  # type: ignore[arg-type]


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Settings.load(tmp_path / "absent.toml")
