"""Python package index benchmark: the simple page of a project with many releases, as
pip asks for it, side by side with the same page served as a static file by nginx.

Starts lading (SQLite, filesystem store, one worker, an admin token, as deployed) on a
free loopback port in a scratch directory, uploads ``--releases`` releases of one project
(a wheel and an sdist each, as twine sends them), then for each of ``--runs`` runs asks
``--requests`` times, one after another on one kept-alive connection, for the project's
page: in JSON with pip's ``Accept`` header (what pip and uv get), and in HTML (``Accept:
text/html``); and as many times for the same bytes from nginx (the floor any server has on
this machine with this client); and the first request after each of 20 yanks (the page
read and written again). Prints p50 and p95 of each, and the time a real ``pip
download --no-deps`` of the newest release takes (it reads the page, the core metadata,
then the wheel).

    .venv/bin/python bench/pypi.py                          # 500 releases, 2,000 requests
    .venv/bin/python bench/pypi.py --releases 100 --requests 500 --runs 1
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from _reference import find_nginx, running_nginx
from _server import median, percentile, print_table, running_server, temp_dir

PROJECT = "big-project"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{JSON_V1}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


def wheel(version: str) -> tuple[str, bytes]:
    stem = f"big_project-{version}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("big_project.py", f"VERSION = {version!r}\n")
        metadata = f"Metadata-Version: 2.1\nName: big-project\nVersion: {version}\n"
        archive.writestr(f"{stem}.dist-info/METADATA", metadata + "Requires-Python: >=3.8\n")
        archive.writestr(f"{stem}.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        archive.writestr(f"{stem}.dist-info/RECORD", "")
    return f"{stem}-py3-none-any.whl", buffer.getvalue()


def sdist(version: str) -> tuple[str, bytes]:
    # Not read by the index: any bytes named as an sdist are one.
    return f"big_project-{version}.tar.gz", f"sdist {version}".encode().ljust(512, b"\0")


def upload(client: httpx.Client, filename: str, data: bytes, version: str) -> None:
    fields = {
        ":action": "file_upload", "protocol_version": "1", "name": PROJECT,
        "version": version, "requires_python": ">=3.8",
        "filetype": "bdist_wheel" if filename.endswith(".whl") else "sdist",
        "pyversion": "py3" if filename.endswith(".whl") else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
    }  # fmt: skip
    answer = client.post("/pypi/main/", data=fields, files={"content": (filename, data)})
    answer.raise_for_status()


def latencies(client: httpx.Client, url: str, accept: str, count: int) -> list[float]:
    """Milliseconds each of ``count`` GETs took, one after another."""
    found = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(url, headers={"accept": accept})
        found.append((time.perf_counter() - started) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: {answer.status_code} {answer.text[:200]}")
    return found


def after_changes(client: httpx.Client, url: str, version: str, count: int = 20) -> list[float]:
    """Milliseconds of the first GET after each of ``count`` yanks and unyanks: the page
    read and written again (no node has it current)."""
    found = []
    for number in range(count):
        action = "unyank" if number % 2 else "yank"
        client.post(f"/pypi/main/projects/{PROJECT}/{version}/{action}").raise_for_status()
        found += latencies(client, url, PIP_ACCEPT, 1)
    return found


def pip_download(base_url: str, token: str, version: str) -> float:
    """Seconds a real ``pip download --no-deps`` of the release takes."""
    host = base_url.removeprefix("http://")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "pip", "--isolated", "download", "--no-deps", "-q",
                   "-d", out, "--index-url", f"http://__token__:{token}@{host}/pypi/main/simple/",
                   f"{PROJECT}=={version}"]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, timeout=120)
        return time.perf_counter() - started


def load(client: httpx.Client, releases: int) -> list[str]:
    """Upload ``releases`` releases, a wheel and an sdist each: their versions, in order."""
    started = time.perf_counter()
    versions = [f"1.{number}" for number in range(releases)]
    for version in versions:
        for filename, data in (wheel(version), sdist(version)):
            upload(client, filename, data, version)
    seconds = time.perf_counter() - started
    print(f"{2 * releases} files of {releases} releases uploaded in {seconds:.1f} s")
    return versions


def measure_lading(
    client: httpx.Client, versions: list[str], static: Path, args: argparse.Namespace
) -> dict[str, list[list[float]]]:
    """The page's latencies, each kind per run; its JSON is left in ``static`` for nginx."""
    page = f"/pypi/main/simple/{PROJECT}/"
    body = client.get(page, headers={"accept": PIP_ACCEPT})
    (static / "page").mkdir(parents=True)
    (static / "page" / "index.json").write_bytes(body.content)
    print(f"the JSON page: {len(body.content)} bytes, {len(body.json()['files'])} files")
    rows: dict[str, list[list[float]]] = {"json": [], "html": [], "json, just changed": []}
    for _ in range(args.runs):
        latencies(client, page, PIP_ACCEPT, 50)  # warm
        rows["json"].append(latencies(client, page, PIP_ACCEPT, args.requests))
        rows["html"].append(latencies(client, page, "text/html", args.requests))
        rows["json, just changed"].append(after_changes(client, page, versions[0]))
    return rows


def measure_nginx(
    nginx: str, scratch: Path, static: Path, args: argparse.Namespace
) -> list[list[float]]:
    runs = []
    with (
        running_nginx(nginx, scratch / "nginx", static) as reference,
        httpx.Client(base_url=reference, timeout=60) as client,
    ):
        for _ in range(args.runs):
            latencies(client, "/page/index.json", "*/*", 50)
            runs.append(latencies(client, "/page/index.json", "*/*", args.requests))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=500)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scratch", type=Path, default=None, help="where to keep the data")
    args = parser.parse_args()
    nginx = find_nginx()
    with (
        temp_dir(args.scratch, "lading-bench-pypi-") as scratch,
        running_server(scratch / "data", token=True) as server,
    ):
        assert server.token is not None
        auth = ("__token__", server.token)
        with httpx.Client(base_url=server.base_url, auth=auth, timeout=60) as client:
            versions = load(client, args.releases)
            rows = measure_lading(client, versions, scratch / "static", args)
        if nginx is not None:
            rows["nginx json"] = measure_nginx(nginx, scratch, scratch / "static", args)
        pip_seconds = [pip_download(server.base_url, server.token, versions[-1])
                       for _ in range(args.runs)]  # fmt: skip
    table = []
    for name, runs in rows.items():
        p50 = median([percentile(run, 0.5) for run in runs])
        p95 = median([percentile(run, 0.95) for run in runs])
        table.append([name, f"{p50:.2f}", f"{p95:.2f}", len(runs)])
    print_table(["page", "p50 ms", "p95 ms", "runs"], table)
    print(f"pip download --no-deps of the newest release: {median(pip_seconds):.2f} s (median)")


if __name__ == "__main__":
    main()
