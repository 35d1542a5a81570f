"""A Python client for lading's Glance v2 face: what the ``lading`` CLI is built on.

>>> from lading.client import Client
>>> with Client("http://127.0.0.1:9292", token="...") as lading:
...     artifact = lading.create(name="cirros", disk_format="qcow2", container_format="bare")
...     lading.upload(artifact.id, Path("cirros.img"))
...     lading.download(artifact.id, Path("copy.img"))  # resumes, then checks the digest

Every failure the server reports is raised as the ``lading.errors`` class of its code
(``NotFound``, ``Conflict``, ...); a server that cannot be reached is ``ServerUnreachable``.
Bytes stream both ways in fixed chunks: nothing is held whole in memory.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self, cast
from urllib.parse import quote

import httpx

from lading import errors
from lading.errors import (
    BadAnswer,
    Conflict,
    DigestMismatch,
    LadingError,
    ServerUnreachable,
    TaskFailed,
)

__all__ = ["CHUNK", "Artifact", "Client", "Progress", "Task", "raise_for"]

CHUNK = 1024 * 1024
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
# Fields of the image document; every other key is a property.
FIELDS = frozenset({
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "container_format", "disk_format",
    "min_ram", "min_disk", "tags", "created_at", "updated_at", "self", "file", "schema",
    "version", "filename", "stores", "direct_url", "locations",
})  # fmt: skip
FINISHED = ("success", "failure")
RESUME_ATTEMPTS = 5  # a download cut off is picked up where it stopped, this many times

Progress = Callable[[int], None]  # told how many bytes have passed so far


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact as the v2 face shows it; ``document`` is the whole answer."""

    id: str
    name: str | None
    status: str
    visibility: str
    owner: str
    size: int | None
    checksum: str | None
    os_hash_algo: str | None
    os_hash_value: str | None
    created_at: str
    updated_at: str
    version: str | None = None
    filename: str | None = None
    disk_format: str | None = None
    container_format: str | None = None
    tags: list[str] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Artifact:
        with _answer_shape("an image"):
            return cls._of(document)

    @classmethod
    def _of(cls, document: dict[str, Any]) -> Artifact:
        get = document.get
        return cls(
            id=document["id"],
            name=get("name"),
            status=document["status"],
            visibility=document["visibility"],
            owner=document["owner"],
            size=get("size"),
            checksum=get("checksum"),
            os_hash_algo=get("os_hash_algo"),
            os_hash_value=get("os_hash_value"),
            created_at=document["created_at"],
            updated_at=document["updated_at"],
            version=get("version"),
            filename=get("filename"),
            disk_format=get("disk_format"),
            container_format=get("container_format"),
            tags=list(get("tags") or []),
            properties={key: value for key, value in document.items() if key not in FIELDS},
            document=document,
        )


@dataclass(frozen=True, slots=True)
class Task:
    """A task as the v2 face shows it; ``document`` is the whole answer."""

    id: str
    type: str
    status: str
    message: str
    done_bytes: int
    total_bytes: int | None
    artifact_id: str | None
    created_at: str
    result: dict[str, Any] | None = None
    document: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Task:
        with _answer_shape("a task"):
            return cls._of(document)

    @classmethod
    def _of(cls, document: dict[str, Any]) -> Task:
        progress = document.get("progress") or {}
        return cls(
            id=document["id"],
            type=document["type"],
            status=document["status"],
            message=document.get("message") or "",
            done_bytes=progress.get("done_bytes") or 0,
            total_bytes=progress.get("total_bytes"),
            artifact_id=document.get("image_id"),
            created_at=document["created_at"],
            result=document.get("result"),
            document=document,
        )


class Client:
    """Typed calls over ``/v2``; one connection pool, closed with the client."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"x-auth-token": token} if token else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def url(self) -> str:
        """The server's base URL, as given (without a trailing slash)."""
        return str(self._http.base_url).rstrip("/")

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request whose answer is returned whatever its status (a protocol that tells
        its cases by status, as tus does, reads them); transport failures are
        ``ServerUnreachable``, and ``raise_for`` turns a failed answer into its error."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"{self._http.base_url}: {exc}") from exc

    # Artifacts

    def create(self, **fields: Any) -> Artifact:
        """A new ``queued`` artifact: ``name``, ``disk_format``, ``tags``, properties..."""
        return Artifact.from_document(self._json("POST", "/v2/images", json=fields))

    def show(self, artifact_id: str) -> Artifact:
        return Artifact.from_document(self._json("GET", f"/v2/images/{artifact_id}"))

    def artifacts(
        self, filters: Mapping[str, str | list[str]] | None = None, *, page_size: int = 100
    ) -> Iterator[Artifact]:
        """Every artifact matching ``filters`` (as ``GET /v2/images`` takes them: name,
        status, tag...), page by page, following each answer's ``next`` link."""
        path: str | None = "/v2/images"
        params: list[tuple[str, str]] | None = [("limit", str(page_size))] + [
            (key, item)
            for key, value in (filters or {}).items()
            for item in ([value] if isinstance(value, str) else value)
        ]
        while path is not None:
            page = self._json("GET", path, params=params)
            yield from (Artifact.from_document(image) for image in _items(page, "images"))
            path, params = page.get("next"), None  # ``next`` carries the query

    def update(
        self,
        artifact_id: str,
        set_fields: Mapping[str, Any] | None = None,
        remove: Iterable[str] = (),
        *,
        add_tags: Iterable[str] = (),
        remove_tags: Iterable[str] = (),
    ) -> Artifact:
        """Set fields and properties, remove properties, add and remove tags: one JSON
        patch, so that the change is whole or not at all."""
        current = self.show(artifact_id).document
        patch = [
            {"op": "replace" if key in current else "add", "path": f"/{key}", "value": value}
            for key, value in (set_fields or {}).items()
        ] + [{"op": "remove", "path": f"/{key}"} for key in remove]
        dropped = set(remove_tags)
        tags = [tag for tag in current.get("tags", []) if tag not in dropped]
        tags += [tag for tag in dict.fromkeys(add_tags) if tag not in tags]
        if tags != current.get("tags", []):
            patch.append({"op": "replace", "path": "/tags", "value": tags})
        headers = {"content-type": PATCH_TYPE}
        body = self._request("PATCH", f"/v2/images/{artifact_id}", json=patch, headers=headers)
        return Artifact.from_document(body.json())

    def delete(self, artifact_id: str) -> None:
        self._request("DELETE", f"/v2/images/{artifact_id}")

    def publish(self, artifact_id: str, published: bool = True) -> None:
        """Publish (or unpublish) for public downloads, on the Click face (administrators)."""
        action = "publish" if published else "unpublish"
        self._request("POST", f"/click/packages/{artifact_id}/{action}")

    # Bytes

    def upload(
        self,
        artifact_id: str,
        source: Path | IO[bytes] | Iterable[bytes],
        size: int | None = None,
        *,
        store: str | None = None,
        progress: Progress | None = None,
    ) -> Artifact:
        """Stream bytes into a ``queued`` artifact: a path, a binary file or an iterable of
        chunks. Giving the size (known for a path) lets the server refuse early."""
        if isinstance(source, Path):
            size = source.stat().st_size if size is None else size
            with source.open("rb") as file:
                return self.upload(artifact_id, file, size, store=store, progress=progress)
        chunks = _chunks_of(cast(IO[bytes], source)) if hasattr(source, "read") else source
        headers = {"content-type": "application/octet-stream"}
        if size is not None:
            headers["content-length"] = str(size)
        if store is not None:
            headers["x-image-meta-store"] = store
        body = _reporting(chunks, progress)
        self._request("PUT", f"/v2/images/{artifact_id}/file", content=body, headers=headers)
        return self.show(artifact_id)

    def download(
        self, artifact_id: str, path: Path, *, progress: Progress | None = None
    ) -> Artifact:
        """Download into ``path`` through ``<path>.part``, picking up where an earlier
        download stopped (a Range request guarded by If-Range), and check the size and the
        digest before the file takes its name. A ``.part`` is resumed only when a digest
        will check it: one with wrong bytes then fails the download, and is removed."""
        artifact = self.show(artifact_id)
        if artifact.status != "active":
            raise Conflict(f"artifact {artifact.id} is {artifact.status}: no bytes to download")
        part = path.with_name(f"{path.name}.part")
        digest = _Digest.of(artifact)
        have = part.stat().st_size if part.exists() else 0
        if have and (digest.algorithm is None or have > (artifact.size or 0)):
            part.unlink()
            have = 0
        if have:
            digest.update_from(part)
        for attempt in range(RESUME_ATTEMPTS + 1):
            try:
                have = self._fetch(artifact, part, have, digest, progress)
                break
            except ServerUnreachable:
                if attempt == RESUME_ATTEMPTS:
                    raise
                have = part.stat().st_size if part.exists() else 0
                time.sleep(min(2**attempt * 0.2, 5.0))
        if artifact.size is not None and have != artifact.size:
            raise DigestMismatch(f"received {have} bytes of {artifact.size}")
        digest.check(part)
        part.replace(path)
        return artifact

    def _fetch(
        self, artifact: Artifact, part: Path, have: int, digest: _Digest, progress: Progress | None
    ) -> int:
        """Append what is missing to ``part``; the size it then has."""
        headers = {}
        if have:
            headers["range"] = f"bytes={have}-"
            if artifact.checksum:  # the ETag: a different file answers whole (200)
                headers["if-range"] = f'"{artifact.checksum}"'
        with self._stream("GET", f"/v2/images/{artifact.id}/file", headers=headers) as answer:
            if answer.status_code == 416 and have == artifact.size:
                return have  # it was all there already
            raise_for(answer)
            resumed = answer.headers.get("content-range", "").startswith(f"bytes {have}-")
            if answer.status_code != 206 or not resumed:
                have = 0
                digest.restart()
            if progress:
                progress(have)
            with part.open("ab" if have else "wb") as file:
                try:
                    for chunk in answer.iter_bytes():  # as they arrive: no re-chunking copies
                        file.write(chunk)
                        digest.update(chunk)
                        have += len(chunk)
                        if progress:
                            progress(have)
                except httpx.TransportError as exc:
                    file.flush()
                    raise ServerUnreachable(f"the download was cut off: {exc}") from exc
        return have

    def import_from(self, artifact_id: str, url: str, *, store: str | None = None) -> Task:
        """Start a ``web-download`` import of ``url`` into a ``queued`` artifact; its task."""
        body: dict[str, Any] = {"method": {"name": "web-download", "uri": url}}
        if store is not None:
            body["stores"] = [store]
        self._request("POST", f"/v2/images/{artifact_id}/import", json=body)
        tasks = self.tasks_of(artifact_id)
        if not tasks:
            raise TaskFailed(f"the import of {artifact_id} left no task")
        return max(tasks, key=lambda task: task.created_at)

    # Tasks

    def task(self, task_id: str) -> Task:
        return Task.from_document(self._json("GET", f"/v2/tasks/{task_id}"))

    def tasks(
        self, filters: Mapping[str, str] | None = None, *, page_size: int = 100
    ) -> Iterator[Task]:
        """Every task the caller may see (``filters``: status, type), newest first."""
        path: str | None = "/v2/tasks"
        params: dict[str, str] | None = {"limit": str(page_size), **(filters or {})}
        while path is not None:
            page = self._json("GET", path, params=params)
            yield from (Task.from_document(task) for task in _items(page, "tasks"))
            path, params = page.get("next"), None

    def tasks_of(self, artifact_id: str) -> list[Task]:
        answer = self._json("GET", f"/v2/images/{artifact_id}/tasks")
        return [Task.from_document(task) for task in _items(answer, "tasks")]

    def wait(
        self,
        task_id: str,
        *,
        interval: float = 0.5,
        timeout: float | None = None,
        progress: Callable[[Task], None] | None = None,
    ) -> Task:
        """Poll a task until it finishes; ``TaskFailed`` when it fails."""
        deadline = None if timeout is None else time.monotonic() + timeout
        lost = 0  # polls in a row that did not reach the server
        while True:
            try:
                task = self.task(task_id)
            except ServerUnreachable:
                lost += 1
                if lost > RESUME_ATTEMPTS:
                    raise
                time.sleep(min(interval * 2**lost, 10.0))
                continue
            lost = 0
            if progress:
                progress(task)
            if task.status == "success":
                return task
            if task.status == "failure":
                raise TaskFailed(f"task {task.id} ({task.type}) failed: {task.message}")
            if deadline is not None and time.monotonic() > deadline:
                raise TaskFailed(f"task {task.id} did not finish within {timeout} s")
            time.sleep(interval)

    # Package names

    def package_name(self, name: str) -> dict[str, Any]:
        """Who owns a package name and who else may publish under it."""
        return self._name_document("GET", name, "")

    def package_names(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """The names the caller's project owns or may publish under (all: an admin)."""
        path: str | None = "/v2/package-names"
        params: dict[str, str] | None = {"limit": str(page_size)}
        while path is not None:
            page = self._json("GET", path, params=params)
            yield from _items(page, "package_names")
            path, params = page.get("next"), None

    def give_package_name(self, name: str, project: str) -> dict[str, Any]:
        """An administrator's: the name becomes ``project``'s."""
        return self._name_document("PUT", name, "/owner", json={"owner": project})

    def set_publishers(self, name: str, projects: Iterable[str]) -> dict[str, Any]:
        """The owner's: the other projects that may publish under the name."""
        return self._name_document("PUT", name, "/publishers", json={"publishers": list(projects)})

    # The Python package index (/pypi): the management API, in JSON

    def pypi_indexes(self) -> list[dict[str, Any]]:
        """The indexes the caller may read."""
        found = self._json("GET", "/pypi/", headers=_JSON)
        return list(found.get("indexes", [])) if isinstance(found, dict) else []

    def put_pypi_index(
        self, name: str, owner: str | None, visibility: str, bases: Iterable[str]
    ) -> dict[str, Any]:
        """An administrator's: make an index, or change one made through the API."""
        body: dict[str, Any] = {"visibility": visibility, "bases": list(bases)}
        if owner is not None:
            body["owner"] = owner
        path = f"/pypi/{quote(name, safe='')}/"
        return dict(self._json("PUT", path, json=body, headers=_JSON))

    def delete_pypi_index(self, name: str) -> None:
        self._request("DELETE", f"/pypi/{quote(name, safe='')}/", headers=_JSON)

    def yank(
        self, index: str, project: str, version: str, reason: str | None = None, undo: bool = False
    ) -> int:
        """Yank a release (every file of it), or restore it: how many files it has."""
        path = f"{_release_path(index, project, version)}/{'unyank' if undo else 'yank'}"
        body = {} if reason is None else {"reason": reason}
        return int(self._json("POST", path, json=body, headers=_JSON)["files"])

    def delete_release(
        self, index: str, project: str, version: str, filename: str | None = None
    ) -> int:
        """Remove a release's files, or one of them: how many went."""
        if filename is None:
            path = _release_path(index, project, version)
        else:
            parts = (index, project, filename)
            path = "/pypi/{}/files/{}/{}".format(*(quote(part, safe="") for part in parts))
        return int(self._json("DELETE", path, headers=_JSON)["files"])

    def allow_reuse(self, index: str, filename: str) -> None:
        """An administrator's: a deleted file's name may be uploaded again."""
        path = "/pypi/{}/deleted-files/{}".format(*(quote(p, safe="") for p in (index, filename)))
        self._request("DELETE", path, headers=_JSON)

    def _name_document(self, method: str, name: str, part: str, **kwargs: Any) -> dict[str, Any]:
        path = f"/v2/package-names/{quote(name, safe='')}{part}"
        with _answer_shape("a package name"):
            document = self._json(method, path, **kwargs)
            if not isinstance(document, dict) or "owner" not in document:
                raise TypeError(document)
            return document

    # Registry repositories

    def repositories(self, *, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """The caller's project's OCI registry repositories (all: an admin), with sizes."""
        path: str | None = "/v2/registry/repositories"
        params: dict[str, str] | None = {"limit": str(page_size)}
        while path is not None:
            page = self._json("GET", path, params=params)
            yield from _items(page, "repositories")
            path, params = page.get("next"), None

    def repository(self, name: str) -> dict[str, Any]:
        return self._repository_document("GET", name)

    def set_repository_visibility(self, name: str, visibility: str) -> dict[str, Any]:
        """Its project's members': public (anyone pulls it) or private."""
        return self._repository_document("PATCH", name, json={"visibility": visibility})

    def _repository_document(self, method: str, name: str, **kwargs: Any) -> dict[str, Any]:
        # A repository's name keeps its slashes: the route takes them (team/app).
        path = f"/v2/registry/repositories/{quote(name, safe='/')}"
        with _answer_shape("a registry repository"):
            document = self._json(method, path, **kwargs)
            if not isinstance(document, dict) or "visibility" not in document:
                raise TypeError(document)
            return document

    def retention_policies(self, project: str | None = None) -> list[dict[str, Any]]:
        """The caller's project's retention policies (an admin's: all, or ``project``'s)."""
        params = {} if project is None else {"project": project}
        return _items(self._json("GET", "/v2/retention/policies", params=params), "policies")

    def create_retention_policy(self, **fields: Any) -> dict[str, Any]:
        """A retention policy (docs/retention.md): ``pattern``, ``kind``, keep rules and
        graces; ``project`` for an administrator's policy of another project."""
        with _answer_shape("a retention policy"):
            document = self._json("POST", "/v2/retention/policies", json=fields)
            if not isinstance(document, dict) or "id" not in document:
                raise TypeError(document)
            return document

    def delete_retention_policy(self, policy_id: str) -> None:
        self._request("DELETE", f"/v2/retention/policies/{quote(policy_id, safe='')}")

    def retention_plan(self, project: str | None = None, limit: int | None = None) -> Any:
        """What the retention policies would do, changing nothing (docs/retention.md)."""
        params = {key: str(value) for key, value in (("project", project), ("limit", limit))
                  if value is not None}  # fmt: skip
        return self._json("GET", "/v2/retention/plan", params=params)

    def retention_run(self, project: str | None = None) -> Task:
        """A run of the retention policies, as a task."""
        body = {} if project is None else {"project": project}
        return Task.from_document(self._json("POST", "/v2/retention/runs", json=body))

    # HTTP

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._request(method, path, **kwargs)
        try:
            return answer.json()
        except ValueError as exc:
            raise BadAnswer(f"{answer.url} answered {answer.status_code} without JSON") from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self.send(method, path, **kwargs)
        raise_for(answer)
        return answer

    def _stream(self, method: str, path: str, **kwargs: Any) -> _Answer:
        return _Answer(self._http, self._http.build_request(method, path, **kwargs))


class _Answer:
    """A streamed answer whose transport errors are ``ServerUnreachable``."""

    def __init__(self, http: httpx.Client, request: httpx.Request) -> None:
        self._http, self._request = http, request
        self._answer: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        try:
            self._answer = self._http.send(self._request, stream=True)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"{self._request.url}: {exc}") from exc
        return self._answer

    def __exit__(self, *exc_info: object) -> None:
        if self._answer is not None:
            self._answer.close()


class _Digest:
    """The digest a download must match: the multihash when there is one, else MD5."""

    def __init__(self, algorithm: str | None, expected: str | None) -> None:
        self.algorithm, self.expected = algorithm, expected
        self.restart()

    @classmethod
    def of(cls, artifact: Artifact) -> _Digest:
        if artifact.os_hash_algo and artifact.os_hash_value:
            return cls(artifact.os_hash_algo, artifact.os_hash_value)
        return cls("md5" if artifact.checksum else None, artifact.checksum)

    def restart(self) -> None:
        self._hash = hashlib.new(self.algorithm) if self.algorithm else None

    def update(self, chunk: bytes) -> None:
        if self._hash is not None:
            self._hash.update(chunk)

    def update_from(self, path: Path) -> None:
        with path.open("rb") as file:
            for chunk in _chunks_of(file):
                self.update(chunk)

    def check(self, part: Path) -> None:
        if self._hash is None or self._hash.hexdigest() == self.expected:
            return
        part.unlink()  # resuming from wrong bytes would only repeat the failure
        raise DigestMismatch(
            f"the {self.algorithm} of the bytes received is {self._hash.hexdigest()}, "
            f"the artifact's is {self.expected}; the partial file was removed"
        )


@contextlib.contextmanager
def _answer_shape(what: str) -> Iterator[None]:
    """A JSON answer that is not the document expected is ``BadAnswer``, not a crash."""
    try:
        yield
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadAnswer(f"the server's answer is not {what}: {exc!r}") from exc


def _items(page: Any, key: str) -> list[dict[str, Any]]:
    with _answer_shape(f"a list of {key}"):
        items = page[key]
        if not isinstance(items, list):
            raise TypeError(f"{key} is not a list")
        return items


def _chunks_of(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(CHUNK):
        yield chunk


def _reporting(chunks: Iterable[bytes], progress: Progress | None) -> Iterator[bytes]:
    sent = 0
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        if progress:
            progress(sent)


_JSON = {"accept": "application/json"}  # the index's errors in OpenStack's shape


def _release_path(index: str, project: str, version: str) -> str:
    return "/pypi/{}/projects/{}/{}".format(*(quote(p, safe="") for p in (index, project, version)))


def raise_for(answer: httpx.Response) -> None:
    """Raise the ``lading.errors`` class of a failed answer, with the server's message."""
    if answer.is_success or answer.status_code == 304:
        return
    answer.read()
    code, message = _error_of(answer)
    kind = _errors_by_code().get(code) or _class_for_status(answer.status_code)
    error = kind.__new__(kind)  # some classes take more than a message to build
    LadingError.__init__(error, message, dict(answer.headers))
    raise error


def _error_of(answer: httpx.Response) -> tuple[str, str]:
    """The code and message of an OpenStack-shaped error body (``{code: {message}}``)."""
    try:
        body = answer.json()
        (code, detail), *_ = body.items()
        return str(code), str(detail.get("message") or detail.get("title"))
    except (ValueError, AttributeError, TypeError):
        text = answer.text.strip()[:500] or answer.reason_phrase
        return "", f"{answer.status_code} {text}"


@functools.cache
def _errors_by_code() -> dict[str, type[LadingError]]:
    """Every error class by its code; the most general wins a shared code (``LadingError``
    for ``internalError``, ``StoreError`` for ``storeUnavailable``)."""
    found: dict[str, type[LadingError]] = {}
    pending = [LadingError]
    while pending:
        kind = pending.pop(0)
        found.setdefault(kind.code, kind)
        pending += kind.__subclasses__()
    return found


ERRORS_BY_STATUS: dict[int, type[LadingError]] = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    409: errors.Conflict,
    410: errors.Gone,
    413: errors.TooLarge,
    415: errors.UnsupportedMediaType,
    416: errors.RangeNotSatisfiable,
    507: errors.StoreFull,
}


def _class_for_status(status: int) -> type[LadingError]:
    if status in ERRORS_BY_STATUS:
        return ERRORS_BY_STATUS[status]
    return errors.BadRequest if status < 500 else LadingError
