"""A rolling upgrade, with the previous release's own code: a node of the commit before the
newest migration keeps serving (images made, listed, renamed, uploaded, downloaded and
deleted) on a catalogue that this code has expanded, beside a node of this code.

The previous code comes from git history (``git archive`` of the parent of the commit that
added the newest migration) and runs in a process of its own, with its own ``lading``
first on the path. Its start-up migration is left out, as for a node that started before
the expand: that node already runs, and only its serving is in question. A clone without
that history (shallow) skips, saying why; where services are required (CI), it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pytest

from lading.app import create_app
from lading.db.engine import CONTRACT, HEAD, Database, migrations
from lading.settings import Settings
from tests.conftest import unmigrated_database
from tests.services_required import SERVICES, unavailable
from tests.world import open_world

# It runs the previous release's lading in a process of its own, for a few seconds.
pytestmark = pytest.mark.server
ROOT = Path(__file__).resolve().parents[1]
VERSIONS = "src/lading/db/migrations/versions"
TIMEOUT = 120  # seconds for one run of the previous node: it does a few requests
# The previous release's node: the app on its own code, driven in-process.
OLD_NODE = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import lading
    from lading.db import engine

    mode, url, data_dir, others = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4:]
    assert Path(lading.__file__).is_relative_to(Path(sys.argv[0]).parent), lading.__file__
    if mode == "migrate":  # the previous release, as it was installed: its own migrations
        database = engine.Database(url)
        database.upgrade()
        database.dispose()
        sys.exit(0)
    # A node that started before the expand: its start-up migration is behind it.
    engine.Database.upgrade = lambda self, *args, **kwargs: None

    from starlette.testclient import TestClient
    from lading.app import create_app
    from lading.settings import Settings

    def ok(answer, status):
        assert answer.status_code == status, (answer.request.url, answer.status_code, answer.text)
        return answer

    seen = {"lading": lading.__file__}
    settings = Settings(data_dir=data_dir, database_url=url)
    with TestClient(create_app(settings), base_url="http://lading.test") as client:
        body = {"name": "old-node", "disk_format": "raw", "container_format": "bare"}
        made = ok(client.post("/v2/images", json=body), 201).json()["id"]
        octets = {"content-type": "application/octet-stream"}
        ok(client.put(f"/v2/images/{made}/file", content=b"old node's bytes", headers=octets), 204)
        patch = {"content-type": "application/openstack-images-v2.1-json-patch"}
        rename = [{"op": "replace", "path": "/name", "value": "old-node-renamed"},
                  {"op": "add", "path": "/os_distro", "value": "debian"}]
        ok(client.patch(f"/v2/images/{made}", json=rename, headers=patch), 200)
        doomed = ok(client.post("/v2/images", json={**body, "name": "doomed"}), 201).json()
        ok(client.delete(f"/v2/images/{doomed['id']}"), 204)
        listed = ok(client.get("/v2/images"), 200).json()["images"]
        seen["listed"] = sorted(image["name"] for image in listed)
        seen["made"] = made
        seen["downloads"] = {
            image_id: ok(client.get(f"/v2/images/{image_id}/file"), 200).text
            for image_id in [made, *others]
        }
    print(json.dumps(seen))
    """
)


def previous_release(tmp_path: Path) -> Path:
    """The source tree of the commit before the newest migration, unpacked."""
    try:
        git = ["git", "-C", str(ROOT)]
        if subprocess.run([*git, "rev-parse", "--is-shallow-repository"], capture_output=True,
                          text=True, check=True).stdout.strip() == "true":  # fmt: skip
            unavailable("the clone is shallow: the previous release's code is not in it",
                        "fetch the whole history (git fetch --unshallow)")  # fmt: skip
        (newest,) = (ROOT / VERSIONS).glob(f"{HEAD}_*.py")
        added = subprocess.run(
            [*git, "log", "--diff-filter=A", "--format=%H", "--", str(newest.relative_to(ROOT))],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        unavailable(f"no git history to take the previous release from: {exc}", "run from a clone")
    if not added:
        unavailable(f"migration {HEAD} is not committed yet", "commit it")
    previous = f"{added[-1]}^"
    archive = tmp_path / "previous.tar"
    with archive.open("wb") as out:
        subprocess.run([*git, "archive", previous, "src"], stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "previous", filter="data")
    tree = tmp_path / "previous" / "src"
    their_head = max(path.name[:4] for path in (tree / "lading/db/migrations/versions").glob("0*"))
    assert their_head == f"{int(HEAD) - 1:04d}", their_head
    return tree


def old_node(tree: Path, mode: str, url: str, data_dir: Path, *others: str) -> dict[str, Any]:
    script = tree / "old_node.py"
    script.write_text(OLD_NODE)
    environment = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(script), mode, url, str(data_dir), *others],
        capture_output=True, text=True, timeout=TIMEOUT, env=environment, cwd=tree,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1]) if mode == "serve" else {}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=SERVICES)])
def test_a_node_of_the_previous_release_serves_on_the_expanded_catalogue(
    kind: str, tmp_path: Path
) -> None:
    tree = previous_release(tmp_path)
    data_dir = tmp_path / "data"
    with unmigrated_database(kind, tmp_path, "lading_rolling") as url:
        old_node(tree, "migrate", url, data_dir)
        before = old_node(tree, "serve", url, data_dir)
        assert before["lading"].startswith(str(tree))

        database = Database(url)
        reached = database.expand()  # what lading db expand does
        assert reached == max(m.revision for m in migrations() if m.phase != CONTRACT)
        assert reached > f"{int(HEAD) - 1:04d}" or migrations()[-1].phase == CONTRACT
        database.dispose()

        settings = Settings(data_dir=data_dir, database_url=url)
        with open_world(create_app(settings), {}) as new:  # this release's node, beside it
            octets = {"content-type": "application/octet-stream"}
            body = {"name": "new-node", "disk_format": "raw", "container_format": "bare"}
            made = new.client.post("/v2/images", json=body).json()["id"]
            stored = new.client.put(f"/v2/images/{made}/file", content=b"new", headers=octets)
            assert stored.status_code == 204

            after = old_node(tree, "serve", url, data_dir, made, before["made"])
            assert after["downloads"] == {
                after["made"]: "old node's bytes",
                made: "new",
                before["made"]: "old node's bytes",
            }
            assert after["listed"] == ["new-node", "old-node-renamed", "old-node-renamed"]
            theirs = new.client.get(f"/v2/images/{after['made']}").json()
            assert (theirs["name"], theirs["os_distro"]) == ("old-node-renamed", "debian")
            assert new.client.get(f"/v2/images/{after['made']}/file").content == b"old node's bytes"
