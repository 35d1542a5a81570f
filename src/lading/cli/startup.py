"""What ``lading serve`` checks before it starts granian: that it may listen where the
settings say, each failure one line that names the address and the setting to change.

granian binds in Rust and raises a bare ``RuntimeError("Address already in use (os error
98)")`` with a Rust backtrace under the Python one; a bind tried here first says which
address, which setting and what to do. The same words serve the bind that granian may
still lose to another program in between (``listen_failure``).
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from lading.settings import Settings
from lading.settings_keys import variable_name


@dataclass(frozen=True, slots=True)
class Listener:
    """A port that ``lading serve`` listens on, and the setting that chose it."""

    port: int
    setting: str  # its TOML key

    def remedy(self) -> str:
        flag = "--port, " if self.setting == "port" else ""
        variable = variable_name(self.setting)
        return f"choose another with {flag}{self.setting} in the TOML file or {variable}"


def listeners(settings: Settings) -> list[Listener]:
    """The API's port, and the redirect and registry listeners' where they are set."""
    found = [Listener(settings.port, "port")]
    if settings.tls.redirect_port is not None:
        found.append(Listener(settings.tls.redirect_port, "tls.redirect_port"))
    if settings.oci.port is not None:
        found.append(Listener(settings.oci.port, "oci.port"))
    return found


def check_listeners(settings: Settings) -> str | None:
    """Bind each listener's address once and let it go; why one cannot be bound."""
    host = settings.host.strip("[]")
    for listener in listeners(settings):
        if listener.port == 0:  # any free port: nothing to check
            continue
        try:
            family, kind, protocol, _, address = socket.getaddrinfo(
                host, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0]
        except socket.gaierror as exc:
            return (
                f"host {settings.host!r} is no address lading can listen on ({exc.strerror}): "
                "set host in the TOML file, LADING_HOST or --host"
            )
        with socket.socket(family, kind, protocol) as probe:
            # As granian binds: a port left in TIME_WAIT by the last run is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                return listen_failure(settings.host, listener, exc)
    return None


def listen_failure(host: str, listener: Listener, exc: OSError | RuntimeError) -> str:
    """One line for a bind that failed: the address, what is wrong, the setting."""
    where = f"{host}:{listener.port}"
    code = exc.errno if isinstance(exc, OSError) else _rust_errno(str(exc))
    if code == errno.EADDRINUSE:
        return f"cannot listen on {where}: another program listens there; {listener.remedy()}"
    if code == errno.EACCES:
        return (
            f"cannot listen on {where}: ports below 1024 need root or CAP_NET_BIND_SERVICE; "
            f"{listener.remedy()}"
        )
    if code == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {where}: {host} is no address of this machine; set host in "
            "the TOML file, LADING_HOST or --host"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot listen on {where}: {reason}; {listener.remedy()}"


def _rust_errno(message: str) -> int | None:
    """The errno in granian's words, "Address already in use (os error 98)"."""
    _, found, tail = message.rpartition("(os error ")
    number = tail.rstrip(")")
    return int(number) if found and number.isdigit() else None
