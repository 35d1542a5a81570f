"""A ``lading serve`` that a test starts, kills and starts again on the same data."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil

from tests.clients.conftest import LADING, free_port, wait_healthy

STOP_TIMEOUT = 10.0


class LiveServer:
    """``lading serve`` in a process group of its own (so that SIGKILL takes its workers
    too), on a fresh port at each start. It runs open (no token; loopback only), which
    spares each test the start of the CLI that makes a token."""

    def __init__(self, root: Path, settings: dict[str, str]) -> None:
        self.root = root
        self.log = root / "server.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("LADING_", "OS_"))}
        self.env |= {"LADING_DATA_DIR": str(root / "data"), **settings}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.start_times: list[float] = []  # seconds from each start to the first answer

    def start(self) -> None:
        assert self.process is None
        port = free_port()
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(LADING), "serve", "--port", str(port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(self.process, self.url, self.log)
        except BaseException:  # the test never gets to stop it
            with contextlib.suppress(ProcessLookupError):  # unless it is gone already
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
            self.process = None
            raise
        self.start_times.append(time.monotonic() - started)

    def kill(self) -> None:
        """SIGKILL, to every process of the server at once."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
        self.process = None

    def worker(self) -> psutil.Process:
        """The process that serves requests: granian's one worker, forked from the main one
        (whose other child is multiprocessing's resource tracker)."""
        assert self.process is not None
        main = psutil.Process(self.process.pid)
        (worker,) = [child for child in main.children() if child.cmdline() == main.cmdline()]
        return worker
