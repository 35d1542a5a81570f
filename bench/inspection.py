"""Inspection benchmark: upload throughput with the image format inspection and without.

Starts lading (SQLite, filesystem store, one worker) on a free loopback port in a scratch
directory and uploads the same file through curl, over and over, into images that are
inspected (``container_format`` ``bare``) and images that are not (``ova``: a container,
which lading does not look into), everything else alike. The two kinds alternate
(inspected, plain, plain, inspected, ...) so that the machine's noise hits both alike;
the figure is the median of the per-pair ratios, inspected / plain (target: 0.95 or
more). Done for random bytes declared raw and for a qcow2 of the same size (qemu-img
convert of those bytes), each image deleted after its upload.

Usage (from the repository root; ``_server.py`` is imported from this directory):

    .venv/bin/python bench/inspection.py                      # 512 MiB, 5 pairs
    .venv/bin/python bench/inspection.py --size-mib 64 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from _server import MB, MiB, median, print_table, running_server, temp_dir
from transfer import put, write_test_file

TARGET = 0.95


def upload_once(client: httpx.Client, base_url: str, path: Path, disk_format: str,
                container_format: str) -> float:  # fmt: skip
    """Seconds curl took to upload ``path`` into a new image, which is then deleted."""
    body = {"name": "bench", "disk_format": disk_format, "container_format": container_format}
    created = client.post("/v2/images", json=body)
    created.raise_for_status()
    image_id = created.json()["id"]
    size = path.stat().st_size
    seconds = put(f"{base_url}/v2/images/{image_id}/file", path, size, f"{disk_format} upload")
    shown = client.get(f"/v2/images/{image_id}").json()
    if shown["status"] != "active":
        raise RuntimeError(f"the {disk_format} image is {shown['status']} after its upload")
    if container_format == "bare" and not shown["virtual_size"]:
        raise RuntimeError(f"the inspected {disk_format} image has no virtual_size")
    client.delete(f"/v2/images/{image_id}").raise_for_status()
    return seconds


def measure(args: argparse.Namespace, scratch: Path) -> dict[str, dict[str, float]]:
    raw = scratch / "disk.raw"
    write_test_file(raw, args.size_mib * MiB)
    files = {"raw": raw}
    if shutil.which("qemu-img"):
        qcow2 = scratch / "disk.qcow2"
        command = ["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)]
        subprocess.run(command, check=True)
        files["qcow2"] = qcow2
    else:
        print("qemu-img not found (apt-get install qemu-utils): raw only")
    figures: dict[str, dict[str, float]] = {}
    with (
        running_server(scratch / "data", workers=1) as server,
        httpx.Client(base_url=server.base_url, timeout=600) as client,
    ):
        for disk_format, path in files.items():
            size = path.stat().st_size
            ratios, inspected, plain = [], [], []
            upload_once(client, server.base_url, path, disk_format, "ova")  # warm-up
            for index in range(args.pairs):
                order = ("bare", "ova") if index % 2 == 0 else ("ova", "bare")
                seconds = {kind: upload_once(client, server.base_url, path, disk_format, kind)
                           for kind in order}  # fmt: skip
                inspected.append(size / seconds["bare"] / MB)
                plain.append(size / seconds["ova"] / MB)
                ratios.append(seconds["ova"] / seconds["bare"])
                time.sleep(0.5)  # let the deletes settle before the next pair
            figures[disk_format] = {
                "size_mib": size / MiB,
                "inspected_mb_s": median(inspected),
                "plain_mb_s": median(plain),
                "ratio": median(ratios),
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512, help="size of the raw file")
    parser.add_argument("--pairs", type=int, default=5, help="inspected/plain upload pairs")
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch dir (default /tmp)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    with temp_dir(args.data_dir, "lading-bench-inspect-") as scratch:
        figures = measure(args, scratch)
    rows = [
        (name, f"{one['size_mib']:.0f}", f"{one['inspected_mb_s']:.0f}",
         f"{one['plain_mb_s']:.0f}", f"{one['ratio']:.3f}",
         "ok" if one["ratio"] >= TARGET else f"below {TARGET}")
        for name, one in figures.items()
    ]  # fmt: skip
    print_table(("data", "MiB", "inspected MB/s", "plain MB/s", "ratio", "target"), rows)
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
