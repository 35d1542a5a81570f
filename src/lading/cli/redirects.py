"""The plain-HTTP listener of ``tls.redirect_port``: a granian of its own, in a process of
its own, serving ``lading.http.https:redirect_app`` (through ``lading.cli.launch``); and,
started the same way, the OCI registry's listener of ``oci.port`` (``REGISTRY``).

granian binds one address per server, so the redirects cannot share the HTTPS server's
processes. ``lading serve`` starts this one once every check has passed and stops it when
it stops; should ``lading serve`` be killed outright (SIGKILL), it stops by itself, so
that no orphan keeps the port. It is a fresh interpreter (``python -m``), which imports
this small module, not the server's database and stores; not a multiprocessing child:
granian 2.8's worker under one panicked as it stopped, about one stop in two.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial

from starlette.types import ASGIApp

from lading import logs
from lading.cli.launch import Launch, redirect_app, registry_app

STARTUP_TIMEOUT = 30.0  # seconds: a fresh interpreter imports granian and starlette
STOP_TIMEOUT = 10.0
PARENT_POLL = 1.0  # seconds between looks at whether lading serve still runs
WORKERS = 1  # a redirect costs microseconds: one worker answers thousands a second
READY = b"listening\n"


class RedirectsFailed(Exception):
    """The listener did not start: the reason, one line."""


REDIRECTS, REGISTRY = "redirect", "registry"


def start_redirects(
    launch: Launch, address: str, port: int, kind: str = REDIRECTS
) -> subprocess.Popen[bytes]:
    """The listener's process, once it listens; RedirectsFailed if it cannot. It builds
    its settings from ``launch``, as the workers do (``lading serve``'s configuration
    file, ``--host`` and ``--port``). ``kind``: the redirects, or the registry."""
    receiving, sending = os.pipe()
    command = [sys.executable, "-m", __name__, str(sending), launch.argument(), kind]
    process = subprocess.Popen(command, pass_fds=(sending,))
    os.close(sending)  # the child's end: once it exits, reading sees the end of the pipe
    try:
        ready, _, _ = select.select([receiving], [], [], STARTUP_TIMEOUT)
        said = os.read(receiving, 4096) if ready else None
    finally:
        os.close(receiving)
    if said == READY:
        return process
    stop_redirects(process)
    if said is None:
        problem = f"did not start within {STARTUP_TIMEOUT:.0f} s"
    elif said:
        problem = said.decode(errors="replace").strip()
    else:
        problem = f"its process exited with {process.returncode}"
    raise RedirectsFailed(f"the {kind} listener on {address}:{port}: {problem}")


def stop_redirects(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()  # SIGTERM: granian's graceful stop
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def serve_registry(ready: int, launch: Launch) -> None:
    """As ``serve_redirects``, for the OCI registry: its app has a lifespan (its
    catalogue and stores), and it is served over HTTPS when the API is (the files were
    checked by ``lading serve``)."""
    _serve(ready, launch, "lading.app:create_registry_app", registry_app, registry=True)


def serve_redirects(ready: int, launch: Launch) -> None:
    """The child's work: serve until told to stop or until its parent is gone. Writes
    READY to the ``ready`` descriptor once it listens, or why it could not."""
    _serve(ready, launch, "lading.http.https:redirect_app", redirect_app, registry=False)


def _serve(
    ready: int,
    launch: Launch,
    target: str,
    loader: Callable[[Launch], ASGIApp],
    registry: bool,
) -> None:
    """One listener of its own: ``target`` names the app (granian's label), ``loader``
    builds it from ``launch``. The redirects have no lifespan and speak plain HTTP; the
    ``registry`` runs its lifespan and speaks HTTPS when the API does."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    threading.Thread(target=_stop_with, args=(os.getppid(),), daemon=True).start()
    try:
        settings = launch.settings()
        port = settings.oci.port if registry else settings.tls.redirect_port
        assert port is not None  # lading serve starts a listener only for a port
        edge = settings.server
        tls = settings.tls
        https = (
            {"ssl_cert": tls.certificate.resolve(), "ssl_key": tls.key.resolve()}
            if registry and tls.certificate is not None and tls.key is not None
            else {}
        )
        server = Granian(
            target,
            address=settings.host,
            port=port,
            interface=Interfaces.ASGI if registry else Interfaces.ASGINL,
            workers=WORKERS,
            backlog=edge.backlog,
            backpressure=edge.connections,
            http=HTTPModes.http1,
            # Slow clients are let go as on the HTTPS listener (server.header_timeout).
            http1_settings=HTTP1Settings(header_read_timeout=round(edge.header_timeout * 1000)),
            log_level=LogLevels(settings.log_level),
            log_dictconfig=logs.dict_config(settings.log_level, settings.log_format),
            **https,  # type: ignore[arg-type]
        )
        server.on_startup(lambda: _tell(ready, READY))  # granian calls it once bound
        server.serve(target_loader=partial(loader, launch), wrap_loader=False)
    except Exception as exc:  # whatever it is, lading serve says it in one line
        _tell(ready, f"{exc or type(exc).__name__}\n".encode())


def _tell(ready: int, message: bytes) -> None:
    try:
        os.write(ready, message)
        os.close(ready)
    except OSError:  # told already, or lading serve is gone
        pass


def _stop_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    serving = serve_registry if sys.argv[3:] == [REGISTRY] else serve_redirects
    serving(int(sys.argv[1]), Launch.from_argument(sys.argv[2]))
