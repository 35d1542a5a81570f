"""A command on the catalogue never makes one by surprise: run where there is none, it
refuses in one line naming the path and how to name the server's; it names on stderr the
catalogue it acted on; only serve, db upgrade and --create make one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import make_url

from lading.cli import main
from lading.settings import CONFIG_FILE_VARIABLE
from tests.conftest import unmigrated_database
from tests.services_required import SERVICES

# Every command that opens this machine's catalogue, but serve and db upgrade.
COMMANDS = [
    ["token", "create", "--project", "p", "--role", "admin"],
    ["token", "list"],
    ["token", "revoke", "abc"],
    ["visor-key", "create", "--project", "p", "--role", "admin"],
    ["visor-key", "list"],
    ["visor-key", "revoke", "ABC"],
    ["metadefs", "load", "."],
    ["scrub"],
    ["db", "check"],
    ["registry", "gc"],
    ["registry", "visibility", "team/app", "public"],
    ["registry", "import", "team/app:1"],
]
TAKES_CREATE = {"token create", "visor-key create", "metadefs load"}


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Another folder than the server's, with none of its settings."""
    for name in (CONFIG_FILE_VARIABLE, "LADING_DATA_DIR", "LADING_DATABASE_URL"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_command_run_elsewhere_refuses_a_missing_catalogue(
    elsewhere: Path, command: list[str]
) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1, result.output
    path = elsewhere / "data" / "lading.db"
    offer = "--create or " if " ".join(command[:2]) in TAKES_CREATE else ""
    assert result.output == (
        f"Error: no catalogue at {path} (data_dir 'data', from the folder the command runs in): "
        "run the command where lading serve runs, or name the server's catalogue (--config, "
        f"LADING_DATA_DIR, LADING_DATABASE_URL); {offer}lading db upgrade makes a new one\n"
    )
    assert not (elsewhere / "data").exists()  # nothing made, not even the folder


def test_a_token_names_the_catalogue_it_went_to_on_stderr(elsewhere: Path) -> None:
    made = CliRunner().invoke(main, ["db", "upgrade"])
    assert made.exit_code == 0, made.output
    created = CliRunner().invoke(main, ["token", "create", "--project", "p", "--role", "admin"])
    assert created.exit_code == 0, created.output
    assert created.stderr == f"catalogue: {elsewhere / 'data' / 'lading.db'}\n"
    assert created.stdout.splitlines()[-1].startswith("lt_")  # stdout: what scripts read


@pytest.mark.parametrize(
    "command",
    [["token", "create", "--project", "p", "--role", "admin", "--create"],
     ["visor-key", "create", "--project", "p", "--role", "admin", "--create"],
     ["metadefs", "load", "--create", "."]],
    ids=lambda command: " ".join(command[:2]),
)  # fmt: skip
def test_create_makes_the_catalogue(elsewhere: Path, command: list[str]) -> None:
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 0, result.output
    assert (elsewhere / "data" / "lading.db").is_file()
    assert result.stderr == f"catalogue: {elsewhere / 'data' / 'lading.db'}\n"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=SERVICES)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database that exists and holds no catalogue (an empty file, a new database)."""
    with unmigrated_database(request.param, tmp_path, "empty") as url:
        if request.param == "sqlite":
            (tmp_path / "old.db").touch()
        yield url


def test_a_database_that_holds_no_catalogue_is_refused(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LADING_DATABASE_URL", empty_url)
    refused = CliRunner().invoke(main, ["token", "create", "--project", "p", "--role", "admin"])
    assert refused.exit_code == 1
    assert refused.output.startswith("Error: ")
    assert "(database_url) holds no lading catalogue:" in refused.output
    assert len(refused.output.splitlines()) == 1 and "***" not in empty_url
    made = CliRunner().invoke(
        main, ["token", "create", "--project", "p", "--role", "admin", "--create"]
    )
    assert made.exit_code == 0, made.output


@pytest.mark.parametrize(
    ("url", "says"),
    [("notaurl", "database_url (LADING_DATABASE_URL) is not a database URL"),
     ("mysql://lading@127.0.0.1/lading", "names a database lading has no driver for"),
     pytest.param("postgresql+psycopg://lading:wrong-secret@127.0.0.1:1/lading",
                   "cannot be opened: connection failed", id="nothing-listens")],
)  # fmt: skip
def test_a_database_url_that_cannot_serve_is_one_line(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("LADING_DATABASE_URL", url)
    for command in (["db", "upgrade"], ["token", "list"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1
        assert says in result.output and len(result.output.splitlines()) == 1, result.output
        assert "wrong-secret" not in result.output  # the password is never shown


def test_db_upgrade_makes_the_catalogue_where_told(elsewhere: Path) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (elsewhere / "data" / "lading.db").is_file()
    assert result.output == f"database is up to date: {elsewhere / 'data' / 'lading.db'}\n"


@pytest.mark.parametrize("kind", [pytest.param("postgresql", marks=SERVICES)])
def test_db_upgrade_hides_the_password(kind: str, tmp_path: Path) -> None:
    with unmigrated_database(kind, tmp_path, "shown") as url:
        result = CliRunner().invoke(main, ["db", "upgrade"], env={"LADING_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    password = make_url(url).password
    assert password and f":{password}@" not in result.output and ":***@" in result.output


def test_a_data_dir_that_cannot_be_made_is_one_line(elsewhere: Path) -> None:
    (elsewhere / "file").write_text("")
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"LADING_DATA_DIR": "file/data"})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: the catalogue's folder for {elsewhere / 'file' / 'data' / 'lading.db'} cannot "
        "be made: Not a directory; set data_dir (LADING_DATA_DIR) or database_url "
        "(LADING_DATABASE_URL)\n"
    )
