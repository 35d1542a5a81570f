"""Reference servers for bench/transfer.py, measured side by side with lading.

- nginx serving the files of lading's store with ``sendfile on`` (downloads), and the
  same nginx in front of lading, sending the files lading hands off (X-Accel-Redirect);
- a bare ASGI app under granian, the same interface and worker count as lading, that
  stores an upload as lading essentially does, or only receives it (uploads);
- in-process hashlib throughput, since md5 bounds the upload.

Each server runs on a free loopback port with its configuration, logs and files inside
the scratch directory, so that it needs no system configuration, even as root.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _server import MB, MiB, free_port, stop_process, wait_answering
from lading.http.accel import location_block

GRANIAN = Path(sys.executable).with_name("granian")  # the one lading runs under
UPLOAD_APP = Path(__file__).with_name("_reference_upload.py")


def find_nginx() -> str | None:
    """The nginx binary, or None when it is not installed."""
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(path).exists()),
        None,
    )


@dataclass(frozen=True)
class Front:
    """nginx in front of a lading whose store hands downloads off (X-Accel-Redirect)."""

    lading_url: str
    prefix: str  # the store's accel_redirect
    port: int


def nginx_config(scratch: Path, root: Path, port: int, front: Front | None = None) -> str:
    temp = scratch / "temp"
    # As root the master would switch its worker to "nobody", who cannot read a scratch
    # directory made by mkdtemp (mode 0700); the worker keeps our user instead.
    user = "user root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(
        f"    {kind}_temp_path {temp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
worker_processes 1;
{user}
pid {scratch / "nginx.pid"};
error_log {scratch / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    default_type application/octet-stream;
{temp_paths}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
{"" if front is None else _front_server(front, root)}}}
"""


def _front_server(front: Front, root: Path) -> str:
    """The proxy to lading with the store's internal location, as operations.md shows it."""
    location = "".join(
        f"        {line}\n" for line in location_block(front.prefix, root).splitlines()
    )
    return f"""\
    server {{
        listen 127.0.0.1:{front.port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        location / {{
            proxy_pass {front.lading_url};
            proxy_buffering off;
        }}
{location}    }}
"""


@contextmanager
def running_nginx(
    nginx: str, scratch: Path, root: Path, front: Front | None = None
) -> Iterator[str]:
    """Serve the files under ``root`` with nginx; yield its base URL. With ``front``, the
    same nginx proxies lading on ``front.port`` too, sending its store's files itself."""
    (scratch / "temp").mkdir(parents=True)
    port = free_port()
    config = scratch / "nginx.conf"
    config.write_text(nginx_config(scratch, root, port, front))
    # -e: the error log from the very start, before the configuration is read.
    command = [nginx, "-p", str(scratch), "-c", str(config), "-e", str(scratch / "error.log")]
    base_url = f"http://127.0.0.1:{port}"
    with _started(command, scratch / "output.log", "nginx") as process:
        # Any answer will do: the root is a directory without an index (403, and a line
        # in error.log).
        wait_answering(process, base_url, "nginx", statuses=range(200, 500))
        yield base_url


@dataclass(frozen=True)
class BareApp:
    url: str
    pid: int


@contextmanager
def running_upload_reference(
    scratch: Path, workers: int = 1, files: Path | None = None
) -> Iterator[BareApp]:
    """Run the bare upload app under granian, as lading runs; yield its base URL and
    process. It sends the files under ``files`` (GET /files/<key>).

    The app is copied into ``scratch`` and run from there, so that nothing (not even
    ``__pycache__``) is written into the repository; it stores files in ``scratch/files``.
    """
    (scratch / "files").mkdir(parents=True)
    shutil.copy(UPLOAD_APP, scratch / "reference_upload.py")
    port = free_port()
    command = [
        str(GRANIAN),
        *("--interface", "asgi", "--workers", str(workers), "--log-level", "warning"),
        *("--host", "127.0.0.1", "--port", str(port), "--working-dir", str(scratch)),
        "reference_upload:app",
    ]
    env = {**os.environ, "REFERENCE_UPLOAD_DIR": str(scratch / "files")}
    if files is not None:
        env["REFERENCE_FILES_DIR"] = str(files)
    base_url = f"http://127.0.0.1:{port}"
    with _started(command, scratch / "output.log", "reference upload app", env) as process:
        wait_answering(process, base_url, "the reference upload app")
        yield BareApp(base_url, process.pid)


def clear_reference_uploads(scratch: Path) -> None:
    """Remove what the reference upload app stored (outside the timed part)."""
    for path in (scratch / "files").iterdir():
        path.unlink()


@contextmanager
def _started(
    command: list[str], log_path: Path, name: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` with its output in ``log_path``; stop it on exit, even on errors."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=log_path.parent, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process
    except BaseException:
        print(f"--- {name}: {' '.join(command)}; its output ends with ---", file=sys.stderr)
        lines = log_path.read_text(errors="replace").splitlines()[-30:]
        print("\n".join(lines), file=sys.stderr)
        raise
    finally:
        stop_process(process)


def hash_rates(seconds: float = 1.0) -> dict[str, float]:
    """Single-thread md5 and sha256 throughput in MB/s on 1 MiB blocks, in-process."""
    block = os.urandom(MiB)
    rates = {}
    for name in ("md5", "sha256"):
        digest = hashlib.new(name, usedforsecurity=False)
        blocks, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            digest.update(block)
            blocks += 1
        rates[f"{name}_mb_s"] = blocks * MiB / MB / elapsed
    return rates
