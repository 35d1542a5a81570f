"""A misspelt LADING_* variable or TOML key is refused at start, with the nearest setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, ConfigDict
from pydantic_settings import BaseSettings, SettingsConfigDict

from lading.cli import main
from lading.settings import CONFIG_FILE_VARIABLE, Settings
from lading.settings_keys import (
    OTHER_VARIABLES,
    SettingsNames,
    UnknownSetting,
    check_names,
    variable_name,
)

ROOT = Path(__file__).resolve().parents[1]
# Where lading's own programs set or read LADING_* variables: these folders, and every
# file at the top (the Makefile, a Containerfile...).
SCANNED = ["src", "tests", "bench", "interop", "scripts", ".ci", "docs"]
VARIABLE = re.compile(r"(?<![A-Za-z0-9_])LADING_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_*])")
# Names that look like variables and are not: a Python constant, the docs' placeholders,
# the misspelt name that the docs and tests/test_startup.py show refused, and the one the
# client warns of (lading.cli.remote, tests/test_cli.py).
NOT_VARIABLES = {"LADING_RULES", "LADING_X", "LADING_NAME", "LADING_PROT", "LADING_TOKN"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, "")
    monkeypatch.delenv(CONFIG_FILE_VARIABLE)


@pytest.mark.parametrize(
    ("variable", "nearest"),
    [("LADING_PROT", "LADING_PORT"), ("LADING_DATADIR", "LADING_DATA_DIR"),
     ("LADING_OCI_PORT", "LADING_OCI__PORT"),
     ("LADING_SERVER__CONECTIONS", "LADING_SERVER__CONNECTIONS"),
     ("LADING_SERVER_CONNECTIONS", "LADING_SERVER__CONNECTIONS"),
     ("LADING_STORES__DEFAULT__PAHT", "LADING_STORES__DEFAULT__PATH"),
     ("LADING_TOKNE", "LADING_TOKEN"), ("lading_data_dri", "LADING_DATA_DIR")],
)  # fmt: skip
def test_a_misspelt_variable_is_refused_with_the_nearest_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, nearest: str
) -> None:
    monkeypatch.setenv(variable, "1")
    with pytest.raises(UnknownSetting) as raised:
        Settings.load()
    assert str(raised.value) == (
        f"{variable} (environment) is not a lading setting: did you mean {nearest}?"
    )


def test_a_name_far_from_every_setting_is_refused_without_a_guess(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LADING_PORT__NUMBER", "1")  # below a plain value
    monkeypatch.setenv("LADING_ZZZZZZZZ", "1")
    with pytest.raises(UnknownSetting) as raised:
        Settings.load()
    assert str(raised.value).splitlines() == [
        "LADING_PORT__NUMBER (environment) is not a lading setting",
        "LADING_ZZZZZZZZ (environment) is not a lading setting",
    ]


def test_a_misspelt_toml_key_is_refused_naming_the_file(tmp_path: Path) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(
        'prot = 9000\n[server]\nconections = 3\n[stores.default]\npaht = "/x"\n'
        '[webhooks.ci]\nurll = "https://ci.example.org"\n[quota.projects.p1]\nbyte = 1\n'
    )
    with pytest.raises(UnknownSetting) as raised:
        Settings.load(config)
    assert str(raised.value).splitlines() == [
        f"{config}: prot is not a lading setting: did you mean port?",
        f"{config}: server.conections is not a lading setting: did you mean server.connections?",
        f"{config}: stores.default.paht is not a lading setting: did you mean stores.default.path?",
        f"{config}: webhooks.ci.urll is not a lading setting: did you mean webhooks.ci.url?",
        f"{config}: quota.projects.p1.byte is not a lading setting: did you mean "
        "quota.projects.p1.bytes?",
    ]


def test_the_file_named_by_lading_config_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "lading.toml"
    config.write_text("[tls]\ncertficate = '/x'\n")
    monkeypatch.setenv(CONFIG_FILE_VARIABLE, str(config))
    with pytest.raises(UnknownSetting, match=r"tls\.certficate .* did you mean tls\.certificate"):
        Settings.load()


def test_every_setting_and_renamed_key_is_known(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "lading.toml"
    config.write_text(
        "[pnda]\noverwrite = true\n"  # immutable's old name, still read
        '[stores.bulk]\ntype = "s3"\nbucket = "b"\npart_size = 8388608\n'
        '[visor_stores]\nwalrus = "bulk"\n[quota.projects.p1]\nbytes = 1\n'
    )
    for name in ("LADING_PORT", "LADING_SERVER__CONNECTIONS", "LADING_STORES__BULK__REGION",
                 "LADING_KEYSTONE__PASSWORD", "LADING_QUOTA__PROJECTS__P2__ARTIFACTS",
                 "lading_log_level", *OTHER_VARIABLES):  # fmt: skip
        monkeypatch.setenv(name, "")
    check_names(Settings, config)  # no UnknownSetting


def test_the_names_come_from_the_model_not_a_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # A setting added by anyone is known at once: nothing lists them by hand.
    class Feature(BaseModel):
        model_config = ConfigDict(extra="forbid")
        rate_limit: int = 1

    class Grown(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="LADING_", env_nested_delimiter="__")
        feature: Feature = Feature()
        brand_new_key: str = ""

    names = SettingsNames.of(Grown)
    assert names.knows_variable("LADING_BRAND_NEW_KEY")
    assert names.knows_variable("LADING_FEATURE__RATE_LIMIT")
    assert names.unknown_variables({"LADING_FEATURE__RATE_LIMTI": "1"}) == [
        "LADING_FEATURE__RATE_LIMTI (environment) is not a lading setting: did you mean "
        "LADING_FEATURE__RATE_LIMIT?"
    ]


def test_every_variable_the_project_uses_is_known() -> None:
    # The suite, CI, the scripts, the benches and the docs set these: none may be refused.
    names = SettingsNames.of(Settings)
    found: dict[str, str] = {}
    top = [path for path in ROOT.iterdir() if path.is_file()]
    for path in [*top, *(path for entry in SCANNED for path in (ROOT / entry).rglob("*"))]:
        if path == Path(__file__):
            continue  # this file's names are misspelt on purpose
        if path.is_file() and path.suffix not in {".pyc", ".png", ".ico", ".woff2"}:
            for name in VARIABLE.findall(path.read_text(errors="replace")):
                found.setdefault(name, str(path.relative_to(ROOT)))
    assert len(found) > 40  # the scan saw them
    unknown = {
        name: where
        for name, where in found.items()
        if name not in NOT_VARIABLES and not names.knows_variable(name)
    }
    assert unknown == {}, "each one a setting, or a variable to add to OTHER_VARIABLES"


def test_variable_names_of_dotted_keys() -> None:
    assert variable_name("port") == "LADING_PORT"
    assert variable_name("oci.port") == "LADING_OCI__PORT"


def test_lading_serve_says_it_in_one_line_without_a_traceback(tmp_path: Path) -> None:
    env = {"LADING_DATA_DIR": str(tmp_path / "data"), "LADING_PROT": "9000"}
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 1
    assert result.output == (
        "Error: LADING_PROT (environment) is not a lading setting: did you mean LADING_PORT?\n"
    )
    assert not (tmp_path / "data").exists()  # refused before anything was made
