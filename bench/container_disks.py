"""Container disk benchmark: an image of the catalogue pulled as a KubeVirt container disk
(``images/<id>:latest``), beside the same image's Glance download.

Starts lading (SQLite, filesystem store, one worker, an admin token) with ``oci.port`` on
free loopback ports in a scratch directory, uploads a raw image of ``--size-mib``, then
times: the first manifest request (the layer's sha256 worked out, reading the image
through), the next ones (the kept digest), the layer's pull (tar header, the image's
bytes, the end, composed as they are read), and Glance's download of the image; and the
server's peak RSS meanwhile (all its processes: both listeners' workers).

    .venv/bin/python bench/container_disks.py                 # 1 GiB, 3 runs
    .venv/bin/python bench/container_disks.py --size-mib 256
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
from collections import defaultdict
from pathlib import Path

import httpx

from _server import (
    MB,
    MiB,
    RssSampler,
    Server,
    free_port,
    median,
    print_table,
    running_server,
    temp_dir,
)
from oci import curl, wait_for, write_random


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    size = options.size_mib * MiB
    with temp_dir(None, "lading-bench-disks-") as root:
        data = root / "disk.img"
        write_random(data, size)
        port = free_port()
        settings = {"LADING_OCI__PORT": str(port)}
        with running_server(root / "data", settings=settings, token=True) as server:
            registry = f"http://127.0.0.1:{port}"
            token = server.token or ""
            auth = ["-u", f"any:{token}"]
            wait_for(registry)
            seconds: dict[str, list[float]] = defaultdict(list)
            with RssSampler(server) as sampler:
                for _ in range(options.runs):
                    seconds_of_run(server, registry, token, auth, data, seconds)
            peak = sampler.overall_peak / MiB
    rows = [[what, f"{median(values):.3f}", f"{size / median(values) / MB:.0f}"]
            for what, values in seconds.items()]  # fmt: skip
    print(f"{options.size_mib} MiB, {options.runs} runs, medians; server peak RSS {peak:.0f} MiB")
    print_table(["step", "seconds", "MB/s"], rows)
    print(f"layer pull / glance download: "
          f"{median(seconds['glance download']) / median(seconds['layer pull']):.2f}")  # fmt: skip


def seconds_of_run(
    server: Server,
    registry: str,
    token: str,
    auth: list[str],
    data: Path,
    seconds: dict[str, list[float]],
) -> None:
    base_url, headers = server.base_url, server.headers
    image = httpx.post(
        f"{base_url}/v2/images", headers=headers,
        json={"name": "bench", "disk_format": "raw", "container_format": "bare"},
    ).json()["id"]  # fmt: skip
    image_url = f"{base_url}/v2/images/{image}/file"
    curl("-H", f"X-Auth-Token: {token}", "-H", "Content-Type: application/octet-stream",
         "--upload-file", str(data), image_url)  # fmt: skip
    manifest_url = f"{registry}/v2/images/{image}/manifests/latest"
    seconds["first manifest (digest worked out)"].append(
        curl(*auth, "-o", "/dev/null", manifest_url)
    )
    seconds["next manifest (digest kept)"].append(curl(*auth, "-o", "/dev/null", manifest_url))
    manifest = json.loads(
        subprocess.run(
            ["curl", "-sSf", *auth, manifest_url], check=True, capture_output=True
        ).stdout
    )
    layer_digest = manifest["layers"][0]["digest"]
    layer_url = f"{registry}/v2/images/{image}/blobs/{layer_digest}"
    seconds["layer pull"].append(curl(*auth, "-o", "/dev/null", layer_url))
    check_digest(auth, layer_url, layer_digest)  # untimed: a second pull, hashed here
    seconds["glance download"].append(curl("-H", f"X-Auth-Token: {token}", "-o", "/dev/null",
                                           image_url))  # fmt: skip
    httpx.delete(f"{base_url}/v2/images/{image}", headers=headers).raise_for_status()


def check_digest(auth: list[str], url: str, digest: str) -> None:
    pulled = subprocess.Popen(["curl", "-sSf", *auth, url], stdout=subprocess.PIPE)
    assert pulled.stdout is not None
    hashed = hashlib.sha256()
    while block := pulled.stdout.read(MiB):
        hashed.update(block)
    assert pulled.wait() == 0 and f"sha256:{hashed.hexdigest()}" == digest


if __name__ == "__main__":
    main()
