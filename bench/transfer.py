"""Transfer benchmark: upload, download, Range and concurrent downloads through curl.

Starts lading (SQLite, filesystem store, one worker) on a free loopback port in a
scratch directory, and prints the median of ``--runs`` runs of each transfer, plus the
server's resident memory (process and workers) sampled every 50 ms throughout.

The machine is noisy, so each figure stands next to a reference measured in the same
run, right before it (reference, lading, reference, lading, ...), with the ratio
lading/reference (the median of the per-run ratios), the figure to compare:

- downloads: nginx (``sendfile on``, one worker) serving the very file lading stored;
  beside it, the same nginx in front of a second lading on the same catalogue and store
  whose store hands downloads off (``accel_redirect``: lading answers the headers and
  X-Accel-Redirect, nginx sends the file), then lading standalone; and the bare ASGI app
  (below) sending the same file under granian without any check, the ceiling of lading
  standalone (whole by pathsend, a Range in reads of ``read_size``). Each download's
  server CPU time is counted too (nginx's, lading's, or both behind nginx), per GiB: on a
  shared machine it moves much less than the rates do;
- upload: a bare ASGI app under granian (bench/_reference_upload.py) that hashes,
  writes and fsyncs the body as lading does, without a catalogue; and the same app
  only receiving the body, the ceiling.

Single-thread md5 and sha256 throughput is printed once too: md5 bounds the upload.

With ``--store s3``, lading's only store is a fresh bucket on the S3 API of the local
Swift (``scripts/services.sh start``), removed at the end, and only the big upload and
download are measured, each right after the same transfer made directly on that S3 API
from this process (bench/_s3.py): by boto3 when it is installed, then by obstore as
lading's store uses it (same part size, parts in flight and read chunk size). With
``--store swift`` likewise on a fresh container through the native Swift API, next to
python-swiftclient (bench/_swift.py). With ``--store rbd``, on a prefix of its own in the
pool ``images`` of the local Ceph, next to librbd itself (bench/_rbd.py). On S3 and Swift
the upload has one more reference, the best direct client (obstore, swiftclient) hashing
the file with md5 and sha256 on two threads as it sends: lading's own work. Each of these
transfers' CPU seconds per GiB are printed too (``CpuMeter``).

Usage (from the repository root; ``_server.py`` and ``_reference.py`` are imported from
this directory):

    .venv/bin/python bench/transfer.py                          # 1 GiB, 3 runs
    .venv/bin/python bench/transfer.py --size-mib 64 --concurrent-size-mib 8 --runs 1
    .venv/bin/python bench/transfer.py --json                   # also a JSON summary
    .venv/bin/python bench/transfer.py --store s3 --size-mib 64 --runs 1
    .venv/bin/python bench/transfer.py --store swift
    .venv/bin/python bench/transfer.py --store rbd --size-mib 256

curl and the server share this machine's CPUs, so the figures are end-to-end on one
host, not the server alone. The load average is sampled before each transfer and printed
(median and range) with the results: it says how busy the machine was.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil

import _reference as reference
import _s3 as s3
import _swift as swift
from _server import (
    GB,
    MB,
    GiB,
    MiB,
    RssSampler,
    Server,
    free_port,
    median,
    print_table,
    running_server,
    temp_dir,
)

# Downloads served otherwise than by lading alone, beside the same nginx reference.
OTHER_WAYS = ("accel_", "bare_")
ACCEL_PREFIX = "/_lading_store/default/"  # the bench's accel_redirect, nginx's internal location
ACCEL_STORES = f'{{"default": {{"type": "filesystem", "accel_redirect": "{ACCEL_PREFIX}"}}}}'

CURL_FORMAT = "%{http_code} %{time_total} %{size_upload} %{size_download}"
Times = dict[str, list[float]]  # seconds per run, by transfer: "upload", "reference_upload"...
RSS_GROWTH_TARGET_MIB = {"filesystem": 10, "s3": 64, "swift": 64, "rbd": 64}  # one big transfer
# The bench modules of each store type; rbd's only where Debian's python3-rbd is linked.
OBJECT_STORES: dict[str, Any] = {"s3": s3, "swift": swift}
with contextlib.suppress(ImportError):
    import _rbd as rbd

    OBJECT_STORES["rbd"] = rbd


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


@dataclass(frozen=True)
class Uploaded:
    image_id: str
    key: str  # where the bytes lie in the store, for nginx to serve the very same file
    seconds: float


def store_root(server: Server) -> Path:
    return server.data_dir / "stores" / "default"


def stored_objects(server: Server) -> set[str]:
    root = store_root(server)
    keys = {path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file()}
    return {key for key in keys if not key.startswith(".tmp/")}


def upload(
    client: httpx.Client,
    server: Server,
    path: Path,
    size: int,
    name: str,
    objects: Callable[[], set[str]],
) -> Uploaded:
    """Upload ``path`` into a fresh queued image; return it with its key and curl's seconds.

    ``objects`` lists the keys in lading's store, to find the one the upload added.
    """
    image_id = create_image(client, name)
    before = objects()
    seconds = put(f"{server.base_url}/v2/images/{image_id}/file", path, size, f"upload {name}")
    shown = client.get(f"/v2/images/{image_id}").json()
    if shown["status"] != "active" or shown["size"] != size:
        raise RuntimeError(f"after upload {name} is {shown['status']} with size {shown['size']}")
    new = objects() - before
    if len(new) != 1:
        raise RuntimeError(f"upload {name} left {len(new)} new objects in the store, not one")
    return Uploaded(image_id, new.pop(), seconds)


def put(url: str, path: Path, size: int, what: str) -> float:
    content_type = "Content-Type: application/octet-stream"
    result = finish_curl(start_curl("-T", str(path), "-H", content_type, "-X", "PUT", url))
    expect(result, 204, size, 0, what)
    return result.seconds


def get(url: str, size: int, *curl_args: str) -> float:
    """A whole download, or a Range request when ``curl_args`` has ``-r``."""
    result = finish_curl(start_curl(*curl_args, url))
    expect(result, 206 if "-r" in curl_args else 200, 0, size, f"download of {url}")
    return result.seconds


def get_concurrently(url: str, size: int, concurrency: int) -> float:
    """Wall time from the first curl started to the last one finished."""
    started = time.perf_counter()
    processes = [start_curl(url) for _ in range(concurrency)]
    results = [finish_curl(process) for process in processes]
    seconds = time.perf_counter() - started
    for result in results:
        expect(result, 200, 0, size, "concurrent download")
    return seconds


def cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    """User and system CPU time the processes (and their children) have used so far."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            family = (process, *process.children(recursive=True))
            total += sum(process_cpu(each) for each in family)
    return total


def process_cpu(process: psutil.Process) -> float:
    """User and system CPU time one process has used so far (0: gone)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        times = process.cpu_times()
        return float(times.user + times.system)
    return 0.0


@dataclass(frozen=True)
class Contender:
    """One way of serving a download: its URL for an object, the processes that serve it."""

    key: str  # "reference_download", "accel_download", "download"...
    url: Callable[[], str | None]
    processes: Callable[[], list[psutil.Process]]


def pair(times: Times, transfer: Callable[[str], float], contenders: Iterable[Contender]) -> None:
    """Each contender in turn (the reference first), so that noise hits them alike: its
    seconds, its servers' CPU seconds, and the load average before it."""
    for contender in contenders:
        url = contender.url()
        if url is None:
            continue
        times["load"].append(os.getloadavg()[0])
        processes = contender.processes()
        before = cpu_seconds(processes)
        times[contender.key].append(transfer(url))
        times[f"cpu_{contender.key}"].append(cpu_seconds(processes) - before)


@dataclass(frozen=True)
class References:
    upload_url: str  # the bare ASGI app
    upload_scratch: Path
    bare_pid: int  # the bare ASGI app's granian, which sends files too
    nginx_url: str | None  # None when nginx is not installed
    front_url: str | None  # nginx in front of the handing-off lading
    nginx_pid_file: Path | None

    def upload(self, path: Path, size: int, mode: str) -> float:
        """``mode`` "store" hashes, writes and fsyncs like lading; "discard" only receives."""
        seconds = put(f"{self.upload_url}/{mode}", path, size, f"reference upload ({mode})")
        reference.clear_reference_uploads(self.upload_scratch)
        return seconds

    def nginx(self, key: str) -> str | None:
        return None if self.nginx_url is None else f"{self.nginx_url}/{key}"

    def front(self, path: str) -> str | None:
        return None if self.front_url is None else f"{self.front_url}{path}"

    def nginx_processes(self) -> list[psutil.Process]:
        if self.nginx_pid_file is None:
            return []
        return [psutil.Process(int(self.nginx_pid_file.read_text()))]


def start_references(
    stack: ExitStack, scratch: Path, server: Server, workers: int, accel: Server
) -> References:
    upload_scratch = scratch / "reference-upload"
    running = reference.running_upload_reference(upload_scratch, workers, store_root(server))
    bare = stack.enter_context(running)
    upload_url = bare.url
    nginx = reference.find_nginx()
    if nginx is None:
        print("reference: nginx not installed")
        return References(upload_url, upload_scratch, bare.pid, None, None, None)
    root = store_root(server)
    front = reference.Front(accel.base_url, ACCEL_PREFIX, free_port())
    nginx_scratch = scratch / "nginx"
    running_nginx = reference.running_nginx(nginx, nginx_scratch, root, front)
    nginx_url = stack.enter_context(running_nginx)
    front_url = f"http://127.0.0.1:{front.port}"
    pid_file = nginx_scratch / "nginx.pid"
    return References(upload_url, upload_scratch, bare.pid, nginx_url, front_url, pid_file)


class Memory:
    """lading's RSS: the baseline once started and idle, then the peak of each phase.

    Only lading's processes are sampled; lading is idle while a reference runs.
    """

    def __init__(self, stack: ExitStack, server: Server) -> None:
        self.sampler = stack.enter_context(RssSampler(server))
        time.sleep(0.2)  # let the first samples land before taking the baseline
        self.baseline = self.sampler.rss()
        self.sampler.take_peak()
        self.peaks: dict[str, int] = {}

    def phase_done(self, phase: str) -> None:
        self.peaks[phase] = max(self.peaks.get(phase, 0), self.sampler.take_peak())

    def figures(self, single: Iterable[str]) -> dict[str, float]:
        """In MiB; ``single`` are the phases of one big transfer at a time."""
        overall_peak = max(self.sampler.overall_peak, self.baseline)
        single_peak = max(self.peaks[phase] for phase in single)
        return {
            **{f"peak_rss_{phase}_mib": peak / MiB for phase, peak in self.peaks.items()},
            "baseline_rss_mib": self.baseline / MiB,
            "peak_rss_mib": overall_peak / MiB,
            "rss_growth_mib": (overall_peak - self.baseline) / MiB,
            # The target is about one big transfer; 64 at once legitimately buffer more.
            "rss_growth_single_mib": (single_peak - self.baseline) / MiB,
        }


def measure(args: argparse.Namespace, scratch: Path) -> tuple[Times, dict[str, float]]:
    """Every transfer ``--runs`` times, each after its reference; lading's RSS in MiB."""
    size, half = args.size_mib * MiB, args.size_mib * MiB // 2
    small = args.concurrent_size_mib * MiB
    big_file, small_file = scratch / "big.bin", scratch / "small.bin"
    write_test_file(big_file, size)
    write_test_file(small_file, small)
    times: Times = defaultdict(list)

    with ExitStack() as stack:
        data = scratch / "data"
        server = stack.enter_context(running_server(data, workers=args.workers))
        # The same catalogue and store, handing its downloads off to nginx.
        handing = {"LADING_STORES": ACCEL_STORES}
        accel = stack.enter_context(running_server(data, args.workers, settings=handing,
                                                   name="accel"))  # fmt: skip
        client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=60.0))
        refs = start_references(stack, scratch, server, args.workers, accel)
        objects = partial(stored_objects, server)
        small_image = upload(client, server, small_file, small, "concurrent-source", objects)
        memory = Memory(stack, server)
        phase_done = memory.phase_done

        # The transfers, each given lading's URL and then the reference's.
        def whole(url: str) -> float:
            return get(url, size)

        def first_half(url: str) -> float:
            return get(url, half, "-r", f"0-{half - 1}")

        def small_at_once(url: str) -> float:
            return get_concurrently(url, small, args.concurrency)

        for number in range(args.runs):
            tag_file(big_file, f"run {number} {time.time_ns()}")
            times["reference_upload_receive"].append(refs.upload(big_file, size, "discard"))
            times["reference_upload"].append(refs.upload(big_file, size, "store"))
            image = upload(client, server, big_file, size, f"run-{number}", objects)
            times["upload"].append(image.seconds)
            phase_done("upload")

            big = contenders(refs, server, accel, image)
            pair(times, whole, [replace(each, key=f"{each.key}download") for each in big])
            phase_done("download")
            pair(times, first_half, [replace(each, key=f"{each.key}range") for each in big])
            phase_done("range")

        small_ones = contenders(refs, server, accel, small_image)
        for _ in range(args.runs):
            pair(times, small_at_once, [replace(c, key=f"{c.key}concurrent") for c in small_ones])
        phase_done("concurrent")

    return times, memory.figures(("upload", "download", "range"))


def contenders(refs: References, server: Server, accel: Server, image: Uploaded) -> list[Contender]:
    """nginx alone, the bare granian app sending the file, lading behind nginx
    (X-Accel-Redirect), lading alone: the keys' prefixes."""
    path = f"/v2/images/{image.image_id}/file"
    return [
        Contender("reference_", lambda: refs.nginx(image.key), refs.nginx_processes),
        Contender("bare_", lambda: f"{refs.upload_url}/files/{image.key}",
                  lambda: [psutil.Process(refs.bare_pid)]),
        Contender("accel_", lambda: refs.front(path),
                  lambda: [*refs.nginx_processes(), psutil.Process(accel.process.pid)]),
        Contender("", lambda: f"{server.base_url}{path}",
                  lambda: [psutil.Process(server.process.pid)]),
    ]  # fmt: skip


class CpuMeter:
    """CPU seconds spent by lading (its processes), this process (the direct clients run
    in it; curl, its child, is not counted) and the object store's servers (``swift-*``
    processes, s3api included), transfer by transfer. On a machine whose two cores are
    saturated by other work, a rate follows the load; CPU seconds per byte hardly do."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.seconds: Times = defaultdict(list)

    @contextlib.contextmanager
    def counting(self, key: str) -> Iterator[None]:
        before = self._now()
        yield
        after = self._now()
        for part, spent in after.items():
            self.seconds[f"{key}_{part}"].append(spent - before.get(part, 0.0))

    def _now(self) -> dict[str, float]:
        totals = {"lading": 0.0, "client": process_cpu(psutil.Process()), "store": 0.0}
        for process in self.server.tree():
            totals["lading"] += process_cpu(process)
        for process in psutil.process_iter(["cmdline"]):
            command = " ".join(process.info["cmdline"] or [])
            if "swift-" in command and "-server" in command:
                totals["store"] += process_cpu(process)
        return totals


def hashing(put_directly: Callable[[Path, int], float]) -> Callable[[Path, int], float]:
    """The direct upload doing lading's work too: md5 and sha256 of the file, each on a
    thread of its own while the client sends it (as lading hashes on two threads while
    the store writes)."""

    def digest(path: Path, name: str) -> str:
        hashed = hashlib.new(name, usedforsecurity=False)
        with path.open("rb") as file:
            while block := file.read(MiB):
                hashed.update(block)
        return hashed.hexdigest()

    def put(path: Path, size: int) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(2) as threads:
            digests = [threads.submit(digest, path, name) for name in ("md5", "sha256")]
            put_directly(path, size)
            for done in digests:
                done.result()
        return time.perf_counter() - started

    return put


def measure_object_store(args: argparse.Namespace, scratch: Path) -> tuple[Times, dict[str, float]]:
    """The big upload and download ``--runs`` times, each after the direct clients'."""
    size = args.size_mib * MiB
    big_file = scratch / "big.bin"
    write_test_file(big_file, size)
    times: Times = defaultdict(list)
    backend = OBJECT_STORES[args.store]

    with ExitStack() as stack:
        container = stack.enter_context(backend.scratch())  # removed last, after lading stops
        direct = backend.DirectClients(container)
        uploads = dict(direct.uploads)
        hashed = getattr(backend, "HASHING_REFERENCE", None)
        if hashed in uploads:  # right before lading, as each best client is
            uploads["hashing"] = hashing(uploads[hashed])
        stores = {"LADING_STORES": backend.lading_stores(container)}
        data = scratch / "data"
        running = running_server(data, args.workers, settings=stores)
        server = stack.enter_context(running)
        client = stack.enter_context(httpx.Client(base_url=server.base_url, timeout=60.0))
        memory = Memory(stack, server)
        cpu = CpuMeter(server)

        for number in range(args.runs):
            tag_file(big_file, f"run {number} {time.time_ns()}")
            for name, put_directly in uploads.items():
                with cpu.counting(f"reference_upload_{name}"):
                    times[f"reference_upload_{name}"].append(put_directly(big_file, size))
            with cpu.counting("upload"):
                image = upload(client, server, big_file, size, f"run-{number}", direct.keys)
            times["upload"].append(image.seconds)
            memory.phase_done("upload")

            for name, get_directly in direct.downloads.items():
                with cpu.counting(f"reference_download_{name}"):
                    times[f"reference_download_{name}"].append(get_directly(image.key, size))
            url = f"{server.base_url}/v2/images/{image.image_id}/file"
            with cpu.counting("download"):
                times["download"].append(get(url, size))
            memory.phase_done("download")

    gib = size / (1024 * MiB)
    spent = {f"cpu_{key}_s_gib": median(values) / gib for key, values in cpu.seconds.items()}
    return times, memory.figures(("upload", "download")) | spent


@dataclass(frozen=True)
class Row:
    """A line of the report: a lading transfer next to the reference it is compared with."""

    label: str
    lading: str  # keys in Times
    reference: str
    reference_label: str
    amount: int  # bytes per run
    unit: str  # "MB/s" or "GB/s"
    target: str
    phase: str  # of the RSS peak

    def rate_key(self, key: str) -> str:
        return f"{key}_{self.unit.lower().replace('/', '_')}"  # "upload_mb_s"

    @property
    def ratio_key(self) -> str:
        if self.lading.startswith(OTHER_WAYS):  # one reference, several ways of serving
            return f"ratio_{self.lading}"  # "ratio_accel_download"
        return self.reference.replace("reference_", "ratio_", 1)  # "ratio_upload"


def rows(args: argparse.Namespace) -> list[Row]:
    if args.store == "s3":
        return s3_rows(args)
    if args.store == "swift":
        return swift_rows(args)
    if args.store == "rbd":
        return rbd_rows(args)
    size, concurrency, small = args.size_mib, args.concurrency, args.concurrent_size_mib
    upload = f"upload {size} MiB (curl -T)"
    asgi, nginx = "bare ASGI: md5+sha256+write+fsync", "nginx sendfile"
    accel, alone = "ratio >= 0.95", "ratio >= 0.85"
    download, ranged = f"download {size} MiB", f"range first {size // 2} MiB"
    concurrent = f"{concurrency} x {small} MiB at once"
    behind = " behind nginx (X-Accel-Redirect)"
    bare = ", bare granian app (no checks)"
    return [
        Row(upload, "upload", "reference_upload", asgi, size * MiB, "MB/s", ">= 800", "upload"),
        Row(upload, "upload", "reference_upload_receive", "bare ASGI: receive only",
            size * MiB, "MB/s", "", "upload"),
        Row(download + behind, "accel_download", "reference_download", nginx,
            size * MiB, "GB/s", accel, "download"),
        Row(download, "download", "reference_download", nginx,
            size * MiB, "GB/s", alone, "download"),
        Row(download + bare, "bare_download", "reference_download", nginx,
            size * MiB, "GB/s", "", "download"),
        Row(ranged + behind, "accel_range", "reference_range", nginx,
            size * MiB // 2, "GB/s", accel, "range"),
        Row(ranged, "range", "reference_range", nginx,
            size * MiB // 2, "GB/s", alone, "range"),
        Row(ranged + bare, "bare_range", "reference_range", nginx,
            size * MiB // 2, "GB/s", "", "range"),
        Row(concurrent + behind, "accel_concurrent", "reference_concurrent", nginx,
            concurrency * small * MiB, "GB/s", accel, "concurrent"),
        Row(concurrent, "concurrent", "reference_concurrent", nginx,
            concurrency * small * MiB, "GB/s", alone, "concurrent"),
        Row(concurrent + bare, "bare_concurrent", "reference_concurrent", nginx,
            concurrency * small * MiB, "GB/s", "", "concurrent"),
    ]  # fmt: skip


def s3_rows(args: argparse.Namespace) -> list[Row]:
    size, target = args.size_mib, "ratio >= 0.9"
    upload, download = f"upload {size} MiB (curl -T)", f"download {size} MiB"
    parts = f"{s3.PART_SIZE // MiB} MiB parts, {s3.PARTS_IN_FLIGHT} in flight"
    return [
        Row(upload, "upload", "reference_upload_obstore", f"obstore put_async, {parts}",
            size * MiB, "MB/s", target, "upload"),
        Row(upload, "upload", "reference_upload_boto3", f"boto3 upload_file, {parts}",
            size * MiB, "MB/s", target, "upload"),
        Row(upload, "upload", "reference_upload_hashing", "obstore, + md5 and sha256 (threads)",
            size * MiB, "MB/s", "", "upload"),
        Row(download, "download", "reference_download_obstore", "obstore get_async stream",
            size * MiB, "MB/s", target, "download"),
        Row(download, "download", "reference_download_boto3", "boto3 get_object",
            size * MiB, "MB/s", target, "download"),
    ]  # fmt: skip


def swift_rows(args: argparse.Namespace) -> list[Row]:
    size, target = args.size_mib, "ratio >= 0.9"
    segments = f"SLO, {swift.SEGMENT_SIZE // MiB} MiB segments"
    return [
        Row(f"upload {size} MiB (curl -T)", "upload", "reference_upload_swiftclient",
            f"swiftclient upload, {segments}", size * MiB, "MB/s", target, "upload"),
        Row(f"upload {size} MiB (curl -T)", "upload", "reference_upload_hashing",
            "swiftclient, + md5 and sha256 (threads)", size * MiB, "MB/s", "", "upload"),
        Row(f"download {size} MiB", "download", "reference_download_swiftclient",
            "swiftclient get_object", size * MiB, "MB/s", target, "download"),
    ]  # fmt: skip


def rbd_rows(args: argparse.Namespace) -> list[Row]:
    size, target = args.size_mib, "ratio >= 0.9"
    objects = f"{rbd.OBJECT_SIZE // MiB} MiB objects, snapshot protected"
    return [
        Row(f"upload {size} MiB (curl -T)", "upload", "reference_upload_librbd",
            f"librbd write, {objects}", size * MiB, "MB/s", target, "upload"),
        Row(f"download {size} MiB", "download", "reference_download_librbd",
            "librbd read of the snapshot", size * MiB, "MB/s", target, "download"),
    ]  # fmt: skip


def rates(rows: list[Row], times: Times) -> dict[str, float]:
    """Median rates of lading and of each reference, and the median per-run ratio."""
    figures: dict[str, float] = {}
    for row in rows:
        scale = MB if row.unit == "MB/s" else GB
        figures[row.rate_key(row.lading)] = row.amount / scale / median(times[row.lading])
        if times.get(row.reference):
            reference_times = times[row.reference]
            figures[row.rate_key(row.reference)] = row.amount / scale / median(reference_times)
            # Same amount, so lading/reference rate = reference/lading seconds, run by run.
            pairs = zip(reference_times, times[row.lading], strict=True)
            ratios = [ref / lading for ref, lading in pairs]
            figures[row.ratio_key] = median(ratios)
            figures[f"{row.ratio_key}_min"], figures[f"{row.ratio_key}_max"] = (
                min(ratios),
                max(ratios),
            )
        for key in (row.lading, row.reference):  # server CPU seconds per GiB sent
            if times.get(f"cpu_{key}"):
                figures[f"cpu_{key}_s_per_gib"] = median(times[f"cpu_{key}"]) / (row.amount / GiB)
    if times.get("load"):
        figures |= {"load_median": median(times["load"]), "load_min": min(times["load"]),
                    "load_max": max(times["load"])}  # fmt: skip
    return figures


def run(args: argparse.Namespace, scratch: Path) -> tuple[dict[str, float], Times]:
    hashing = reference.hash_rates()  # first, while no server is running
    measuring = measure_object_store if args.store in OBJECT_STORES else measure
    times, memory = measuring(args, scratch)
    return {**rates(rows(args), times), **hashing, **memory}, times


def report(args: argparse.Namespace, figures: dict[str, float], times: Times) -> None:
    def cell(key: str, digits: int = 2) -> str:
        return f"{figures[key]:.{digits}f}" if key in figures else "-"

    print(
        f"\nlading transfers, {args.store} store, median of {args.runs} run(s), "
        f"{args.workers} worker(s), each right after its reference;\n"
        "ratio = lading/reference, the median of the per-run ratios\n"
    )

    def spread(key: str) -> str:
        return f"{cell(key + '_min')}-{cell(key + '_max')}" if f"{key}_min" in figures else "-"

    def cpu(key: str) -> str:
        return cell(f"cpu_{key}_s_per_gib", 3)

    print_table(
        ["transfer", "lading", "reference", "ratio", "ratio range", "unit", "target",
         "reference is", "CPU s/GiB lading", "CPU s/GiB reference", "lading peak RSS MiB"],
        [
            (row.label, cell(row.rate_key(row.lading)), cell(row.rate_key(row.reference)),
             cell(row.ratio_key), spread(row.ratio_key), row.unit, row.target,
             row.reference_label if row.rate_key(row.reference) in figures else "-",
             cpu(row.lading), cpu(row.reference),
             "-" if row.lading.startswith(OTHER_WAYS) else cell(f"peak_rss_{row.phase}_mib", 1))
            for row in rows(args)
        ],
    )  # fmt: skip
    if "load_median" in figures:
        print(
            f"\nload average before each download: median {figures['load_median']:.1f}, "
            f"{figures['load_min']:.1f}-{figures['load_max']:.1f} on {os.cpu_count()} CPUs; "
            "CPU s/GiB: the serving processes' user+system time (behind nginx: nginx's and "
            "lading's)"
        )
    size = args.size_mib
    if args.store == "filesystem" and "reference_download_gb_s" not in figures:
        print("reference: nginx not installed")
    if args.store == "s3" and "reference_upload_boto3_mb_s" not in figures:
        print("reference: boto3 not installed (.venv/bin/pip install boto3 to measure it)")
    if args.store == "swift" and "reference_upload_swiftclient_mb_s" not in figures:
        print("reference: python-swiftclient not installed (.venv/bin/pip install it)")
    print(
        f"\nserver RSS (process + workers): baseline {figures['baseline_rss_mib']:.1f} MiB, "
        f"peak {figures['peak_rss_mib']:.1f} MiB, growth {figures['rss_growth_mib']:.1f} MiB;\n"
        f"growth during single {size} MiB transfers {figures['rss_growth_single_mib']:.1f} MiB "
        f"(target < {RSS_GROWTH_TARGET_MIB[args.store]})"
    )
    print(
        f"hashlib, one thread, 1 MiB blocks: md5 {figures['md5_mb_s']:.0f} MB/s, "
        f"sha256 {figures['sha256_mb_s']:.0f} MB/s"
    )
    if args.store != "filesystem" and any(key.startswith("cpu_") for key in figures):
        print_cpu(figures)
    # curl and the servers share the CPUs; a busy machine lowers every figure.
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        summary = {"store": args.store, "runs": args.runs, "size_mib": size, **figures}
        print(json.dumps({**summary, "seconds_per_run": times}, indent=2))


def print_cpu(figures: dict[str, float]) -> None:
    """CPU seconds per GiB of each transfer: lading's processes, the direct client (this
    process), the object store's servers."""
    print("\nCPU seconds per GiB, medians (lading's processes | this process | Swift's servers):")
    transfers = sorted({key[4:].rsplit("_", 3)[0] for key in figures if key.startswith("cpu_")})
    print_table(
        ["transfer", "lading", "client", "store"],
        [
            (name, *(f"{figures.get(f'cpu_{name}_{part}_s_gib', 0.0):.2f}"
                     for part in ("lading", "client", "store")))
            for name in transfers
        ],
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--store", choices=("filesystem", *OBJECT_STORES), default="filesystem", help="store"
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the big file")
    parser.add_argument("--concurrent-size-mib", type=int, default=100, help="concurrent file")
    parser.add_argument("--concurrency", type=int, default=64, help="simultaneous downloads")
    parser.add_argument("--workers", type=int, default=1, help="lading serve --workers")
    parser.add_argument("--data-dir", type=Path, help="parent of the scratch dir (default /tmp)")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    with temp_dir(args.data_dir, "lading-bench-transfer-") as scratch:
        figures, times = run(args, scratch)
    report(args, figures, times)


if __name__ == "__main__":
    main()
