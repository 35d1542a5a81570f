"""Image cache benchmark: a download of an S3-stored image, cold and cached, next to the
same image from the filesystem store.

Starts lading (SQLite, one worker, the image cache on) on a free loopback port with two
stores: ``fast`` on the filesystem and ``s3``, a scratch bucket of the single-node Swift's
S3 API (``scripts/services.sh start``) on 127.0.0.1:8080. The same file is uploaded into
an image in each. Then, in rounds, curl downloads:

- *plain*: the S3 image, its copy removed from the cache first (``DELETE
  /v2/cache/{id}``), as ``Range: bytes=0-``: the whole data from S3, which a range read
  does not cache (what a download costs without the cache);
- *cold*: the S3 image again, not cached yet: lading reads S3 and fills the cache as the
  bytes pass;
- *cached*: the S3 image again, from the cache's copy (pathsend, as a filesystem file);
- *filesystem*: the filesystem store's image, the reference.

Each round takes the three in turn, so that the machine's noise hits them alike; the
figures are medians, and the ratios filesystem / cached (target: 0.9 or more: the cached
copy goes as fast as a filesystem store's file) and plain / cold (what filling costs a
first download).

Usage (from the repository root; ``_server.py`` is imported from this directory):

    .venv/bin/python bench/image_cache.py                     # 512 MiB, 5 rounds
    .venv/bin/python bench/image_cache.py --size-mib 64 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import httpx

from _s3 import scratch
from _server import MB, MiB, Server, median, print_table, running_server, temp_dir
from _swift import SWIFT_KEY, SWIFT_URL, SWIFT_USER
from transfer import create_image, expect, finish_curl, get, start_curl, write_test_file

TARGET = 0.9
WAIT = 120.0  # seconds a copy may take to be checked and kept after its download


def settings(bucket: str) -> dict[str, str]:
    stores = {
        "fast": {"type": "filesystem"},
        "s3": {
            "type": "s3", "endpoint_url": SWIFT_URL, "bucket": bucket, "access_key": SWIFT_USER,
            "secret_key": SWIFT_KEY, "path_style": True,
        },
    }  # fmt: skip
    cache = {"enabled": True, "max_size": 64 * 1024 * MiB}
    return {
        "LADING_STORES": json.dumps(stores),
        "LADING_DEFAULT_STORE": "fast",
        "LADING_IMAGE_CACHE": json.dumps(cache),
    }


def uploaded(client: httpx.Client, server: Server, path: Path, size: int, store: str) -> str:
    image_id = create_image(client, f"bench-{store}")
    url = f"{server.base_url}/v2/images/{image_id}/file"
    headers = ("-H", "Content-Type: application/octet-stream", "-H", f"X-Image-Meta-Store: {store}")
    result = finish_curl(start_curl("-T", str(path), *headers, "-X", "PUT", url))
    expect(result, 204, size, 0, f"upload into {store}")
    shown = client.get(f"/v2/images/{image_id}").json()
    if shown["status"] != "active" or shown["stores"] != store:
        raise RuntimeError(f"the {store} image is {shown['status']} in {shown.get('stores')}")
    return image_id


def wait_cached(client: httpx.Client, image_id: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        cached = client.get("/v2/cache").json()["cached_images"]
        if any(image["image_id"] == image_id for image in cached):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{image_id} was not cached {WAIT:.0f} s after its download")


def measure(args: argparse.Namespace, scratch_dir: Path) -> dict[str, float]:
    path = scratch_dir / "image.raw"
    size = args.size_mib * MiB
    write_test_file(path, size)
    times: dict[str, list[float]] = {"plain": [], "cold": [], "cached": [], "filesystem": []}
    with (
        scratch() as bucket,
        running_server(scratch_dir / "data", workers=1, settings=settings(bucket)) as server,
        httpx.Client(base_url=server.base_url, timeout=600) as client,
    ):
        remote = uploaded(client, server, path, size, "s3")
        local = uploaded(client, server, path, size, "fast")
        remote_url = f"{server.base_url}/v2/images/{remote}/file"
        local_url = f"{server.base_url}/v2/images/{local}/file"
        get(local_url, size)  # warm-up: the page cache holds the file for every round
        for _ in range(args.rounds):
            client.delete(f"/v2/cache/{remote}").raise_for_status()
            times["plain"].append(get(remote_url, size, "-r", "0-"))
            times["cold"].append(get(remote_url, size))
            wait_cached(client, remote)
            times["cached"].append(get(remote_url, size))
            times["filesystem"].append(get(local_url, size))
        hits = client.get("/v2/cache").json()["cached_images"][0]["hits"]
        if hits != 1:
            raise RuntimeError(f"the cached download was not served from the cache ({hits} hits)")
    figures = {f"{kind}_mb_s": size / median(seconds) / MB for kind, seconds in times.items()}
    ratios = [fs / cached for fs, cached in zip(times["filesystem"], times["cached"], strict=True)]
    return {
        "size_mib": float(args.size_mib),
        **figures,
        "cached_ratio": median(ratios),
        "cached_ratio_min": min(ratios),
        "cached_ratio_max": max(ratios),
        "cold_ratio": median(times["plain"]) / median(times["cold"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512, help="size of the image")
    parser.add_argument("--rounds", type=int, default=5, help="cold/cached/filesystem rounds")
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch dir (default /tmp)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    with temp_dir(args.data_dir, "lading-bench-cache-") as scratch_dir:
        figures = measure(args, scratch_dir)
    ratio = figures["cached_ratio"]
    print_table(
        ("MiB", "S3 plain MB/s", "S3 cold MB/s", "S3 cached MB/s", "filesystem MB/s",
         "cached / filesystem", "cold / plain", "target"),
        [(f"{figures['size_mib']:.0f}", f"{figures['plain_mb_s']:.0f}",
          f"{figures['cold_mb_s']:.0f}",
          f"{figures['cached_mb_s']:.0f}", f"{figures['filesystem_mb_s']:.0f}",
          f"{ratio:.3f} ({figures['cached_ratio_min']:.2f}-{figures['cached_ratio_max']:.2f})",
          f"{figures['cold_ratio']:.3f}", "ok" if ratio >= TARGET else f"below {TARGET}")],
    )  # fmt: skip
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
