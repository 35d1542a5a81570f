"""Server processes told apart, and whether one of this host still runs.

Each process that serves is a *holder*: uploads and pending blobs record which one writes
them, so that recovery can tell a dead writer from a slow one. Across hosts only a
heartbeat can tell (db.holders); on one host the kernel can, at once: a holder whose
process is gone, or whose pid now belongs to a process started at another moment (pids
are reused), is dead.

"One host" means where pids mean the same thing: the same host name, the same boot (pids
start again after a reboot) and the same pid namespace (each container has its own).
Where these cannot be read (not Linux), no process is ever judged from here: a mistake
would kill another host's live uploads, so only the heartbeat decides.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# /proc/<pid>/stat: fields after the command's closing parenthesis, from the 3rd (state);
# the 22nd is when the process started, in clock ticks since boot.
STATE_FIELD, START_FIELD = 0, 19
DEAD_STATES = ("Z", "X")  # a zombie has exited; only its parent has yet to reap it


@dataclass(frozen=True, slots=True)
class Holder:
    """A server process, as recorded with what it writes."""

    id: str  # random, made once per process: what uploads and blobs record
    host: str | None  # where pids mean the same; None: cannot be told (no local judgement)
    pid: int
    started: str  # clock ticks from boot to the process's start, as the kernel counts them


class ThisProcess:
    """The holder of the process it runs in, made afresh in a forked child (whose pid
    differs), so that workers forked from one parent never share an identity."""

    def __init__(self, proc: Path = PROC) -> None:
        self._proc = proc
        self._holder: Holder | None = None

    @property
    def holder(self) -> Holder:
        if self._holder is None or self._holder.pid != os.getpid():
            self._holder = self._identify()
        return self._holder

    def _identify(self) -> Holder:
        pid = os.getpid()
        host, started = None, ""
        try:
            boot = (self._proc / "sys/kernel/random/boot_id").read_text().strip()
            namespace = (self._proc / "self/ns/pid").readlink()
            own = (self._proc / "self/stat").read_text()
            fields = own.rpartition(")")[2].split()
            # A /proc mounted from another pid namespace would name other processes.
            if int(own.split(maxsplit=1)[0]) == pid:
                host = f"{socket.gethostname()}/{boot}/{namespace.name}"
                started = fields[START_FIELD]
        except (OSError, ValueError, IndexError):
            pass
        return Holder(uuid.uuid4().hex, host, pid, started)

    def outlived(self, holder: Holder) -> bool:
        """True when ``holder`` is a process of this host that no longer runs: gone, a
        zombie, or its pid taken by a later process. False when it runs or when this
        process cannot tell (another host, or no /proc to read)."""
        me = self.holder
        if me.host is None or holder.host != me.host or holder.id == me.id:
            return False
        try:
            stat = (self._proc / str(holder.pid) / "stat").read_text()
        except OSError:  # gone, or hidden from this user (hidepid): ask the kernel
            return not _exists(holder.pid)
        fields = stat.rpartition(")")[2].split()
        try:
            return fields[STATE_FIELD] in DEAD_STATES or fields[START_FIELD] != holder.started
        except IndexError:
            return False


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True
