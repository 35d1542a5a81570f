"""The uploads ``lading upload`` began and did not finish, remembered so that running it
again resumes them: ``uploads.json`` in the user's state folder (``$XDG_STATE_HOME/lading``,
else ``~/.local/state/lading``).

A record says what the upload was for: the server, the file (its absolute path, size and
modification time) and the artifact it fills, with the upload's URL. A file whose size or
modification time changed since is never resumed: its bytes on the server may not be its
bytes now. The file is small (at most ``KEPT`` records, the oldest dropped first), only
the user reads it (mode 0600: a URL of an upload is as good as its place), and it is
rewritten whole, atomically, under a lock, so two commands at once never tear it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_FILE = "uploads.json"
KEPT = 100


def state_path() -> Path:
    """``uploads.json`` under ``$XDG_STATE_HOME/lading``, else ``~/.local/state/lading``."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "lading" / STATE_FILE


@dataclass(frozen=True, slots=True)
class Unfinished:
    """An upload begun from a file to a server, for an artifact."""

    server: str
    path: str
    size: int
    mtime_ns: int
    url: str
    artifact: str
    started: str  # ISO 8601, UTC
    expires: str | None = None  # ISO 8601, as the server said (Upload-Expires)

    @classmethod
    def of(cls, server: str, path: Path, url: str, artifact: str) -> Unfinished:
        stat = path.stat()
        return cls(
            server=server,
            path=str(path.resolve()),
            size=stat.st_size,
            mtime_ns=stat.st_mtime_ns,
            url=url,
            artifact=artifact,
            started=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def fits(self, path: Path) -> bool:
        """Whether the file is still as it was when its upload began."""
        try:
            stat = path.stat()
        except OSError:
            return False
        return stat.st_size == self.size and stat.st_mtime_ns == self.mtime_ns

    def expired(self, now: datetime | None = None) -> bool:
        if self.expires is None:
            return False
        try:
            until = datetime.fromisoformat(self.expires)
        except ValueError:
            return False
        return until <= (now or datetime.now(UTC))


class UnfinishedUploads:
    """The records of one state file, read and written whole."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_path()

    def find(self, server: str, path: Path) -> Unfinished | None:
        wanted = str(path.resolve())
        with self._locked():
            return next(
                (kept for kept in self._read() if (kept.server, kept.path) == (server, wanted)),
                None,
            )

    def keep(self, record: Unfinished) -> None:
        """Remember ``record``, in place of any other of the same server and file."""
        with self._locked():
            others = [kept for kept in self._read() if not _same(kept, record)]
            self._write([*others, record][-KEPT:])

    def forget(self, record: Unfinished) -> None:
        with self._locked():
            kept = self._read()
            if any(_same(found, record) for found in kept):
                self._write([found for found in kept if not _same(found, record)])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = self.path.with_name(self.path.name + ".lock")
        with lock.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _read(self) -> list[Unfinished]:
        """The records; a file that is not ours to read (damaged, another version's) is
        read as none: forgetting an upload only means it starts over."""
        try:
            document: Any = json.loads(self.path.read_text())
            return [Unfinished(**record) for record in document["uploads"]]
        except (OSError, ValueError, TypeError, KeyError):
            return []

    def _write(self, records: list[Unfinished]) -> None:
        document = {"uploads": [asdict(record) for record in records]}
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".uploads-")
        try:
            with os.fdopen(handle, "w") as file:  # mkstemp made it 0600
                json.dump(document, file, indent=1)
            Path(temporary).replace(self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _same(one: Unfinished, other: Unfinished) -> bool:
    return (one.server, one.path) == (other.server, other.path)
