"""The lading command: settings errors are usage errors; db upgrade builds the catalogue;
serve raises its limit on open files for the connections it may hold."""

from __future__ import annotations

import resource
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path

import anyio
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, update

from lading.cli import main
from lading.cli.server import OTHER_FILES, raise_open_files_limit
from lading.db.engine import Database
from lading.db.models import oci_blob_links
from lading.services import Services
from lading.services.access import Caller
from lading.services.oci import Access
from lading.services.roles import MEMBER
from lading.settings import CONFIG_FILE_VARIABLE, Settings
from lading.stores.registry import StoreRegistry
from lading.url_rules import is_loopback
from tests.object_servers import Bucket


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, "")
    monkeypatch.delenv(CONFIG_FILE_VARIABLE)


def test_db_upgrade_creates_the_catalogue(tmp_path: Path) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 0, result.output
    tables = inspect(
        create_engine(f"sqlite:///{tmp_path / 'data' / 'lading.db'}")
    ).get_table_names()
    assert {"artifacts", "artifact_properties", "artifact_tags", "blobs", "locations"} <= set(
        tables
    )


def test_invalid_settings_are_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("port = 99999\n")
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(config)])
    assert result.exit_code == 2 and "invalid settings" in result.output


def test_a_missing_config_file_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, "/nonexistent/lading.toml")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_serve_refuses_a_store_it_cannot_reach(tmp_path: Path, s3_bucket: Bucket) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[stores.default]\n"
        f'type = "s3"\nendpoint_url = "{s3_bucket.endpoint_url}"\nbucket = "{s3_bucket.name}"\n'
        f'access_key = "{s3_bucket.access_key}"\nsecret_key = "wrong"\npath_style = true\n'
    )
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1 and "cannot reach its bucket" in result.output


def test_tokens_are_created_listed_and_revoked(tmp_path: Path) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    common = ["--config", str(config)]
    created = CliRunner().invoke(
        main,
        ["token", "create", *common, "--project", "p1", "--role", "reader", "--expires", "2h",
         "--create"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    token = created.stdout.splitlines()[-1]
    token_id = created.stdout.split()[1].rstrip(":")
    assert created.stderr == f"catalogue: {tmp_path / 'data' / 'lading.db'}\n"
    assert token.startswith("lt_") and len(token) > 40
    listed = CliRunner().invoke(main, ["token", "list", *common])
    assert token_id in listed.output and "reader" in listed.output and token not in listed.output
    revoked = CliRunner().invoke(main, ["token", "revoke", *common, token])
    assert revoked.exit_code == 0 and f"token {token_id} revoked" in revoked.output
    assert "revoked" in CliRunner().invoke(main, ["token", "list", *common]).output
    again = CliRunner().invoke(main, ["token", "revoke", *common, "nosuchid"])
    assert again.exit_code == 1 and "no such token" in again.output


def test_visor_keys_are_created_listed_and_revoked_and_their_secret_sealed(
    tmp_path: Path,
) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    common = ["--config", str(config)]
    created = CliRunner().invoke(
        main, ["visor-key", "create", *common, "--project", "p1", "--role", "member", "--create"]
    )
    assert created.exit_code == 0, created.output
    access_key, secret = created.stdout.splitlines()[-2:]
    assert created.stderr == f"catalogue: {tmp_path / 'data' / 'lading.db'}\n"
    assert len(access_key) == 20 and len(secret) == 40
    stored = b"".join(path.read_bytes() for path in (tmp_path / "data").rglob("*.db*"))
    assert access_key.encode() in stored and secret.encode() not in stored  # sealed
    listed = CliRunner().invoke(main, ["visor-key", "list", *common])
    assert f"{access_key}  p1  member  active" in listed.output and secret not in listed.output
    revoked = CliRunner().invoke(main, ["visor-key", "revoke", *common, access_key])
    assert revoked.exit_code == 0 and f"access key {access_key} revoked" in revoked.output
    assert "revoked" in CliRunner().invoke(main, ["visor-key", "list", *common]).output
    again = CliRunner().invoke(main, ["visor-key", "revoke", *common, "NOSUCHKEY"])
    assert again.exit_code == 1 and "no such VISoR access key" in again.output


def test_serve_refuses_to_run_open_beyond_loopback(tmp_path: Path) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "--host", "0.0.0.0"])
    assert result.exit_code == 1 and "--insecure-open" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
     ("lading.example.org", False)],
)  # fmt: skip
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.fixture
def open_files_soft_limit() -> Iterator[int]:
    """The soft limit on open files lowered to 1,024 (as many systems set it), restored
    after the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip(f"the hard limit on open files is {hard}: nothing to raise to")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        yield hard
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_serve_raises_the_open_files_limit_to_the_hard_one(open_files_soft_limit: int) -> None:
    raise_open_files_limit(2000)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft == (2000 + OTHER_FILES if open_files_soft_limit == resource.RLIM_INFINITY
                    else open_files_soft_limit)  # fmt: skip


def test_serve_leaves_a_limit_that_suffices(open_files_soft_limit: int) -> None:
    raise_open_files_limit(100)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1024


def test_serve_says_when_even_the_hard_limit_is_short(
    open_files_soft_limit: int, caplog: pytest.LogCaptureFixture
) -> None:
    if open_files_soft_limit == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on open files")
    raise_open_files_limit(open_files_soft_limit)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == open_files_soft_limit
    assert "raise the hard limit" in caplog.text


def test_registry_visibility_makes_a_repository_public(tmp_path: Path) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    common = ["--config", str(config)]
    settings = Settings.load(config)
    database = Database(settings.resolved_database_url)
    database.upgrade()
    missing = CliRunner().invoke(main, ["registry", "visibility", *common, "team/app", "public"])
    assert missing.exit_code == 1
    assert "team/app is not known" in missing.output
    services = Services.build(settings, database, StoreRegistry.from_settings(settings))
    owner = Access(Caller.with_role("A", MEMBER))

    async def push() -> None:
        await services.registry.upload(owner, "team/app", DIGEST_OF_X, _x(), 1)

    anyio.run(push)
    made = CliRunner().invoke(main, ["registry", "visibility", *common, "team/app", "public"])
    assert made.exit_code == 0, made.output
    assert made.stdout == "team/app is public\n"

    async def pull() -> int:
        return (await services.registry.blob(Access(None), "team/app", DIGEST_OF_X)).size

    assert anyio.run(pull) == 1
    database.dispose()


DIGEST_OF_X = "sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"


async def _x() -> AsyncIterator[bytes]:
    yield b"x"


def test_registry_gc_unlinks_what_no_manifest_names_and_frees_its_bytes(tmp_path: Path) -> None:
    """On the filesystem store: a dry run says what would go and changes nothing; the
    collection unlinks the blob, older than the grace, and its file leaves the store."""
    config = tmp_path / "lading.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    common = ["--config", str(config)]
    settings = Settings.load(config)
    database = Database(settings.resolved_database_url)
    database.upgrade()
    services = Services.build(settings, database, StoreRegistry.from_settings(settings))
    owner = Access(Caller.with_role("A", MEMBER))

    async def push() -> None:
        await services.registry.upload(owner, "team/app", DIGEST_OF_X, _x(), 1)

    anyio.run(push)
    files = [path for path in (tmp_path / "data" / "stores").rglob("*") if path.is_file()]
    assert len(files) == 1
    young = CliRunner().invoke(main, ["registry", "gc", *common])
    assert young.exit_code == 0, young.output
    assert young.stdout.startswith("unlinked 0 blobs (0 bytes)")  # within the grace
    with database.engine.begin() as connection:
        connection.execute(update(oci_blob_links).values(created_at=datetime(2000, 1, 1)))
    dry = CliRunner().invoke(main, ["registry", "gc", "--dry-run", *common])
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        f"would unlink team/app@{DIGEST_OF_X} (1 bytes)",
        "would unlink 1 blobs (1 bytes); would free 1 bytes of 1 stored objects",
    ]
    assert files[0].exists()
    collected = CliRunner().invoke(main, ["registry", "gc", *common])
    assert collected.exit_code == 0, collected.output
    assert collected.stdout.splitlines()[-1] == (
        "unlinked 1 blobs (1 bytes); freed 1 bytes of 1 stored objects"
    )
    assert not files[0].exists()
    database.dispose()


def test_a_slip_in_a_client_variable_is_warned_of(monkeypatch: pytest.MonkeyPatch) -> None:
    """LADING_TOKN: the command warns, naming the variable it reads, and goes on. A server
    setting as near (LADING_STORES to LADING_TOKEN) is no slip."""
    monkeypatch.setenv("LADING_TOKN", "secret")
    monkeypatch.setenv("LADING_STORES", "{}")
    result = CliRunner().invoke(main, ["list", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 5  # nothing listens there: the command went on
    warnings = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert warnings == [
        "warning: LADING_TOKN is not a variable lading reads: did you mean LADING_TOKEN?"
    ]
