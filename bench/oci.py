"""OCI registry benchmark: a blob pushed and pulled through the registry's listener, side
by side with the same bytes uploaded and downloaded through the Glance v2 face.

Starts lading (SQLite, filesystem store, one worker, an admin token) with ``oci.port`` on
free loopback ports in a scratch directory, and for each of ``--runs`` runs, in turn:
Glance's upload (``PUT /v2/images/{id}/file``), the registry's monolithic push (``POST
/v2/<name>/blobs/uploads/?digest=``), its chunked push (``POST``, ``PATCH`` chunks of
``--chunk-mib``, ``PUT``) and its push in one ``PATCH`` (as skopeo's), then Glance's
download and the registry's pull (``GET /v2/<name>/blobs/<digest>``), every transfer by
curl (a chunked push's PATCHes too: httpx's sending of 64 MiB bodies was slower than the
server's receiving, and the row measured the client). Bodies go by ``curl -T`` (streamed
from the file): ``--data-binary @file`` reads the file into curl's memory, and curl
refuses a file of 1 GiB or more there (``out of memory``, exit status 2). Then, where
skopeo is installed, skopeo copies an OCI layout holding the same bytes as its one layer
to the registry and back (the pull writes the layout's files, so it is set beside
Glance's download to a file by curl).
What each run stored is deleted before the next, so no push meets its bytes already there.
Prints the medians, and the registry's figures over Glance's (the issue asks for 0.9 at
least).

    .venv/bin/python bench/oci.py                       # 1 GiB, 3 runs
    .venv/bin/python bench/oci.py --size-mib 256 --runs 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from _server import MB, MiB, free_port, median, print_table, running_server, temp_dir

NAME = "bench/blob"
SKOPEO_NAME = "bench/skopeo"
SKOPEO = shutil.which("skopeo")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def curl(*args: str) -> float:
    """Seconds one curl transfer took (it must succeed)."""
    started = time.perf_counter()
    subprocess.run(["curl", "--silent", "--show-error", "--fail", *args], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def upload(method: str, url: str, path: Path, *args: str) -> float:
    """Seconds one curl upload of the file at ``path`` took, streamed from it (``-T``).
    ``--request-target`` keeps curl from adding the file's name to a URL that ends with
    a slash (the registry's ``/blobs/uploads/``); ``Expect:`` unset, so that no transfer
    waits on a ``100 Continue``."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    return curl(*args, "-X", method, "-H", "Content-Type: application/octet-stream",
                "-H", "Expect:", "--request-target", target, "-T", str(path), url)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    size = options.size_mib * MiB
    with temp_dir(None, "lading-bench-oci-") as root:
        data = root / "blob"
        digest = write_random(data, size)
        port = free_port()
        settings = {"LADING_OCI__PORT": str(port)}
        with running_server(root / "data", settings=settings, token=True) as server:
            registry = f"http://127.0.0.1:{port}"
            token = server.token or ""
            auth = ["-u", f"any:{token}"]
            glance_auth = ["-H", f"X-Auth-Token: {token}"]
            wait_for(registry)
            seconds: dict[str, list[float]] = defaultdict(list)
            for _ in range(options.runs):
                image = httpx.post(
                    f"{server.base_url}/v2/images", headers=server.headers,
                    json={"name": "bench", "disk_format": "raw", "container_format": "bare"},
                ).json()["id"]  # fmt: skip
                image_url = f"{server.base_url}/v2/images/{image}/file"
                seconds["glance upload"].append(upload("PUT", image_url, data, *glance_auth))
                seconds["oci push (monolithic)"].append(upload(
                    "POST", f"{registry}/v2/{NAME}/blobs/uploads/?digest={digest}", data, *auth
                ))  # fmt: skip
                blob_url = f"{registry}/v2/{NAME}/blobs/{digest}"
                delete(blob_url, token)
                seconds["oci push (chunked)"].append(
                    push_chunked(registry, token, data, digest, options.chunk_mib * MiB)
                )
                delete(blob_url, token)
                seconds["oci push (one PATCH)"].append(push_streamed(registry, token, data, digest))
                seconds["glance download"].append(curl(*glance_auth, "-o", "/dev/null", image_url))
                seconds["oci pull"].append(curl(*auth, "-o", "/dev/null", blob_url))
                delete(blob_url, token)
                if SKOPEO is not None:
                    copy = root / "download"
                    seconds["glance download (to a file)"].append(
                        curl(*glance_auth, "-o", str(copy), image_url)
                    )
                    copy.unlink()
                    pushed, pulled = skopeo_copy(root, data, digest, port, token)
                    seconds["skopeo push"].append(pushed)
                    seconds["skopeo pull"].append(pulled)
                    delete(blob_url.replace(NAME, SKOPEO_NAME), token)
                httpx.delete(f"{server.base_url}/v2/images/{image}", headers=server.headers)
    rows = [[what, f"{median(values):.2f}", f"{size / median(values) / MB:.0f}"]
            for what, values in seconds.items()]  # fmt: skip
    print(f"{options.size_mib} MiB, {options.runs} runs, medians")
    print_table(["transfer", "seconds", "MB/s"], rows)
    for oci, glance in (("oci push (monolithic)", "glance upload"),
                        ("oci push (chunked)", "glance upload"),
                        ("oci push (one PATCH)", "glance upload"),
                        ("oci pull", "glance download"),
                        ("skopeo push", "glance upload"),
                        ("skopeo pull", "glance download (to a file)")):  # fmt: skip
        if seconds[oci]:
            print(f"{oci} / {glance}: {median(seconds[glance]) / median(seconds[oci]):.2f}")


def skopeo_copy(root: Path, data: Path, digest: str, port: int, token: str) -> tuple[float, float]:
    """skopeo copying an OCI layout whose one layer is ``data`` to the registry, then back
    to another layout: the seconds of each way."""
    layout, back = root / "layout", root / "back"
    for directory in (layout, back):
        shutil.rmtree(directory, ignore_errors=True)
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    os.link(data, blobs / digest.removeprefix("sha256:"))  # the same bytes, not a copy

    def blob(content: bytes) -> dict[str, object]:
        name = hashlib.sha256(content).hexdigest()
        (blobs / name).write_bytes(content)
        return {"digest": f"sha256:{name}", "size": len(content)}

    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [digest]}}).encode()  # fmt: skip
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": digest,
                    "size": data.stat().st_size}],
    }).encode()  # fmt: skip
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, **blob(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }]}  # fmt: skip
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    assert SKOPEO is not None
    remote = f"docker://127.0.0.1:{port}/{SKOPEO_NAME}:v1"
    creds = f"any:{token}"
    ways = (
        ["--dest-tls-verify=false", "--dest-creds", creds, f"oci:{layout}:v1", remote],
        ["--src-tls-verify=false", "--src-creds", creds, remote, f"oci:{back}:v1"],
    )
    timed = []
    for way in ways:
        started = time.perf_counter()
        subprocess.run([SKOPEO, "--insecure-policy", "copy", "--preserve-digests", *way],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        timed.append(time.perf_counter() - started)
    shutil.rmtree(back)
    shutil.rmtree(layout)
    return timed[0], timed[1]


def push_streamed(registry: str, token: str, data: Path, digest: str) -> float:
    """POST, the whole blob in one PATCH by curl (as skopeo and docker push), PUT."""
    started = time.perf_counter()
    with httpx.Client(base_url=registry, auth=("any", token), timeout=600) as client:
        location = client.post(f"/v2/{NAME}/blobs/uploads/").headers["location"]
        upload("PATCH", f"{registry}{location}", data, "-u", f"any:{token}")
        client.put(location, params={"digest": digest}).raise_for_status()
    return time.perf_counter() - started


def push_chunked(registry: str, token: str, data: Path, digest: str, chunk: int) -> float:
    """POST, a PATCH per chunk (each by curl, as every other transfer here, from a file
    of the chunk's bytes cut beforehand), PUT: seconds."""
    size = data.stat().st_size
    chunks = []
    with data.open("rb") as source:
        for start in range(0, size, chunk):
            path = data.with_name(f"{data.name}.{start}")
            path.write_bytes(source.read(chunk))
            chunks.append((start, path))
    started = time.perf_counter()
    with httpx.Client(base_url=registry, auth=("any", token), timeout=600) as client:
        location = client.post(f"/v2/{NAME}/blobs/uploads/").headers["location"]
        for start, path in chunks:
            end = start + path.stat().st_size - 1
            upload("PATCH", f"{registry}{location}", path, "-u", f"any:{token}",
                   "-H", f"Content-Range: {start}-{end}")  # fmt: skip
        client.put(location, params={"digest": digest}).raise_for_status()
    elapsed = time.perf_counter() - started
    for _, path in chunks:
        path.unlink()
    return elapsed


def delete(url: str, token: str) -> None:
    httpx.delete(url, auth=("any", token)).raise_for_status()


def write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(0, size, MiB):
            block = os.urandom(MiB)
            digest.update(block)
            out.write(block)
    return f"sha256:{digest.hexdigest()}"


def wait_for(registry: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{registry}/v2/", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("the registry did not answer")


if __name__ == "__main__":
    main()
