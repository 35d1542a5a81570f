"""docs/examples/lading.service and its sysusers.d snippet: valid to systemd's own tools,
sandboxed (``systemd-analyze security``), and its command line serving under what the
sandbox leaves it.

No systemd runs as PID 1 on the machines the tests run on: tests/container/test_systemd.py
boots one in a container (``make container-test``) and starts the unit there. Here its
ExecStart= runs without systemd, as an unprivileged user, in its working directory, with
its umask, systemd's environment, no new privileges and no writable executable memory
(the kernel's PR_SET_MDWE, what MemoryDenyWriteExecute= asks of seccomp): what the unit's
sandbox would refuse lading beyond that (system calls, address families, a read-only
system) it never needs, or the server would fail here too where it can.
"""

from __future__ import annotations

import ctypes
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from tests.clients.conftest import free_port, wait_healthy
from tests.services_required import unavailable

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
UNIT = EXAMPLES / "lading.service"
SYSUSERS = EXAMPLES / "lading.sysusers"
SYSTEM_UNITS = (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
UNIT_PATH = "/etc/systemd/system/lading.service"
EXPOSURE_THRESHOLD = "20"  # tenths of systemd-analyze security's scale, 0 (locked down) to 10
LADING = Path(sys.executable).parent / "lading"
NOBODY = 65534  # stands in for the lading user: unprivileged, owns nothing of the system
PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
STOP_TIMEOUT = 30.0  # the unit's TimeoutStopSec=


def systemd_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        unavailable(f"checking docs/examples/lading.service needs {name}",
                    "apt-get install systemd")  # fmt: skip
    return found


def service_settings(text: str) -> dict[str, list[str]]:
    """The [Service] section's settings, each key with its values in order (systemd lets
    a key repeat)."""
    settings: dict[str, list[str]] = {}
    section = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def verifying_root(root: Path, unit_text: str) -> None:
    """A file system root for ``systemd-analyze --root``: systemd's own units, the
    example unit where an administrator puts it, and its ExecStart= program (a stub)."""
    system = next((path for path in SYSTEM_UNITS if (path / "sysinit.target").exists()), None)
    assert system is not None, "systemd's units are not installed"
    shutil.copytree(system, root / "usr/lib/systemd/system", symlinks=True)
    unit = root / UNIT_PATH.lstrip("/")
    unit.parent.mkdir(parents=True)
    unit.write_text(unit_text)
    program = root / shlex.split(service_settings(unit_text)["ExecStart"][0])[0].lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)


def test_unit_verifies_without_a_warning(tmp_path: Path) -> None:
    analyze = systemd_tool("systemd-analyze")
    verifying_root(tmp_path, UNIT.read_text())
    verified = subprocess.run([analyze, "verify", f"--root={tmp_path}", UNIT_PATH],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert (verified.returncode, verified.stderr, verified.stdout) == (0, "", "")
    reviewed = subprocess.run(
        [analyze, "security", "--offline=yes", f"--root={tmp_path}",
         f"--threshold={EXPOSURE_THRESHOLD}", "--no-pager", UNIT_PATH],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert reviewed.returncode == 0, reviewed.stdout + reviewed.stderr
    assert "Overall exposure level for lading.service: 1." in reviewed.stdout


def test_verify_speaks_of_a_misspelt_directive(tmp_path: Path) -> None:
    """The check above sees mistakes: systemd ignores a setting it cannot read, with a
    warning and exit status 0, so the test reads the warnings."""
    analyze = systemd_tool("systemd-analyze")
    text = UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    verifying_root(tmp_path, text)
    verified = subprocess.run([analyze, "verify", f"--root={tmp_path}", UNIT_PATH],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert "Unknown key 'ProtectSytem'" in verified.stderr


def test_sysusers_snippet_makes_the_unit_s_user(tmp_path: Path) -> None:
    sysusers = systemd_tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    made = subprocess.run([sysusers, f"--root={tmp_path}", str(SYSUSERS)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert made.returncode == 0, made.stderr
    settings = service_settings(UNIT.read_text())
    user = settings["User"][0]
    entry = next(line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()
                 if line.startswith(f"{user}:"))  # fmt: skip
    assert int(entry[2]) < 1000  # a system user
    assert entry[5] == "/var/lib/lading" == settings["WorkingDirectory"][0]
    assert entry[6] == "/usr/sbin/nologin"
    assert f"{settings['Group'][0]}:" in (tmp_path / "etc/group").read_text()


@pytest.mark.server
def test_exec_start_serves_as_an_unprivileged_user_within_its_state_directory() -> None:
    if os.geteuid() != 0:
        unavailable("running the unit's command as another user needs root", "run as root")
    settings = service_settings(UNIT.read_text())
    with tempfile.TemporaryDirectory(prefix="lading-unit-") as top:
        root = Path(top)
        root.chmod(0o755)  # the user reaches its folders, as it would /var/lib and /etc
        state = root / "var/lib/lading"
        state.mkdir(parents=True, mode=0o750)  # what StateDirectory= makes
        os.chown(state, NOBODY, NOBODY)
        config = root / "etc/lading/lading.toml"
        config.parent.mkdir(parents=True)
        port = free_port()
        config.write_text(f'data_dir = "{state}"\nport = {port}\n')
        os.chown(config, 0, NOBODY)
        config.chmod(0o640)
        command = [
            str(LADING) if word == "/opt/lading/bin/lading"
            else str(config) if word == "/etc/lading/lading.toml" else word
            for word in shlex.split(settings["ExecStart"][0])
        ]  # fmt: skip
        assert command[:2] == [str(LADING), "serve"]
        command, python_path = reachable(command)
        log = root / "server.log"
        with log.open("wb") as output:
            server = sandboxed(command, state, settings, output, python_path)
            try:
                url = f"http://127.0.0.1:{port}"
                wait_healthy(server, url, log)
                payload = upload_and_download(url)
                server.send_signal(signal.SIGTERM)
                assert server.wait(timeout=STOP_TIMEOUT) == 0, log.read_text()
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
        written = list(state.rglob("*"))
        assert state / "lading.db" in written
        assert any(path.stat().st_size == len(payload) for path in written if path.is_file())
        for path in written:  # the user's own, and nobody else's to read (UMask=0077)
            assert path.stat().st_uid == NOBODY, path
            assert path.stat().st_mode & 0o077 == 0, path


@pytest.fixture(autouse=True)
def _no_environment_of_the_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session's LADING_ALLOWED_HOSTS is the tests', not the unit's."""
    monkeypatch.delenv("LADING_ALLOWED_HOSTS", raising=False)


def restrict() -> None:
    """In the child, after it became the user: no new privileges (NoNewPrivileges=), no
    memory both writable and executable (MemoryDenyWriteExecute=), where the kernel has
    PR_SET_MDWE (Linux 6.3)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0)


def sandboxed(command: list[str], state: Path, settings: dict[str, list[str]],
              output: BinaryIO, python_path: str | None) -> subprocess.Popen[bytes]:  # fmt: skip
    """The command as the unit would start it: the user, its working directory and
    umask, and the environment systemd gives a service (nothing of the caller's)."""
    environment = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
        "LANG": "C.UTF-8",
        "USER": "nobody",
        "LOGNAME": "nobody",
        "HOME": str(state),
        "SHELL": "/usr/sbin/nologin",
        "STATE_DIRECTORY": str(state),
    }
    if python_path is not None:
        environment["PYTHONPATH"] = python_path
    return subprocess.Popen(
        command, cwd=state, env=environment, user=NOBODY, group=NOBODY, extra_groups=[],
        umask=int(settings["UMask"][0], 8), preexec_fn=restrict,
        stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def reachable(command: list[str]) -> tuple[list[str], str | None]:
    """The command, and a PYTHONPATH it needs, for a user who may not reach this venv's
    Python: a venv made by a Python under /root (pyenv's) is root's alone. Its script
    then runs with Debian's python3 of the same version, on the venv's packages."""
    try:
        probe = subprocess.run(
            [command[0], "--version"], user=NOBODY, group=NOBODY, extra_groups=[],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        if probe.returncode == 0:
            return command, None
    except PermissionError:
        pass
    system = Path("/usr/bin/python3")
    wanted = f"Python {sys.version_info.major}.{sys.version_info.minor}."
    if not system.exists() or not subprocess.run(
        [system, "--version"], capture_output=True, text=True, check=False
    ).stdout.startswith(wanted):
        unavailable(
            f"an unprivileged user cannot run {sys.executable}, and no {wanted}x is at "
            "/usr/bin/python3", "make the venv with a Python outside /root",
        )  # fmt: skip
    site_packages = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    source = Path(__file__).resolve().parents[1] / "src"
    return [str(system), *command], f"{site_packages}:{source}"


def upload_and_download(url: str) -> bytes:
    """An image's bytes sent and read back whole (lading runs open on loopback)."""
    payload = os.urandom(1024 * 1024 + 3)
    with httpx.Client(base_url=url, timeout=30) as client:
        created = client.post("/v2/images", json={"name": "unit", "disk_format": "raw",
                                                  "container_format": "bare"})  # fmt: skip
        assert created.status_code == 201, created.text
        image = created.json()["id"]
        stored = client.put(f"/v2/images/{image}/file", content=payload,
                            headers={"content-type": "application/octet-stream"})  # fmt: skip
        assert stored.status_code == 204, stored.text
        assert client.get(f"/v2/images/{image}/file").content == payload
    return payload
