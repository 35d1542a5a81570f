"""pip, uv and twine (PyPI's) against a real ``lading serve``'s Python package index, with a
lading token: twine uploads (and skips what exists), pip resolves from the core metadata
(PEP 658) without fetching wheels and installs with the token in the URL or in netrc, uv
publishes and installs, a yank made with the ``lading`` CLI is skipped by both installers,
a private index layered over the public one never lets the public name through, and twine
shows why an upload past the quota, or of a deleted file's name, is refused.

The distributions are made in the test (tests/python_dists.py); no client reads any
configuration of this machine (``PIP_CONFIG_FILE=/dev/null``, ``UV_NO_CONFIG``, a home of
the test's own): they talk to this server and nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients.conftest import LADING, Lading, running_lading
from tests.python_dists import sdist, wheel

BIN = Path(sys.executable).parent
TIMEOUT = 120
# A private index of the token's project ("clients"), over the public main.
TEAM = '{"team": {"owner": "clients", "visibility": "private", "bases": ["main"]}}'
# A project of its own with a small byte quota (the others have none).
QUOTA = '{"projects": {"small": {"bytes": 1500}}}'


@pytest.fixture(scope="module")
def lading(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[Lading]:
    root = tmp_path_factory.mktemp("pypi-server")
    settings = {"LADING_PYPI__INDEXES": TEAM, "LADING_QUOTA": QUOTA}
    with running_lading(root, pytestconfig, settings) as server:
        yield server


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def environment(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any pip, uv, twine or lading setting, with a home
    of the test's own (no ~/.netrc, ~/.pypirc, keyring or cache from elsewhere)."""
    kept = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "UV_", "LADING_", "TWINE_", "NETRC"))
    }
    return {
        **kept,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_NO_CONFIG": "1",
        "UV_NO_CACHE": "1",
        "UV_PYTHON": sys.executable,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        **extra,
    }


def run(
    command: list[str], env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if check and done.returncode != 0:
        pytest.fail(f"{command[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def index_url(lading: Lading, index: str, token: str | None = None) -> str:
    host = lading.url.removeprefix("http://")
    credentials = f"__token__:{token}@" if token else ""
    return f"http://{credentials}{host}/pypi/{index}/simple/"


def twine(
    lading: Lading, home: Path, files: list[Path], *options: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
               "--repository-url", f"{lading.url}/pypi/main/", "-u", "__token__",
               "-p", token or lading.token, *options, *map(str, files)]  # fmt: skip
    return run(command, environment(home), check=False)


def server_log(lading: Lading) -> str:
    return (Path(lading.env["LADING_DATA_DIR"]).parent / "server.log").read_text()


def test_twine_uploads_and_skips_what_exists(lading: Lading, home: Path, tmp_path: Path) -> None:
    files = [wheel("twine-demo", "1.0").write(tmp_path), sdist("twine-demo", "1.0").write(tmp_path)]
    first = twine(lading, home, files)
    assert first.returncode == 0, first.stdout + first.stderr
    again = twine(lading, home, files)
    assert again.returncode == 1 and "400 Bad Request" in again.stdout + again.stderr
    newer = wheel("twine-demo", "1.1").write(tmp_path)
    skipped = twine(lading, home, [*files, newer], "--skip-existing")
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    output = skipped.stdout + skipped.stderr
    assert output.count("Skipping") == 2 and "twine_demo-1.1-py3-none-any.whl" in output
    wrong = twine(lading, home, [wheel("twine-demo", "1.2").write(tmp_path)], "-p", "not-a-token")
    assert wrong.returncode == 1 and "401" in wrong.stdout + wrong.stderr


def test_pip_resolves_from_the_core_metadata_and_installs(
    lading: Lading, home: Path, tmp_path: Path
) -> None:
    dist = wheel("pip-demo", "1.0", requires_python=">=3.8")
    assert twine(lading, home, [dist.write(tmp_path)]).returncode == 0
    report = tmp_path / "report.json"
    pip = [sys.executable, "-m", "pip", "--isolated"]
    run([*pip, "install", "--dry-run", "--ignore-installed", "--report", str(report), "--no-deps",
         "--index-url", index_url(lading, "main", lading.token), "pip-demo"],
        environment(home))  # fmt: skip
    (installed,) = json.loads(report.read_text())["install"]
    assert installed["metadata"]["version"] == "1.0"
    log = server_log(lading)
    wheel_path = f"/pypi/main/files/pip-demo/{dist.filename}"
    assert f'"{wheel_path}.metadata" 200' in log  # the core metadata, and never the wheel
    assert f'"{wheel_path}" ' not in log
    out = tmp_path / "out"
    run([*pip, "download", "--no-deps", "-d", str(out), "--index-url",
         index_url(lading, "main", lading.token), "pip-demo==1.0"], environment(home))  # fmt: skip
    assert (out / dist.filename).read_bytes() == dist.data


def test_pip_reads_a_private_index_with_netrc(lading: Lading, home: Path, tmp_path: Path) -> None:
    assert run([str(BIN / "twine"), "upload", "--non-interactive", "--disable-progress-bar",
                "--repository-url", f"{lading.url}/pypi/team/", "-u", "__token__", "-p",
                lading.token, str(wheel("team-only", "3.0").write(tmp_path))],
               environment(home)).returncode == 0  # fmt: skip
    target = tmp_path / "target"
    install = [sys.executable, "-m", "pip", "--isolated", "install", "--no-deps", "--target",
               str(target), "--index-url", index_url(lading, "team"), "team-only"]  # fmt: skip
    refused = run(install, environment(home), check=False)
    assert refused.returncode != 0 and not target.exists()
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin __token__\npassword {lading.token}\n")
    netrc.chmod(0o600)
    run(install, environment(home, NETRC=str(netrc)))
    assert (target / "team_only.py").read_text() == "VERSION = '3.0'\n"


def test_uv_publishes_installs_and_skips_a_yanked_release(
    lading: Lading, home: Path, tmp_path: Path
) -> None:
    dists = [wheel("uv-demo", "1.0"), sdist("uv-demo", "1.0"), wheel("uv-demo", "2.0")]
    files = [str(dist.write(tmp_path)) for dist in dists]
    uv, env = str(BIN / "uv"), environment(home)
    publish = [uv, "publish", "--publish-url", f"{lading.url}/pypi/main/", "--username",
               "__token__", "--password", lading.token]  # fmt: skip
    run([*publish, *files], env)
    # --check-url: what the index has already (same name, same hash) is skipped.
    checked = run([*publish, "--check-url", index_url(lading, "main"), *files], env)
    assert checked.stderr.count("already exists, skipping") == 3
    cli = {**lading.env, "LADING_URL": lading.url, "LADING_TOKEN": lading.token}
    yanked = run([str(LADING), "pypi", "yank", "main", "uv-demo", "2.0", "--reason", "broken"], cli)
    assert "1 files" in yanked.stdout
    target = tmp_path / "uv-target"
    run([uv, "pip", "install", "--target", str(target), "uv-demo"],
        {**env, "UV_INDEX_URL": index_url(lading, "main", lading.token)})  # fmt: skip
    assert (target / "uv_demo.py").read_text() == "VERSION = '1.0'\n"  # 2.0 is yanked
    pinned = tmp_path / "pinned"
    run([uv, "pip", "install", "--target", str(pinned), "uv-demo==2.0"],
        {**env, "UV_INDEX_URL": index_url(lading, "main", lading.token)})  # fmt: skip
    assert (pinned / "uv_demo.py").read_text() == "VERSION = '2.0'\n"  # pinned: still served
    pip_target = tmp_path / "pip-target"
    run([sys.executable, "-m", "pip", "--isolated", "install", "--no-deps", "--target",
         str(pip_target), "--index-url", index_url(lading, "main"), "uv-demo"], env)  # fmt: skip
    assert (pip_target / "uv_demo.py").read_text() == "VERSION = '1.0'\n"


def test_a_private_name_is_never_installed_from_the_index_beneath(
    lading: Lading, home: Path, tmp_path: Path
) -> None:
    """Dependency confusion, with real installers: the public index gets ``corp-lib`` 99.0;
    the team's index, which lies over it, has ``corp-lib`` 1.0, and both pip and uv
    install 1.0 through the team's index."""
    uv, env = str(BIN / "uv"), environment(home)
    publish = [uv, "publish", "--username", "__token__", "--password", lading.token]
    run([*publish, "--publish-url", f"{lading.url}/pypi/team/",
         str(wheel("corp-lib", "1.0").write(tmp_path))], env)  # fmt: skip
    attack = tmp_path / "attack"
    attack.mkdir()
    run([*publish, "--publish-url", f"{lading.url}/pypi/main/",
         str(wheel("corp_lib", "99.0").write(attack))], env)  # fmt: skip
    team = index_url(lading, "team", lading.token)
    target = tmp_path / "uv"
    run([uv, "pip", "install", "--target", str(target), "corp-lib"], {**env, "UV_INDEX_URL": team})
    assert (target / "corp_lib.py").read_text() == "VERSION = '1.0'\n"
    pip_target = tmp_path / "pip"
    run([sys.executable, "-m", "pip", "--isolated", "install", "--no-deps", "--target",
         str(pip_target), "--index-url", team, "corp-lib"], env)  # fmt: skip
    assert (pip_target / "corp_lib.py").read_text() == "VERSION = '1.0'\n"
    pinned = run([uv, "pip", "install", "--target", str(tmp_path / "no"), "corp-lib==99.0"],
                 {**env, "UV_INDEX_URL": team}, check=False)  # fmt: skip
    assert pinned.returncode != 0


def test_twine_says_why_an_upload_past_the_quota_is_refused(
    lading: Lading, home: Path, tmp_path: Path
) -> None:
    made = run([str(LADING), "token", "create", "--project", "small", "--role", "member"],
               lading.env)  # fmt: skip
    token = made.stdout.splitlines()[-1]
    first = wheel("small-demo", "1.0").write(tmp_path)
    assert twine(lading, home, [first], token=token).returncode == 0
    refused = twine(lading, home, [wheel("small-demo", "2.0").write(tmp_path)], "--verbose",
                    token=token)  # fmt: skip
    output = " ".join((refused.stdout + refused.stderr).split())  # as rich wrapped it
    assert refused.returncode == 1 and "403 Forbidden" in output, output
    assert "quota exceeded: adding" in output and "lading project small holds" in output


def test_a_deleted_files_name_is_refused_to_twine_until_an_admin_allows_it(
    lading: Lading, home: Path, tmp_path: Path
) -> None:
    file = sdist("burned-demo", "1.0").write(tmp_path)
    assert twine(lading, home, [file]).returncode == 0
    cli = {**lading.env, "LADING_URL": lading.url, "LADING_TOKEN": lading.token}
    run([str(LADING), "pypi", "delete", "main", "burned-demo", "1.0"], cli)
    refused = twine(lading, home, [file], "--verbose", "--skip-existing")
    output = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode == 1 and "400 Bad Request" in output, output
    assert "This filename has already been used, use a different version." in output
    allowed = run([str(LADING), "pypi", "allow-reuse", "main", file.name], cli)
    assert "may be uploaded to main again" in allowed.stdout
    assert twine(lading, home, [file]).returncode == 0
