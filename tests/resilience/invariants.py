"""What must hold once recovery has run, read from the catalogue's database and from the
store itself, behind the server's back:

- no artifact ``active`` whose bytes differ from its size and digests;
- none left ``saving``, ``importing`` or ``uploading``, no task left running;
- no stored object without a catalogue reference, none referenced and missing;
- no temporary file (filesystem) or orphaned segment (Swift) left.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from sqlalchemy import create_engine, func, select

from lading.db.models import artifacts, blobs, locations, oci_blob_links, pypi_files, tasks
from tests.object_servers import swift_session

IN_FLIGHT = ("saving", "importing", "uploading")
WITH_DATA = ("active", "deactivated")
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digests:
    size: int
    md5: str
    sha256: str


class StoreView(Protocol):
    """A store read directly, not through lading."""

    def objects(self) -> set[str]:
        """The keys of every whole object."""

    def temporaries(self) -> list[str]:
        """What writes in progress (or cut off) left: temporary files, orphaned segments."""

    def digests(self, key: str) -> Digests: ...

    def existing(self, keys: set[str]) -> set[str]:
        """Those of ``keys`` that are whole objects, asked of each one (not of a listing)."""


def digest_chunks(chunks: Iterator[bytes]) -> Digests:
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    for chunk in chunks:
        md5.update(chunk)
        sha256.update(chunk)
        size += len(chunk)
    return Digests(size, md5.hexdigest(), sha256.hexdigest())


class FilesystemView:
    TEMPORARY = ".tmp"

    def __init__(self, root: Path) -> None:
        self.root = root

    def objects(self) -> set[str]:
        if not self.root.exists():
            return set()
        return {
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and path.relative_to(self.root).parts[0] != self.TEMPORARY
        }

    def temporaries(self) -> list[str]:
        temporary = self.root / self.TEMPORARY
        return sorted(path.name for path in temporary.iterdir()) if temporary.exists() else []

    def existing(self, keys: set[str]) -> set[str]:
        return {key for key in keys if (self.root / key).is_file()}

    def digests(self, key: str) -> Digests:
        with (self.root / key).open("rb") as file:
            return digest_chunks(iter(lambda: file.read(CHUNK), b""))


class SwiftView:
    """A prefix of a Swift container, and of its ``_segments`` container."""

    def __init__(self, container: str, prefix: str) -> None:
        self.container, self.prefix = container, prefix
        self._token, self._url = "", ""

    def _get(self, path: str, **params: str) -> httpx.Response:
        if not self._token:
            self._token, self._url = swift_session()
        return httpx.get(
            f"{self._url}/{path}", params=params, headers={"X-Auth-Token": self._token},
            timeout=30,
        )  # fmt: skip

    def _names(self, container: str) -> list[str]:
        names: list[str] = []
        while True:
            listing = self._get(container, prefix=self.prefix, marker=names[-1] if names else "")
            page = listing.text.split() if listing.status_code == 200 else []
            if not page:
                return names
            names += page

    def objects(self) -> set[str]:
        return {name.removeprefix(self.prefix) for name in self._names(self.container)}

    def existing(self, keys: set[str]) -> set[str]:
        # A container's listing may lag behind its objects (Swift updates it
        # asynchronously when the container server is busy): ask each object.
        return {key for key in keys if self._head(f"{self.container}/{self.prefix}{key}")}

    def temporaries(self) -> list[str]:
        """Segments whose object (the manifest) does not exist."""
        whole = self.objects()
        orphans = {
            name
            for name in self._names(f"{self.container}_segments")
            if name.removeprefix(self.prefix).rpartition("/")[0] not in whole
        }
        return sorted(name for name in orphans if self._head(f"{self.container}_segments/{name}"))

    def _head(self, path: str) -> bool:
        if not self._token:
            self._token, self._url = swift_session()
        answer = httpx.head(f"{self._url}/{path}", headers={"X-Auth-Token": self._token})
        return answer.status_code == 200

    def digests(self, key: str) -> Digests:
        if not self._token:
            self._token, self._url = swift_session()
        url = f"{self._url}/{self.container}/{self.prefix}{key}"
        with httpx.stream("GET", url, headers={"X-Auth-Token": self._token}, timeout=30) as got:
            got.raise_for_status()
            return digest_chunks(got.iter_bytes(CHUNK))


class Catalogue:
    """The catalogue's database, read directly."""

    def __init__(self, url: str) -> None:
        self._engine = create_engine(url)

    def close(self) -> None:
        self._engine.dispose()

    def in_flight(self) -> list[str]:
        """Why the deployment has not settled yet: work under way or waiting for recovery."""
        with self._engine.connect() as connection:
            moving = connection.execute(
                select(artifacts.c.id, artifacts.c.status).where(artifacts.c.status.in_(IN_FLIGHT))
            ).all()
            running = connection.execute(
                select(tasks.c.id, tasks.c.status).where(
                    tasks.c.status.in_(["pending", "processing"])
                )
            ).all()
            loose = connection.execute(
                select(blobs.c.id, blobs.c.state).where(blobs.c.state != "ready")
            ).all()
        return (
            [f"artifact {row.id} is {row.status}" for row in moving]
            + [f"task {row.id} is {row.status}" for row in running]
            + [f"blob {row.id} is {row.state}" for row in loose]
        )

    def half_done(self) -> set[tuple[str, str]]:
        """What is half done, as (status or state, id): artifacts in flight, and blobs
        not ready (pending: bytes being written; doomed: bytes a delete has yet to remove)."""
        with self._engine.connect() as connection:
            moving = connection.execute(
                select(artifacts.c.status, artifacts.c.id).where(artifacts.c.status.in_(IN_FLIGHT))
            ).all()
            loose = connection.execute(
                select(blobs.c.state, blobs.c.id).where(blobs.c.state != "ready")
            ).all()
        return {(str(kind), str(key)) for kind, key in [*moving, *loose]}

    def problems(self, store: StoreView) -> list[str]:
        """Every broken invariant, once the deployment has settled."""
        found = self.in_flight()
        temporaries = store.temporaries()
        found += [f"temporary {name} left in the store" for name in temporaries]
        with self._engine.connect() as connection:
            held = connection.execute(
                select(
                    artifacts.c.id, artifacts.c.status, artifacts.c.size, artifacts.c.checksum,
                    artifacts.c.os_hash_value, blobs.c.key, blobs.c.state, blobs.c.size.label("bs"),
                    blobs.c.checksum.label("bmd5"), blobs.c.sha256,
                )
                .select_from(artifacts.join(locations).join(blobs))
            ).all()  # fmt: skip
            dataless = connection.execute(
                select(artifacts.c.id).where(
                    artifacts.c.status.in_(WITH_DATA),
                    ~artifacts.c.id.in_(select(locations.c.artifact_id)),
                )
            ).scalars()
            found += [f"artifact {artifact_id} is active without data" for artifact_id in dataless]
            references: dict[str, int] = dict(
                connection.execute(
                    select(locations.c.blob_id, func.count()).group_by(locations.c.blob_id)
                ).all()
            )
            # A registry's repository holding a blob is a reference too, and so is a file
            # of a Python package index.
            for table in (oci_blob_links, pypi_files):
                for blob_id, count in connection.execute(
                    select(table.c.blob_id, func.count()).group_by(table.c.blob_id)
                ).all():
                    references[blob_id] = references.get(blob_id, 0) + count
            recorded = connection.execute(select(blobs.c.id, blobs.c.key, blobs.c.refcount)).all()
        for blob in recorded:
            if blob.refcount != references.get(blob.id, 0) or blob.refcount < 1:
                found.append(
                    f"blob {blob.id} counts {blob.refcount} references, has "
                    f"{references.get(blob.id, 0)}"
                )
        keys = {blob.key for blob in recorded}
        listed = store.objects()
        # What a listing and the catalogue disagree on is asked for by name, both ways:
        # Swift may list a new object late, or a deleted one a while longer.
        stored = (listed & keys) | store.existing(listed ^ keys)
        found += [f"object {key} is in the store, not in the catalogue" for key in stored - keys]
        found += [f"object {key} is in the catalogue, not in the store" for key in keys - stored]
        for row in held:
            if row.status not in WITH_DATA:
                found.append(f"artifact {row.id} is {row.status} and still holds {row.key}")
                continue
            if (row.state, row.bs, row.bmd5, row.sha256) != (
                "ready", row.size, row.checksum, row.os_hash_value,
            ):  # fmt: skip
                found.append(f"artifact {row.id} and its blob disagree: {row}")
            if row.key in stored:
                actual = store.digests(row.key)
                if actual != Digests(row.size, row.checksum, row.os_hash_value):
                    found.append(f"artifact {row.id} is {row.status} but its bytes are {actual}")
        return found

    def statuses(self) -> dict[str, tuple[str, str | None]]:
        """Every artifact's status and SHA-256."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(artifacts.c.id, artifacts.c.status, artifacts.c.os_hash_value)
            ).all()
        return {row.id: (row.status, row.os_hash_value) for row in rows}


def wait_until_settled(catalogue: Catalogue, store: StoreView, timeout: float) -> float:
    """Seconds until nothing is in flight any more; fails, saying what is, after ``timeout``."""
    started = time.monotonic()
    while True:
        waiting = catalogue.in_flight() + [f"temporary {name}" for name in store.temporaries()]
        if not waiting:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"still in flight after {timeout} s: {waiting}")
        time.sleep(0.2)
