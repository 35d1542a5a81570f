"""Deployments the fault tests break: a catalogue (SQLite or PostgreSQL, a database of the
test's own) and a store (a filesystem directory or a prefix of the session's Swift
container), as settings for a live ``lading serve`` and views that read both behind its
back. A failing test shows the end of its server's log."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import scratch_database
from tests.object_servers import SWIFT_KEY, SWIFT_URL, SWIFT_USER
from tests.resilience.invariants import FilesystemView, StoreView, SwiftView

SERVER_LOGS = pytest.StashKey[list[Path]]()


@dataclass(frozen=True)
class Deployment:
    """Where one test's server keeps its catalogue and its bytes."""

    name: str  # "<database>-<store>"
    root: Path
    database_url: str
    settings: dict[str, str]  # LADING_* variables for ``lading serve``
    store: StoreView


def postgres_database() -> contextlib.AbstractContextManager[str]:
    """An empty database of the test's own on the PostgreSQL server (lading migrates it)."""
    return scratch_database("lading_faults", migrated=False)


@pytest.fixture
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """Parametrised indirectly with ``"<database>-<store>"``: sqlite or postgresql,
    filesystem or swift."""
    database, store = str(request.param).split("-")
    root = tmp_path / "server"
    root.mkdir()
    settings: dict[str, str] = {}
    if store == "swift":
        container: str = request.getfixturevalue("swift_container")
        prefix = f"faults-{uuid.uuid4().hex[:12]}/"
        swift = {
            "type": "swift", "auth_url": f"{SWIFT_URL}/auth/v1.0", "user": SWIFT_USER,
            "key": SWIFT_KEY, "container": container, "prefix": prefix,
            "segment_size": 1024 * 1024,  # large uploads become manifests of segments
        }  # fmt: skip
        settings["LADING_STORES"] = json.dumps({"default": swift})
        view: StoreView = SwiftView(container, prefix)
    else:
        view = FilesystemView(root / "data" / "stores" / "default")
    cleanup = contextlib.ExitStack()
    if database == "postgresql":
        database_url = cleanup.enter_context(postgres_database())
        settings["LADING_DATABASE_URL"] = database_url
    else:
        database_url = f"sqlite:///{root / 'data' / 'lading.db'}"
    request.node.stash[SERVER_LOGS] = [root / "server.log"]
    with cleanup:
        yield Deployment(str(request.param), root, database_url, settings, view)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        for log in item.stash.get(SERVER_LOGS, []):
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-80:])
                report.sections.append((f"lading server log (tail of {log})", tail))
    return report
