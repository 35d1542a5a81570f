"""Onboarding benchmark: an OSM package upload next to a v2 upload of the same bytes.

Starts lading (SQLite, filesystem store, one worker) on a free loopback port in a
scratch directory. Each run uploads a package (a tar: a descriptor and one file of
random bytes) through ``POST /api/upload`` with curl, and right before it the same tar
through ``PUT /v2/images/{id}/file``. The v2 upload is the reference: onboarding does
what it does (stream, hash, store) plus the multipart form and reading the tar as it
passes (each file's MD5 and place). Printed: the median time of each and the median of
the per-run ratios onboarding/v2, the figure to compare (the machine is noisy).

With ``--gzip`` the package is sent as a .tar.gz (made with ``gzip -1``) and inflated on
the fly, against the v2 upload of the inflated tar. The file lies in the package's
``files/``; with ``--image`` it lies in ``images/``, and onboarding also registers it as
an image (its bytes read back from the stored package and uploaded again).

Usage (from the repository root):

    .venv/bin/python bench/onboarding.py                 # 256 MiB, 3 runs
    .venv/bin/python bench/onboarding.py --size-mib 64 --runs 1 --gzip
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tarfile
import time
from pathlib import Path

import httpx

from _server import MB, MiB, median, print_table, running_server, temp_dir

DESCRIPTOR = "vnfd:\n  id: {id}\n  version: '1.0'\n"


RAW = {"disk_format": "raw", "container_format": "bare"}  # Glance v2 wants both for data


def make_package(
    scratch: Path, size: int, run: int, compress: bool, folder: str
) -> tuple[Path, Path]:
    """The package's tar (a new descriptor id each run) and what is sent: it, or its gzip."""
    root = scratch / f"bench{run}"
    (root / folder).mkdir(parents=True)
    (root / f"bench{run}.yaml").write_text(DESCRIPTOR.format(id=f"bench{run}"))
    with (root / folder / "disk.img").open("wb") as out:
        for _ in range(size // MiB):
            out.write(bytes(range(256)) * 2048 if compress else _random_mib())
    tar = scratch / f"bench{run}.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(root, arcname=root.name)
    if not compress:
        return tar, tar
    subprocess.run(["gzip", "-1", "-k", "-f", str(tar)], check=True)
    return tar, tar.with_suffix(".tar.gz")


def _random_mib() -> bytes:
    with Path("/dev/urandom").open("rb") as source:
        return source.read(MiB)


def curl_time(*args: str) -> tuple[float, str]:
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "-o", "-", "-w", "\n%{time_total}", *args],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    body, _, seconds = done.stdout.rpartition("\n")
    return float(seconds), body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gzip", action="store_true", help="send the package as .tar.gz")
    parser.add_argument("--image", action="store_true", help="the file is an image to register")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"v2": [], "onboarding": [], "ratio": []}
    with (
        temp_dir(None, "lading-bench-onboarding-") as scratch,
        # The filler compresses 133 times with gzip -1, past package_inflate_ratio's 100.
        running_server(
            scratch / "data", settings={"LADING_PACKAGE_INFLATE_RATIO": "1000"}
        ) as server,
        httpx.Client(base_url=server.base_url) as client,
    ):
        for run in range(args.runs):
            folder = "images" if args.image else "files"
            tar, sent = make_package(scratch, args.size_mib * MiB, run, args.gzip, folder)
            image = client.post("/v2/images", json={"name": tar.name, **RAW}).json()
            file_url = f"{server.base_url}/v2/images/{image['id']}/file"
            octets = "content-type: application/octet-stream"
            v2, _ = curl_time("-X", "PUT", "-H", octets, "-T", str(tar), file_url)
            onboarding, body = curl_time(
                "-F", f"descriptor=@{sent}", f"{server.base_url}/api/upload"
            )
            transaction = json.loads(body)["transaction_id"]
            state = client.get(f"/api/upload/{transaction}/state").json()
            if state["status"] != "success":
                raise SystemExit(f"the onboarding failed: {state}")
            times["v2"].append(v2)
            times["onboarding"].append(onboarding)
            times["ratio"].append(onboarding / v2)
            for path in {tar, sent}:
                path.unlink()
            time.sleep(0.5)
    size = args.size_mib * MiB
    image = ", its file an image" if args.image else ""
    print(f"{args.size_mib} MiB package{' (sent as .tar.gz)' if args.gzip else ''}{image}, "
          f"{args.runs} run(s), medians")  # fmt: skip
    print_table(
        ["upload", "seconds", "MB/s"],
        [[label, f"{median(times[key]):.2f}", f"{size / median(times[key]) / MB:.0f}"]
         for label, key in (("v2 PUT (reference)", "v2"), ("OSM /api/upload", "onboarding"))],
    )  # fmt: skip
    print(f"ratio onboarding/v2: {median(times['ratio']):.2f}")


if __name__ == "__main__":
    main()
