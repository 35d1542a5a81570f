"""Shared helpers for the benchmarks: run a lading server, sample its memory.

Not a benchmark itself. The scripts next to it import it as ``_server``, which works
because Python puts a script's own directory first on ``sys.path``:

    .venv/bin/python bench/transfer.py --help
    .venv/bin/python bench/catalogue.py --help
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Container, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

MiB = 1024 * 1024
GiB = 1024 * MiB
MB, GB = 1e6, 1e9  # rates are decimal, sizes binary (MiB), as curl and the targets use them
LADING = Path(sys.executable).with_name("lading")  # the console script of this venv


def free_port() -> int:
    """A loopback port that was free a moment ago (the server binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``lading serve`` subprocess and where it keeps its data."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    base_url: str
    log_path: Path
    token: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        """What every request to the server carries: its token, when it has one."""
        return {"X-Auth-Token": self.token} if self.token else {}

    @property
    def database(self) -> Path:
        return self.data_dir / "lading.db"

    def tree(self) -> list[psutil.Process]:
        """The server process and its children (granian runs the app in a worker process)."""
        parent = psutil.Process(self.process.pid)
        return [parent, *parent.children(recursive=True)]

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@contextmanager
def temp_dir(parent: Path | None, prefix: str) -> Iterator[Path]:
    """A scratch directory under ``parent`` (default: the system temp dir), always removed."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def running_server(
    data_dir: Path,
    workers: int = 1,
    timeout: float = 60.0,
    settings: Mapping[str, str] | None = None,
    token: bool = False,
    name: str = "server",
) -> Iterator[Server]:
    """Start lading on a free loopback port with ``data_dir``; stop it on exit, even on errors.

    ``settings`` are more environment variables for it, e.g. ``{"LADING_STORES": ...}``.
    With ``token``, an admin token is made first, so the server checks it on every request
    as a deployed one does (without, it runs open). Two servers may share ``data_dir``
    (one catalogue, one store) under different ``name``s.

    The server's output goes to ``<data_dir>.<name>.log`` next to the data directory,
    not to a pipe, so that a chatty server can never block on a full pipe mid-measurement.
    """
    port = free_port()
    env = {
        **os.environ,
        "LADING_DATA_DIR": str(data_dir),
        "LADING_PORT": str(port),
        # Access logs for ~100k requests would be part of what we measure; keep them quiet.
        "LADING_LOG_LEVEL": os.environ.get("LADING_LOG_LEVEL", "warning"),
        **(settings or {}),
    }
    log_path = data_dir.parent / f"{data_dir.name}.{name}.log"
    made = None
    if token:
        # --create: the first token comes before the first start makes the catalogue.
        create = [str(LADING), "token", "create", "--project", "bench", "--role", "admin",
                  "--create"]  # fmt: skip
        made = subprocess.run(create, env=env, capture_output=True, text=True, check=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(LADING), "serve", "--workers", str(workers)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    token_text = made.stdout.splitlines()[-1] if made is not None else None
    server = Server(process, data_dir, f"http://127.0.0.1:{port}", log_path, token_text)
    try:
        _wait_healthy(server, timeout)
        yield server
    except BaseException:
        state = server.process.poll()
        state_text = "still running" if state is None else f"exited with {state}"
        print(f"--- lading {state_text}; its log ends with ---", file=sys.stderr)
        print(server.log_tail(), file=sys.stderr)
        raise
    finally:
        stop(server)


def _wait_healthy(server: Server, timeout: float) -> None:
    wait_answering(server.process, f"{server.base_url}/healthcheck", "lading", timeout)


def wait_answering(
    process: subprocess.Popen[bytes],
    url: str,
    name: str,
    timeout: float = 60.0,
    statuses: Container[int] = (200,),
) -> None:
    """Poll ``url`` until it answers with one of ``statuses``; fail if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} while starting")
        try:
            if httpx.get(url, timeout=1.0).status_code in statuses:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer {url} in {timeout}s")


def stop(server: Server, grace: float = 10.0) -> None:
    """Terminate the server (it stops its workers); kill what is still alive after ``grace``."""
    stop_process(server.process, grace)


def stop_process(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """Terminate a server process and the children it leaves behind, killing if need be."""
    try:
        parent = psutil.Process(process.pid)
        # Remembered now: orphaned workers must not escape.
        processes = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        processes = []
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for leftover in alive:
        with suppress(psutil.NoSuchProcess):
            leftover.kill()
    psutil.wait_procs(alive, timeout=grace)


class RssSampler:
    """Samples the summed RSS of a server's process tree on a background thread.

    ``take_peak`` returns the highest sample since the previous call, so one sampler
    gives a peak per benchmark phase as well as the overall peak.
    """

    def __init__(self, server: Server, interval: float = 0.05) -> None:
        self.server = server
        self.interval = interval
        self.overall_peak = 0
        self._phase_peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._tree: list[psutil.Process] = []
        self._listed = -1e9

    def rss(self) -> int:
        # Listing the tree reads every process of the machine (~10 ms each time, a fifth
        # of a core at 50 ms): once a second is enough to see a worker come or go.
        if time.monotonic() - self._listed > 1.0:
            self._tree, self._listed = self.server.tree(), time.monotonic()
        total = 0
        for process in self._tree:
            # A worker may exit between listing and sampling.
            with suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def take_peak(self) -> int:
        # Sample now too: a phase shorter than the interval would otherwise have no sample.
        peak, self._phase_peak = max(self._phase_peak, self.rss()), 0
        self.overall_peak = max(self.overall_peak, peak)
        return peak

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                sample = self.rss()
            except psutil.NoSuchProcess:
                return  # the server is gone; the benchmark will notice on its own
            self._phase_peak = max(self._phase_peak, sample)
            self.overall_peak = max(self.overall_peak, sample)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile, e.g. ``percentile(latencies, 0.99)``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain aligned text table on stdout."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))
