"""The ``lading`` client commands, run through their entry point against a live server."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from lading.client import Client
from lading.errors import Conflict
from tests.clients.conftest import (
    LADING,
    WEB_DATA,
    Lading,
    free_port,
    running_lading,
    wait_registry,
)
from tests.clients.support import get_image, random_bytes, unique
from tests.faults import relay_to
from tests.http_origin import Origin

pytestmark = pytest.mark.clients
MiB = 1024 * 1024
TIMEOUT = 120.0


def lading(
    server: Lading | str, *args: str, token: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``lading ARGS`` with the server given in the environment, as people would."""
    url = server if isinstance(server, str) else server.url
    base = {k: v for k, v in os.environ.items() if not k.startswith("LADING_")}
    base |= {"LADING_URL": url, "LADING_CLIENT_CONFIG": "/nonexistent/client.toml"}
    if token is not None or not isinstance(server, str):
        base["LADING_TOKEN"] = token if token is not None else server.token  # type: ignore[union-attr]
    command = [str(LADING), *args]
    return subprocess.run(
        command, env=base | (env or {}), capture_output=True, text=True, timeout=TIMEOUT
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path`` a chunk at a time; their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for offset in range(0, size, 4 * MiB):
            chunk = os.urandom(min(4 * MiB, size - offset))
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def test_upload_and_download_300_mb(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    source = tmp_path / "disk.raw"  # random bytes: raw, as the suffix tells the server
    expected = random_file(source, 300 * MiB)
    name = unique("big")
    artifact_id = ok(
        lading(lading_server, "upload", str(source), "--name", name, "--progress", "none")
    ).strip()
    image = get_image(api, artifact_id)
    assert (image["status"], image["size"], image["disk_format"]) == ("active", 300 * MiB, "raw")
    assert image["os_hash_value"] == expected  # the server's default multihash is sha256
    target = tmp_path / "copy.raw"
    printed = ok(lading(lading_server, "download", name, "-o", str(target), "--progress", "none"))
    assert printed.strip() == str(target)
    assert sha256_of(target) == expected
    assert not target.with_name("copy.raw.part").exists()


def test_a_download_cut_halfway_resumes_with_a_range_and_is_verified(
    lading_server: Lading, tmp_path: Path
) -> None:
    source = tmp_path / "disk.img"
    expected = random_file(source, 24 * MiB)
    artifact_id = ok(lading(lading_server, "upload", str(source), "--progress", "none")).strip()
    port = int(lading_server.url.rsplit(":", 1)[1])
    target = tmp_path / "copy.img"
    with relay_to(port) as relay:
        relay.drop_after(12 * MiB)  # the connection dies halfway, once
        through = f"http://127.0.0.1:{relay.port}"
        args = ["download", artifact_id, "-o", str(target), "--progress", "none"]
        ok(lading(through, *args, token=lading_server.token))
        resumed_at = [int(start) for start in re.findall(rb"range: bytes=(\d+)-", relay.sent)]
    assert sha256_of(target) == expected
    assert len(resumed_at) == 1 and 0 < resumed_at[0] <= 12 * MiB, resumed_at


def test_a_killed_download_resumes_where_it_stopped(lading_server: Lading, tmp_path: Path) -> None:
    source = tmp_path / "disk.img"
    size = 16 * MiB
    expected = random_file(source, size)
    artifact_id = ok(lading(lading_server, "upload", str(source), "--progress", "none")).strip()
    port = int(lading_server.url.rsplit(":", 1)[1])
    target, part = tmp_path / "copy.img", tmp_path / "copy.img.part"
    with relay_to(port) as relay:
        relay.pace(8 * MiB)  # two seconds for the whole file
        env = {k: v for k, v in os.environ.items() if not k.startswith("LADING_")}
        env |= {"LADING_URL": f"http://127.0.0.1:{relay.port}", "LADING_TOKEN": lading_server.token}
        command = [str(LADING), "download", artifact_id, "-o", str(target), "--progress", "none"]
        process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size >= size // 2):
            assert time.monotonic() < deadline and process.poll() is None, "no progress"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    kept = part.stat().st_size
    assert size // 2 <= kept < size and not target.exists()
    args = ["download", artifact_id, "-o", str(target), "--progress", "lines"]
    result = lading(lading_server, *args)
    ok(result)
    assert f"resuming {part} from byte {kept}" in result.stderr
    assert re.search(r"download copy\.img: 100% 16\.0 MiB of 16\.0 MiB, .*done in", result.stderr)
    assert sha256_of(target) == expected and not part.exists()


def test_a_part_with_wrong_bytes_fails_the_digest_and_is_removed(
    lading_server: Lading, tmp_path: Path
) -> None:
    source = tmp_path / "disk.img"
    random_file(source, 2 * MiB)
    artifact_id = ok(lading(lading_server, "upload", str(source), "--progress", "none")).strip()
    target, part = tmp_path / "copy.img", tmp_path / "copy.img.part"
    part.write_bytes(b"not the first bytes of the artifact")
    result = lading(lading_server, "download", artifact_id, "-o", str(target))
    assert result.returncode == 1, result.stderr
    assert "the partial file was removed" in result.stderr
    assert not part.exists() and not target.exists()
    ok(lading(lading_server, "download", artifact_id, "-o", str(target), "--progress", "none"))
    assert sha256_of(target) == sha256_of(source)


def test_list_show_update_and_delete(lading_server: Lading, tmp_path: Path) -> None:
    source = tmp_path / "tool-1.2.tar.gz"
    source.write_bytes(random_bytes(1000))
    name = unique("tool")
    upload = ["upload", str(source), "--name", name, "--version", "1.2", "--tag", "cli",
              "--property", "os_distro=debian", "--progress", "none"]  # fmt: skip
    artifact_id = ok(lading(lading_server, *upload)).strip()

    listed = json.loads(ok(lading(lading_server, "list", "--name", name, "--json")))
    assert [artifact["id"] for artifact in listed] == [artifact_id]
    assert listed[0]["os_distro"] == "debian" and listed[0]["version"] == "1.2"
    table = ok(lading(lading_server, "list", "--tag", "cli", "--property", "os_distro=debian"))
    header, *rows = table.splitlines()
    assert header.split() == ["ID", "NAME", "VERSION", "STATUS", "SIZE", "VISIBILITY", "TAGS"]
    assert [artifact_id, name, "1.2", "active"] in [row.split()[:4] for row in rows]

    update = ["update", artifact_id, "--remove-property", "os_distro", "--property",
              "arch=x86_64", "--untag", "cli", "--tag", "done"]  # fmt: skip
    ok(lading(lading_server, *update))
    shown = json.loads(ok(lading(lading_server, "show", name, "--version", "1.2", "--json")))
    assert (shown["tags"], shown["arch"], "os_distro" in shown) == (["done"], "x86_64", False)
    assert shown["filename"] == "tool-1.2.tar.gz"  # a version makes it a package
    assert re.search(r"^arch +x86_64$", ok(lading(lading_server, "show", artifact_id)), re.M)

    assert ok(lading(lading_server, "delete", artifact_id)).strip() == f"deleted {artifact_id}"
    assert lading(lading_server, "show", artifact_id).returncode == 3


def test_import_shows_progress_and_waits_for_the_task(
    lading_server: Lading, api: httpx.Client, web_origin: Origin
) -> None:
    result = lading(lading_server, "import", web_origin.url("/slow"), "--name", unique("web"),
                    "--progress", "lines")  # fmt: skip
    artifact_id = ok(result).strip()
    assert "import slow: 100%" in result.stderr
    image = get_image(api, artifact_id)
    assert (image["status"], image["size"]) == ("active", len(WEB_DATA))
    listed = json.loads(ok(lading(lading_server, "tasks", "--type", "api_image_import", "--json")))
    assert any(task.get("image_id") == artifact_id for task in listed)


def test_a_failed_import_exits_1_and_leaves_no_artifact(
    lading_server: Lading, api: httpx.Client, web_origin: Origin
) -> None:
    name = unique("refused")
    elsewhere = web_origin.url(f"/redirect?to=http://127.0.0.1:{free_port()}/data")
    result = lading(lading_server, "import", elsewhere, "--name", name)
    assert result.returncode == 1, result.stderr
    assert "failed" in result.stderr
    images = api.get("/v2/images", params={"name": name}).json()["images"]
    assert images == []


def test_publish_and_unpublish(lading_server: Lading, tmp_path: Path) -> None:
    source = tmp_path / "pkg.deb"
    source.write_bytes(b"package")
    name = unique("pkg")
    upload = ["upload", str(source), "--name", name, "--version", "1.0", "--visibility",
              "public", "--progress", "none"]  # fmt: skip
    artifact_id = ok(lading(lading_server, *upload)).strip()
    public = f"{lading_server.url}/click/download/public/{name}/1.0/pkg.deb"
    assert ok(lading(lading_server, "unpublish", name)).strip() == f"unpublished {artifact_id}"
    assert httpx.get(public).status_code == 404
    assert ok(lading(lading_server, "publish", artifact_id)).strip() == f"published {artifact_id}"
    assert httpx.get(public).content == b"package"


@pytest.mark.parametrize(
    ("args", "token", "code", "says"),
    [
        (["show", "00000000-0000-0000-0000-000000000000"], None, 3, "error:"),
        (["list"], "not-a-token", 4, "error:"),
        (["upload", "/nonexistent"], None, 2, "does not exist"),
        (["list", "--property", "no-equals"], None, 2, "is not KEY=VALUE"),
    ],
)
def test_exit_codes(
    lading_server: Lading, args: list[str], token: str | None, code: int, says: str
) -> None:
    result = lading(lading_server, *args, token=token)
    assert (result.returncode, says in result.stderr) == (code, True), result.stderr


def test_an_unreachable_server_exits_5() -> None:
    result = lading(f"http://127.0.0.1:{free_port()}", "list")
    assert result.returncode == 5 and "error:" in result.stderr


def test_the_config_file_gives_url_and_token_and_flags_win(
    lading_server: Lading, tmp_path: Path
) -> None:
    config = tmp_path / "client.toml"
    config.write_text(f'url = "{lading_server.url}"\ntoken = "{lading_server.token}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("LADING_")}
    env["LADING_CLIENT_CONFIG"] = str(config)

    def run(*args: str, extra: dict[str, str] | None = None) -> int:
        return subprocess.run([str(LADING), *args], env=env | (extra or {}),
                              capture_output=True, timeout=TIMEOUT).returncode  # fmt: skip

    assert run("list", "--limit", "1") == 0
    assert run("list", "--limit", "1", extra={"LADING_TOKEN": "wrong"}) == 4
    assert run("list", "--limit", "1", "--token", lading_server.token,
               extra={"LADING_TOKEN": "wrong"}) == 0  # fmt: skip
    config.write_text('url = "http://127.0.0.1:9"\ntoken = 3\n')
    assert run("list") == 2


def test_the_python_client_streams_pages_and_imports(
    lading_server: Lading, web_origin: Origin
) -> None:
    tag = unique("paged")
    with Client(lading_server.url, lading_server.token) as client:
        made = []
        for number in range(5):
            artifact = client.create(name=f"{tag}-{number}", disk_format="raw",
                                     container_format="bare", tags=[tag])  # fmt: skip
            chunks = (bytes([number]) * 1000 for _ in range(3))  # a stream of unknown size
            made.append(client.upload(artifact.id, chunks))
        assert {artifact.size for artifact in made} == {3000}
        listed = list(client.artifacts({"tag": tag}, page_size=2))
        assert sorted(artifact.id for artifact in listed) == sorted(a.id for a in made)

        target = client.create(name=tag, disk_format="raw", container_format="bare")
        task = client.wait(client.import_from(target.id, web_origin.url()).id, interval=0.1)
        assert (task.status, task.artifact_id) == ("success", target.id)
        assert client.show(target.id).size == len(WEB_DATA)

        empty = client.create(name=tag, disk_format="raw", container_format="bare")
        with pytest.raises(Conflict, match="is queued"):
            client.download(empty.id, Path("never-written"))
        assert not Path("never-written").exists()


def test_a_name_that_is_a_path_downloads_under_the_id(
    lading_server: Lading, api: httpx.Client, tmp_path: Path
) -> None:
    """Whoever names an artifact must not choose where its downloads land."""
    image = api.post("/v2/images", json={"name": "../escaped.txt", "disk_format": "raw",
                                         "container_format": "bare"}).json()  # fmt: skip
    api.put(f"/v2/images/{image['id']}/file", content=b"payload").raise_for_status()
    here = tmp_path / "here"
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LADING_")}
    env |= {"LADING_URL": lading_server.url, "LADING_TOKEN": lading_server.token}
    command = [str(LADING), "download", image["id"], "--progress", "none"]
    result = subprocess.run(command, env=env, cwd=here, capture_output=True, text=True)
    assert ok(result).strip() == image["id"]
    assert (here / image["id"]).read_bytes() == b"payload"
    assert not (tmp_path / "escaped.txt").exists()
    again = subprocess.run(command, env=env, cwd=here, capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr  # never overwritten unasked


def test_tags_with_slashes_and_an_answer_that_is_not_the_api(
    lading_server: Lading, tmp_path: Path, web_origin: Origin
) -> None:
    source = tmp_path / "x.img"
    source.write_bytes(b"x")
    artifact_id = ok(lading(lading_server, "upload", str(source), "--progress", "none")).strip()
    ok(lading(lading_server, "update", artifact_id, "--tag", "a/b?c", "--tag", "two"))
    ok(lading(lading_server, "update", artifact_id, "--untag", "two", "--tag", "a/b?c"))
    shown = json.loads(ok(lading(lading_server, "show", artifact_id, "--json")))
    assert shown["tags"] == ["a/b?c"]
    not_lading = lading(web_origin.url("/"), "list", token="t")  # bytes, not the v2 face
    assert not_lading.returncode == 5 and "without JSON" in not_lading.stderr


def test_names_show_give_and_publishers(lading_server: Lading, tmp_path: Path) -> None:
    source = tmp_path / "tool.tgz"
    source.write_bytes(b"tool")
    name = unique("tool")
    upload = ["upload", str(source), "--name", name, "--version", "1.0", "--progress", "none"]
    ok(lading(lading_server, *upload))
    assert ok(lading(lading_server, "names", "show", name)).splitlines()[1].split() == [
        name, "clients", "-"
    ]  # fmt: skip
    shown = ok(lading(lading_server, "names", "publishers", name, "team-b", "team-c"))
    assert shown.splitlines()[1].split() == [name, "clients", "team-b,team-c"]
    given = ok(lading(lading_server, "names", "give", name, "team-d"))
    assert given.splitlines()[1].split() == [name, "team-d", "team-b,team-c"]
    listed = json.loads(ok(lading(lading_server, "names", "list", "--json")))
    assert {"name": name, "owner": "team-d"}.items() <= next(
        entry for entry in listed if entry["name"] == name
    ).items()
    missing = lading(lading_server, "names", "give", unique("missing"), "team-d")
    assert missing.returncode == 3 and "no package name" in missing.stderr


def test_repositories_list_and_visibility(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """A project's registry repositories with their size, made public over the API."""
    port = free_port()
    with running_lading(tmp_path, pytestconfig, {"LADING_OCI__PORT": str(port)}) as server:
        registry = f"http://127.0.0.1:{port}"
        wait_registry(registry, tmp_path / "server.log")
        data = b"layer" * 100
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        pushed = httpx.post(
            f"{registry}/v2/team/app/blobs/uploads/", params={"digest": digest}, content=data,
            auth=("any", server.token),
        )  # fmt: skip
        assert pushed.status_code == 201, pushed.text
        listed = ok(lading(server, "repositories", "list")).splitlines()
        assert listed[1].split() == ["team/app", "clients", "private", "500", "1", "0"]
        made = ok(lading(server, "repositories", "visibility", "team/app", "public"))
        assert made.splitlines()[1].split()[2] == "public"
        scope = {"scope": "repository:team/app:pull"}
        token = httpx.get(f"{registry}/v2/token", params=scope).json()["token"]
        anonymous = httpx.get(
            f"{registry}/v2/team/app/blobs/{digest}", headers={"authorization": f"Bearer {token}"}
        )
        assert anonymous.status_code == 200 and anonymous.content == data
        shown = json.loads(ok(lading(server, "repositories", "list", "--json")))
        assert shown[0]["visibility"] == "public"
        missing = lading(server, "repositories", "visibility", "no/such", "public")
        assert missing.returncode == 3 and "not known" in missing.stderr


def test_retention_policy_plan_and_apply(lading_server: Lading, tmp_path: Path) -> None:
    """On the shared server, a policy over names of this test's own only (and gone after)."""
    name = unique("retired")
    ids = []
    for content in (b"old" * 100, b"new"):
        source = tmp_path / "disk.img"
        source.write_bytes(content)
        upload = ["upload", str(source), "--name", name, "--progress", "none"]
        ids.append(ok(lading(lading_server, *upload)).strip())
        time.sleep(0.01)  # created one after the other
    graces = ["--hide-after-days", "0", "--deactivate-after-days", "0", "--delete-after-days", "0"]
    made = ["retention", "policy", "create", "--pattern", name, "--keep-newest", "1", *graces]
    policy_id = ok(lading(lading_server, *made)).strip()
    try:
        listed = json.loads(ok(lading(lading_server, "retention", "policy", "list", "--json")))
        assert policy_id in {found["id"] for found in listed}
        plan = json.loads(ok(lading(lading_server, "retention", "plan", "--json")))
        assert [(step["image_id"], step["action"]) for step in plan["steps"]
                if step["name"] == name] == [(ids[0], "hide")]  # fmt: skip
        table = ok(lading(lading_server, "retention", "plan"))
        assert ids[0] in table and f"policy {policy_id}" in table
        applied = ok(lading(lading_server, "retention", "apply"))
        result = json.loads(applied.partition("\n")[2])
        assert ids[0] in result["deleted"] and ids[1] not in result["deleted"]
        assert lading(lading_server, "show", ids[0]).returncode == 3
        ok(lading(lading_server, "show", ids[1]))
    finally:
        ok(lading(lading_server, "retention", "policy", "delete", policy_id))
    missing = lading(lading_server, "retention", "policy", "delete", policy_id)
    assert missing.returncode == 3
