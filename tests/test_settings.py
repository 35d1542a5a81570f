"""Settings come from LADING_* variables and an optional TOML file, validated once."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from lading.domain import EventType
from lading.settings import CONFIG_FILE_VARIABLE, FilesystemStoreSettings, Settings, WebhookSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # setenv first, so that teardown removes the variable whatever a test set.
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


def test_webhooks() -> None:
    secret = "s" * 32
    settings = Settings(
        webhooks={
            "ci": {"url": "https://ci.example.org/hook", "secret": secret,
                   "events": ["artifact.activated", "task.*"]},
            "audit": {"url": "http://127.0.0.1:8000/", "secret": secret},  # loopback is fine
        },
        webhook_delivery={"attempts": 3, "backoff": 0.5},
    )  # fmt: skip
    ci, audit = settings.webhooks["ci"], settings.webhooks["audit"]
    assert ci.wants(EventType.ARTIFACT_ACTIVATED) and ci.wants(EventType.TASK_FINISHED)
    assert not ci.wants(EventType.ARTIFACT_CREATED)
    # "*" is lading's own events; Glance's notifications only when named.
    assert all(audit.wants(event) != event.startswith("image.") for event in EventType)
    glance = WebhookSettings(url="http://127.0.0.1:8000/", secret=secret, events=["image.*"])
    assert glance.wants(EventType.IMAGE_UPDATE) and not glance.wants(EventType.ARTIFACT_UPDATED)
    assert secret not in repr(settings)
    assert settings.webhook_delivery.attempts == 3


@pytest.mark.parametrize(
    ("webhook", "delivery", "complaint"),
    [
        ({"url": "ftp://example.org/", "secret": "s" * 32}, {}, "http(s) URL"),
        ({"url": "http:///nohost", "secret": "s" * 32}, {}, "http(s) URL"),
        ({"url": "http://example.org/", "secret": "short"}, {}, "at least 32"),
        ({"url": "http://example.org/", "secret": "s" * 32, "events": ["artifact.made"]}, {},
         "unknown event types"),
        ({"url": "http://example.org/", "secret": "s" * 32, "events": []}, {}, "at least 1"),
        ({"url": "http://example.org/", "secret": "s" * 32}, {"timeout": 60},
         "shorter than task_lease"),
    ],
)  # fmt: skip
def test_bad_webhooks_are_refused(
    webhook: dict[str, object], delivery: dict[str, object], complaint: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(complaint)):
        Settings(webhooks={"hook": webhook}, webhook_delivery=delivery)


def test_loading_a_file_leaves_the_environment_alone(tmp_path: Path) -> None:
    """A command given --config (the CLI in a test, say) must not change what settings
    built later in the same process read: only ``lading serve`` hands the file on."""
    config = tmp_path / "lading.toml"
    config.write_text(f'database_url = "sqlite:///{tmp_path / "elsewhere.db"}"\n')
    assert str(Settings.load(config).database_url).endswith("elsewhere.db")
    assert CONFIG_FILE_VARIABLE not in os.environ
    assert Settings(data_dir=tmp_path / "data").database_url is None


def test_python_indexes_from_the_environment_and_their_bad_names_and_cycles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    team = '{"team": {"owner": "t", "visibility": "private", "bases": ["main"]}}'
    monkeypatch.setenv("LADING_PYPI__INDEXES", team)
    indexes = Settings().pypi.indexes
    assert indexes["team"].bases == ["main"] and indexes["team"].visibility == "private"
    for bad in (
        '{"Team": {}}',
        '{"a": {"bases": ["b"]}, "b": {"bases": ["c"]}, "c": {"bases": ["a"]}}',
    ):
        monkeypatch.setenv("LADING_PYPI__INDEXES", bad)
        with pytest.raises(ValidationError):
            Settings()
