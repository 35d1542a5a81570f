"""A start-up failure an operator can fix is one line naming what and the setting to
change, a non-zero exit status, and no traceback: a real ``lading serve`` each time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url

from lading.cli.startup import Listener, check_listeners, listen_failure
from lading.settings import Settings
from tests.conftest import DEFAULT_POSTGRES_URL, POSTGRES_URL_VARIABLE
from tests.services_required import unavailable

LADING = Path(sys.executable).with_name("lading")  # the console script of this venv
START_TIMEOUT = 60.0  # seconds for lading serve to give up; it needs about one
DATABASE_REMEDY = "check database_url (LADING_DATABASE_URL) and that the database server runs"

pytestmark = pytest.mark.server


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port another program listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def serve(tmp_path: Path, *arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``lading serve`` run to its end, in a folder of its own, with these variables."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("LADING_") or name == "LADING_REQUIRE_SERVICES"
    }
    environment |= {"LADING_DATA_DIR": str(tmp_path / "data"), **settings}
    return subprocess.run(
        [str(LADING), "serve", *arguments],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )


def error_of(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line; nothing like a traceback anywhere."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "backtrace" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_a_busy_port_names_the_address_and_the_setting(tmp_path: Path, held_port: int) -> None:
    result = serve(tmp_path, "--port", str(held_port))
    assert error_of(result) == (
        f"Error: cannot listen on 127.0.0.1:{held_port}: another program listens there; "
        "choose another with --port, port in the TOML file or LADING_PORT"
    )
    assert not (tmp_path / "data").exists()  # refused before the catalogue was made


def test_a_busy_registry_port_names_its_setting(tmp_path: Path, held_port: int) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        api_port = free.getsockname()[1]
    result = serve(tmp_path, "--port", str(api_port), LADING_OCI__PORT=str(held_port))
    assert error_of(result) == (
        f"Error: cannot listen on 127.0.0.1:{held_port}: another program listens there; "
        "choose another with oci.port in the TOML file or LADING_OCI__PORT"
    )


def test_an_address_of_another_machine_names_the_host_setting(tmp_path: Path) -> None:
    # 192.0.2.0/24 is TEST-NET-1: no machine has it.
    result = serve(tmp_path, "--host", "192.0.2.7", "--port", "9292", "--insecure-open")
    assert error_of(result) == (
        "Error: cannot listen on 192.0.2.7:9292: 192.0.2.7 is no address of this machine; "
        "set host in the TOML file, LADING_HOST or --host"
    )


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://lading:wrong-secret@127.0.0.1:1/lading"
    error = error_of(serve(tmp_path, "--port", "0", LADING_DATABASE_URL=url))
    assert error.startswith(
        "Error: the catalogue postgresql+psycopg://lading:***@127.0.0.1:1/lading cannot be "
        "opened: connection failed:"
    )
    assert error.endswith(DATABASE_REMEDY) and "wrong-secret" not in error


@pytest.mark.services
def test_a_database_that_refuses_the_password_is_one_line(tmp_path: Path) -> None:
    server = make_url(os.environ.get(POSTGRES_URL_VARIABLE, DEFAULT_POSTGRES_URL))
    try:  # PostgreSQL listens: what is refused is the password alone
        socket.create_connection((server.host or "127.0.0.1", server.port or 5432), 5).close()
    except OSError as exc:
        unavailable(f"PostgreSQL is not reachable at {server.host}:{server.port}: {exc}")
    url = server.set(password="not-the-password").render_as_string(hide_password=False)
    error = error_of(serve(tmp_path, "--port", "0", LADING_DATABASE_URL=url))
    assert "password authentication failed" in error and "not-the-password" not in error
    assert error.endswith(DATABASE_REMEDY)


def test_a_data_dir_that_cannot_be_made_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    result = serve(tmp_path, "--port", "0", LADING_DATA_DIR=str(tmp_path / "file" / "data"))
    assert error_of(result) == (
        f"Error: the catalogue's folder for {tmp_path / 'file' / 'data' / 'lading.db'} cannot "
        "be made: Not a directory; set data_dir (LADING_DATA_DIR) or database_url "
        "(LADING_DATABASE_URL)"
    )


def test_a_store_folder_that_cannot_be_made_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    folder = tmp_path / "file" / "images"
    result = serve(tmp_path, "--port", "0", LADING_STORES__DEFAULT__PATH=str(folder))
    assert error_of(result) == (
        f"Error: store 'default' cannot make its folder {folder}: Not a directory; set "
        "stores.default.path (LADING_STORES__DEFAULT__PATH) or data_dir (LADING_DATA_DIR) to "
        "a folder lading's user may write"
    )


def test_a_data_dir_for_the_secret_key_alone_is_checked_before_the_workers(
    tmp_path: Path,
) -> None:
    # Catalogue and store elsewhere: only the secret key lives in data_dir.
    (tmp_path / "file").write_text("")
    data = tmp_path / "file" / "data"
    result = serve(
        tmp_path,
        "--port",
        "0",
        LADING_DATA_DIR=str(data),
        LADING_DATABASE_URL=f"sqlite:///{tmp_path / 'lading.db'}",
        LADING_STORES__DEFAULT__PATH=str(tmp_path / "images"),
    )
    assert error_of(result) == (
        f"Error: the secret key file {data / 'secret.key'} cannot be made or read: Not a "
        "directory; set data_dir (LADING_DATA_DIR) to a folder lading's user may write, or "
        "secret_key (LADING_SECRET_KEY)"
    )


def test_tls_files_that_cannot_be_read_name_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pem"
    result = serve(
        tmp_path, "--port", "0", LADING_TLS__CERTIFICATE=str(missing), LADING_TLS__KEY=str(missing)
    )
    assert error_of(result) == (
        f"Error: tls.certificate {missing} cannot be read: No such file or directory"
    )


def test_a_misspelt_variable_stops_the_server(tmp_path: Path) -> None:
    result = serve(tmp_path, "--port", "0", LADING_PROT="9000")
    assert error_of(result) == (
        "Error: LADING_PROT (environment) is not a lading setting: did you mean LADING_PORT?"
    )


def test_invalid_values_are_a_line_each_naming_their_variable(tmp_path: Path) -> None:
    result = serve(tmp_path, LADING_PORT="99999")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "  port: Input should be less than or equal to 65535 (port in the TOML file or " \
        "LADING_PORT)" in result.stderr.splitlines()  # fmt: skip


def test_the_redirect_port_is_checked_too(held_port: int) -> None:
    settings = Settings(
        port=0, tls={"certificate": "c.pem", "key": "k.pem", "redirect_port": held_port}
    )
    assert check_listeners(settings) == (
        f"cannot listen on 127.0.0.1:{held_port}: another program listens there; choose "
        "another with tls.redirect_port in the TOML file or LADING_TLS__REDIRECT_PORT"
    )


def test_granians_own_bind_failure_reads_the_same() -> None:
    # Lost to another program between the check and granian's bind: granian's words.
    failure = RuntimeError("Address already in use (os error 98)")
    assert listen_failure("127.0.0.1", Listener(9292, "port"), failure) == (
        "cannot listen on 127.0.0.1:9292: another program listens there; choose another with "
        "--port, port in the TOML file or LADING_PORT"
    )
    denied = RuntimeError("Permission denied (os error 13)")
    assert "ports below 1024 need root" in listen_failure("0.0.0.0", Listener(80, "port"), denied)
