"""A newcomer's first commands: ``make run`` serves a fresh ./data and says where the CLI
is; ``make install-cli`` puts it on the PATH when asked; the docs say both."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV_CLI = ROOT / ".venv" / "bin" / "lading"
START_TIMEOUT = 60.0  # seconds for make run to answer
STOP_TIMEOUT = 10.0
# Tell make the venv is made: a test never installs anything (-o: "old", not remade).
MAKE = ["make", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/.installed"]

# What runs make runs this checkout's venv, never another's, without an outer make's flags.
NEEDS_MAKE = pytest.mark.skipif(
    shutil.which("make") is None or not VENV_CLI.exists(),
    reason="no make, or the suite runs from another venv than this checkout's",
)
OUTER_MAKE = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(**settings: str) -> dict[str, str]:
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.upper().startswith("LADING_") and name not in OUTER_MAKE
    }
    return kept | settings


@pytest.mark.server
@NEEDS_MAKE
def test_make_run_says_where_the_cli_is_and_serves_a_fresh_data_dir(tmp_path: Path) -> None:
    port = _free_port()
    data = tmp_path / "data"
    # Its own session, so that the server make starts is stopped with make.
    process = subprocess.Popen(
        [*MAKE, "run"],
        env=_environment(LADING_DATA_DIR=str(data), LADING_PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first == (
            f"lading CLI: {VENV_CLI} (or source .venv/bin/activate; make install-cli links it "
            f"into {Path.home() / '.local' / 'bin'})\n"
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, "make run stopped"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=1).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "make run did not answer"
            time.sleep(0.2)
        assert (data / "lading.db").is_file()  # the first start made the catalogue
        # The line's CLI works, on the catalogue make run made, from the checkout.
        listed = subprocess.run(
            [str(VENV_CLI), "token", "list"],
            cwd=ROOT,
            env=_environment(LADING_DATA_DIR=str(data)),
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT * 3,
            check=False,
        )
        assert listed.returncode == 0 and listed.stderr == f"catalogue: {data / 'lading.db'}\n"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_TIMEOUT)
        log = process.stdout.read() if process.stdout is not None else ""
        if process.stdout is not None:
            process.stdout.close()
    # The first start's migrations are logged, alembic's plugins' set-up is not.
    assert "Running upgrade  -> 0001" in log and "alembic.runtime.plugins" not in log


def _install_cli(directory: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MAKE, "install-cli", f"CLI_DIR={directory}"],
        env=_environment(PATH=path),
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT * 3,
        check=False,
    )


@pytest.mark.server
@NEEDS_MAKE
def test_make_install_cli_links_the_command_only_where_asked(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    made = _install_cli(bin_dir, os.environ["PATH"])
    assert made.returncode == 0, made.stdout + made.stderr
    assert (bin_dir / "lading").resolve() == VENV_CLI.resolve()
    assert f"{bin_dir} is not on your PATH" in made.stdout
    version = subprocess.run(
        ["lading", "--version"],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=STOP_TIMEOUT * 3,
        check=False,
    )
    assert version.returncode == 0 and "lading" in version.stdout
    again = _install_cli(bin_dir, f"{bin_dir}:{os.environ['PATH']}")  # on the PATH now
    assert again.returncode == 0 and again.stdout == f"linked {bin_dir}/lading to {VENV_CLI}\n"


@pytest.mark.server
@NEEDS_MAKE
def test_make_install_cli_leaves_another_lading_alone(tmp_path: Path) -> None:
    (tmp_path / "lading").write_text("#!/bin/sh\n")
    refused = _install_cli(tmp_path, os.environ["PATH"])
    assert refused.returncode != 0
    assert f"{tmp_path}/lading exists and is not a link: left as it is" in refused.stdout
    assert (tmp_path / "lading").read_text() == "#!/bin/sh\n"


@pytest.mark.parametrize("page", ["README.md", "docs/index.md", "docs/cli.md"])
def test_the_docs_say_where_the_cli_is(page: str) -> None:
    text = (ROOT / page).read_text()
    assert ".venv/bin/lading" in text and "source .venv/bin/activate" in text
    assert "make install-cli" in text and "~/.local/bin" in text
