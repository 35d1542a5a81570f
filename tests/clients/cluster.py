"""lading scaled out on loopback: ``lading serve`` nodes sharing one PostgreSQL database and
one Swift container, with nginx in front, configured by docs/examples/nginx.conf itself.

The example is rewritten only where it must be to run here (``scale_out_config``): its
addresses, its cache directory and how long a copy stays valid. Anything else in it is
what the tests run, so the documented configuration cannot drift from the tested one.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.clients.conftest import LADING, STOP_TIMEOUT, free_port, log_tail, wait_healthy

EXAMPLE = Path(__file__).parents[2] / "docs" / "examples" / "nginx.conf"
EXAMPLE_CACHE = "/var/cache/nginx/lading"  # its proxy_cache_path, in docs/operations.md too
NGINX_STARTUP_TIMEOUT = 10.0
TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def find_nginx() -> str | None:
    """The nginx binary (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).exists()),
        None,
    )


@dataclass
class Node:
    """One ``lading serve`` on a loopback port, in a process group of its own so that a
    signal reaches its workers too; started, stopped, killed and paused at will."""

    name: str
    env: dict[str, str]
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(LADING), "serve", "--port", str(self.port), "--workers", "1"],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_healthy(self) -> None:
        assert self.process is not None
        wait_healthy(self.process, self.url, self.log)

    def kill(self) -> None:
        """SIGKILL, to the whole group: nothing gets to finish or clean up."""
        self._signal(signal.SIGKILL)
        self._reap()

    def stop(self) -> None:
        if self.process is None:
            return
        self._signal(signal.SIGCONT)  # a paused node cannot act on SIGTERM
        self._signal(signal.SIGTERM)
        self._reap()

    def pause(self) -> None:
        """SIGSTOP: the node holds its connections but does nothing, not even claim tasks."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, number: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, number)

    def _reap(self) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(STOP_TIMEOUT)
        # The group's workers too: a worker left behind would still claim tasks.
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process = None


def rewrite(text: str, pattern: str, replacement: str, count: int = 1) -> str:
    """``text`` with ``pattern`` replaced, which must occur exactly ``count`` times."""
    new, made = re.subn(pattern, lambda found: found.expand(replacement), text, flags=re.M)
    assert made == count, f"{pattern!r} matched {made} times, not {count}"
    return new


def scale_out_config(
    nodes: Sequence[str], front: int, cache: int, cache_dir: Path, copy_valid: str
) -> str:
    """docs/examples/nginx.conf with ``nodes`` (host:port) as the lading upstream, one front
    server on ``front`` and its cache server on ``cache`` (both on 127.0.0.1), copies kept in
    ``cache_dir`` and valid for ``copy_valid`` (an nginx time: "2s")."""
    text = EXAMPLE.read_text()
    # Each node keeps the example's parameters (max_fails=3 fail_timeout=10s).
    nodes_block = "".join(f"    server {node}\\1;\n" for node in nodes)
    text = rewrite(text, r"(?:^    server 10\.0\.0\.\d+:9292([^;\n]*);\n)+", nodes_block)
    text = rewrite(
        text, r"(?:^    server 10\.0\.0\.\d+:8081;\n)+", f"    server 127.0.0.1:{cache};\n"
    )
    text = rewrite(text, r"^    listen 80;$", f"    listen 127.0.0.1:{front};")
    text = rewrite(text, r"^    listen 8081;$", f"    listen 127.0.0.1:{cache};")
    text = rewrite(text, r"^    allow 10\.0\.0\.0/24;", "    allow 127.0.0.1;")
    text = rewrite(text, rf"^proxy_cache_path {EXAMPLE_CACHE} ", f"proxy_cache_path {cache_dir} ")
    return rewrite(text, r"proxy_cache_valid 200 10m;", f"proxy_cache_valid 200 {copy_valid};")


@dataclass(frozen=True)
class Front:
    """nginx running the example: the front clients reach, and where its copies lie."""

    url: str
    cache_dir: Path
    error_log: Path


def main_config(root: Path, included: Path) -> str:
    """nginx.conf around the example, as Debian's includes conf.d, with every path in ``root``."""
    # As root the master would switch its worker to "nobody", who cannot enter a pytest
    # temporary directory (mode 0700); the worker keeps our user instead.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(f"    {kind}_temp_path {root / kind};\n" for kind in TEMP_KINDS)
    return (
        f"daemon off;\nworker_processes 1;\n{user}pid {root / 'nginx.pid'};\n"
        f"error_log {root / 'error.log'} info;\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp_paths}    include {included};\n}}\n"
    )


@contextmanager
def running_front(
    nginx: str, root: Path, nodes: Sequence[str], copy_valid: str, front_port: int
) -> Iterator[Front]:
    """nginx with the example's front and cache servers on loopback ports."""
    root.mkdir(parents=True, exist_ok=True)
    cache_dir = root / "cache"
    lading_conf = root / "lading.conf"
    lading_conf.write_text(scale_out_config(nodes, front_port, free_port(), cache_dir, copy_valid))
    front = Front(f"http://127.0.0.1:{front_port}", cache_dir, root / "error.log")
    with running_nginx(nginx, root, lading_conf, front.url):
        yield front


@contextmanager
def running_nginx(nginx: str, root: Path, included: Path, url: str) -> Iterator[None]:
    """nginx serving the servers ``included`` (``main_config``, every path in ``root``),
    once it answers ``url``'s health check; stopped after."""
    config = root / "nginx.conf"
    config.write_text(main_config(root, included))
    error_log = root / "error.log"
    command = [nginx, "-p", str(root), "-c", str(config), "-e", str(error_log)]
    with (root / "output.log").open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + NGINX_STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited with {process.returncode}:\n{log_tail(error_log)}")
            try:
                httpx.get(f"{url}/healthcheck", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail(f"nginx did not answer:\n{log_tail(error_log)}")
                time.sleep(0.05)
        yield
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown, workers included
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
