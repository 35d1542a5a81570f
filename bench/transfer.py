"""Transfer benchmark: upload, download, Range and concurrent downloads through curl.

Starts lading (SQLite, filesystem store, one worker) on a free loopback port in a
scratch directory, and prints the median of ``--runs`` runs of each transfer, plus the
server's resident memory (process and workers) sampled every 50 ms throughout.

Usage (from the repository root; ``_server.py`` is imported from this directory):

    .venv/bin/python bench/transfer.py                          # 1 GiB, 3 runs
    .venv/bin/python bench/transfer.py --size-mib 64 --concurrent-size-mib 8 --runs 1
    .venv/bin/python bench/transfer.py --json                   # also a JSON summary

curl and the server share this machine's CPUs, so the figures are end-to-end on one
host, not the server alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from _server import MiB, RssSampler, Server, median, print_table, running_server, temp_dir

CURL_FORMAT = "%{http_code} %{time_total} %{size_upload} %{size_download}"
MB, GB = 1e6, 1e9  # rates are decimal, sizes binary (MiB), as curl and the targets use them


@dataclass(frozen=True)
class CurlResult:
    status: int
    seconds: float
    uploaded: int
    downloaded: int


def start_curl(*args: str) -> subprocess.Popen[str]:
    # -o /dev/null: the body is only counted; no "Expect: 100-continue" round trip on PUT.
    command = ["curl", "-sS", "-o", "/dev/null", "-H", "Expect:", "-w", CURL_FORMAT, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_curl(process: subprocess.Popen[str]) -> CurlResult:
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"curl failed ({process.returncode}): {err.strip()}")
    status, seconds, uploaded, downloaded = out.split()
    return CurlResult(int(status), float(seconds), int(uploaded), int(downloaded))


def expect(result: CurlResult, status: int, uploaded: int, downloaded: int, what: str) -> None:
    """Fail loudly: a fast transfer of the wrong bytes is not a result."""
    got = (result.status, result.uploaded, result.downloaded)
    if got != (status, uploaded, downloaded):
        raise RuntimeError(
            f"{what}: expected status/uploaded/downloaded {(status, uploaded, downloaded)}, "
            f"got {got}"
        )


def write_test_file(path: Path, size: int) -> None:
    """Random-looking bytes, fast: one random block written over and over."""
    block = os.urandom(16 * MiB)
    with path.open("wb") as file:
        for offset in range(0, size, len(block)):
            file.write(block[: size - offset])


def tag_file(path: Path, tag: str) -> None:
    """Make the file's content unique, so that no upload is answered by deduplication."""
    with path.open("r+b") as file:
        file.write(tag.encode().ljust(32))


def create_image(client: httpx.Client, name: str) -> str:
    body = {"name": name, "disk_format": "raw", "container_format": "bare"}
    response = client.post("/v2/images", json=body)
    response.raise_for_status()
    return str(response.json()["id"])


def upload(
    client: httpx.Client, server: Server, path: Path, size: int, name: str
) -> tuple[str, float]:
    """Upload ``path`` into a fresh queued image; return its id and curl's seconds."""
    image_id = create_image(client, name)
    url = f"{server.base_url}/v2/images/{image_id}/file"
    content_type = "Content-Type: application/octet-stream"
    result = finish_curl(start_curl("-T", str(path), "-H", content_type, "-X", "PUT", url))
    expect(result, 204, size, 0, f"upload of {name}")
    shown = client.get(f"/v2/images/{image_id}").json()
    if shown["status"] != "active" or shown["size"] != size:
        raise RuntimeError(f"after upload {name} is {shown['status']} with size {shown['size']}")
    return image_id, result.seconds


def run(args: argparse.Namespace, scratch: Path) -> dict[str, float]:
    size, half = args.size_mib * MiB, args.size_mib * MiB // 2
    small = args.concurrent_size_mib * MiB
    big_file, small_file = scratch / "big.bin", scratch / "small.bin"
    write_test_file(big_file, size)
    write_test_file(small_file, small)
    times: dict[str, list[float]] = {"upload": [], "download": [], "range": [], "concurrent": []}
    peaks: dict[str, int] = {}

    with (
        running_server(scratch / "data", workers=args.workers) as server,
        httpx.Client(base_url=server.base_url, timeout=60.0) as client,
    ):
        small_id, _ = upload(client, server, small_file, small, "concurrent-source")
        with RssSampler(server) as sampler:
            time.sleep(0.2)  # let the first samples land before taking the baseline
            baseline = sampler.rss()
            sampler.take_peak()
            for number in range(args.runs):
                tag_file(big_file, f"run {number} {time.time_ns()}")
                image_id, seconds = upload(client, server, big_file, size, f"run-{number}")
                times["upload"].append(seconds)
                peaks["upload"] = max(peaks.get("upload", 0), sampler.take_peak())

                url = f"{server.base_url}/v2/images/{image_id}/file"
                result = finish_curl(start_curl(url))
                expect(result, 200, 0, size, "full download")
                times["download"].append(result.seconds)
                peaks["download"] = max(peaks.get("download", 0), sampler.take_peak())

                result = finish_curl(start_curl("-r", f"0-{half - 1}", url))
                expect(result, 206, 0, half, "range download")
                times["range"].append(result.seconds)
                peaks["range"] = max(peaks.get("range", 0), sampler.take_peak())

            url = f"{server.base_url}/v2/images/{small_id}/file"
            for _ in range(args.runs):
                # Wall time from the first curl started to the last one finished.
                started = time.perf_counter()
                processes = [start_curl(url) for _ in range(args.concurrency)]
                results = [finish_curl(process) for process in processes]
                times["concurrent"].append(time.perf_counter() - started)
                for result in results:
                    expect(result, 200, 0, small, "concurrent download")
            peaks["concurrent"] = sampler.take_peak()
            overall_peak = max(sampler.overall_peak, baseline)

    single_peak = max(peaks["upload"], peaks["download"], peaks["range"])
    return {
        "upload_mb_s": size / MB / median(times["upload"]),
        "download_gb_s": size / GB / median(times["download"]),
        "range_gb_s": half / GB / median(times["range"]),
        "concurrent_gb_s": args.concurrency * small / GB / median(times["concurrent"]),
        **{f"peak_rss_{phase}_mib": peak / MiB for phase, peak in peaks.items()},
        "baseline_rss_mib": baseline / MiB,
        "peak_rss_mib": overall_peak / MiB,
        "rss_growth_mib": (overall_peak - baseline) / MiB,
        # The target is about one big transfer; 64 at once legitimately buffer more.
        "rss_growth_single_mib": (single_peak - baseline) / MiB,
    }


def report(args: argparse.Namespace, figures: dict[str, float]) -> None:
    size, concurrency, small = args.size_mib, args.concurrency, args.concurrent_size_mib
    rows = [
        (f"upload {size} MiB (curl -T)", "upload_mb_s", "MB/s", ">= 800", "upload"),
        (f"download {size} MiB", "download_gb_s", "GB/s", ">= 3", "download"),
        (f"range first {size // 2} MiB", "range_gb_s", "GB/s", ">= 0.8", "range"),
        (f"{concurrency} x {small} MiB at once", "concurrent_gb_s", "GB/s", ">= 3", "concurrent"),
    ]
    print(f"\nlading transfers, median of {args.runs} run(s), {args.workers} worker(s)\n")
    print_table(
        ["transfer", "median", "unit", "target", "server peak RSS MiB"],
        [
            (label, f"{figures[key]:.2f}", unit, target, f"{figures[f'peak_rss_{phase}_mib']:.1f}")
            for label, key, unit, target, phase in rows
        ],
    )
    print(
        f"\nserver RSS (process + workers): baseline {figures['baseline_rss_mib']:.1f} MiB, "
        f"peak {figures['peak_rss_mib']:.1f} MiB, growth {figures['rss_growth_mib']:.1f} MiB;\n"
        f"growth during single {size} MiB transfers {figures['rss_growth_single_mib']:.1f} MiB "
        "(target < 10)"
    )
    # curl and the server share the CPUs; a busy machine lowers every figure.
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        print(json.dumps({"runs": args.runs, "size_mib": size, **figures}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the big file")
    parser.add_argument("--concurrent-size-mib", type=int, default=100, help="concurrent file")
    parser.add_argument("--concurrency", type=int, default=64, help="simultaneous downloads")
    parser.add_argument("--workers", type=int, default=1, help="lading serve --workers")
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch dir (default /tmp)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    with temp_dir(args.data_dir, "lading-bench-transfer-") as scratch:
        figures = run(args, scratch)
    report(args, figures)


if __name__ == "__main__":
    main()
