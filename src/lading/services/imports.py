"""Glance's interoperable import: an image's data comes from elsewhere, as a task.

``glance-direct``: the data was staged (``PUT /v2/images/{id}/stage``: ``uploading``);
the import makes it the image's data (``importing`` -> ``active``).

``web-download``: the image goes ``queued`` -> ``importing`` at once and a task fetches
the URL (``lading.services.fetching``: its rules, redirects, resume) into the store;
the image becomes ``active``. Besides Glance's ``uri``, the method takes lading's
optional ``sha256`` and ``md5``, checked against the bytes.

``glance-download`` (with Keystone): as web-download, from another region's image
service found in Keystone's catalogue (lading.services.glance_download); the image takes
the remote's formats and some of its properties as it becomes active.

With several stores, an import writes to the ``stores`` asked for (or ``all_stores``):
the data goes into the first store that takes it, then is copied to the others, each copy
checked against the original's SHA-256; ``os_glance_importing_to_stores`` lists the stores
still to come and the image stays ``importing`` until all were tried. With
``all_stores_must_succeed`` (the default) one store failing fails the import; without, the
failed stores are listed in ``os_glance_failed_import`` and the image becomes active if
one store has it.

With ``[image_conversion] output_format`` set, the data of a disk image of another format
is converted to it once in the first store (lading.services.conversion), before the
copies to the others.

A failed import puts the image back to ``queued`` with its staged or partial data
dropped, and ``os_glance_failed_import`` saying on which stores.

``container-disk`` (with the OCI registry on, ``oci.port``): as web-download, from a
container disk pushed to the registry (``reference``: ``<repository>:<tag>`` or
``<repository>@<digest>``), which the caller must be able to pull when it asks; the
manifest's digest is fixed then, and the task streams that manifest's disk out of its
layer (lading.services.disk_imports), checked as the image's disk_format says.

``copy-image`` (with several stores): an ``active`` image's data is copied to more stores
in the same way; the image stays active throughout, and a copy that must succeed and
fails undoes the copies the task made. Once it ends, ``os_glance_importing_to_stores`` stays
on the image, empty, beside ``os_glance_failed_import`` (empty unless a store failed), as
Glance leaves them and Tempest waits for them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import artifacts as artifact_queries
from lading.db import imports as queries
from lading.db.blobs import Blob
from lading.db.engine import Database
from lading.domain import Artifact, Location, Status, Task
from lading.errors import BadRequest, Conflict, LadingError, NotFound, StoreError, TooLarge
from lading.services import validation
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.conversion import Conversion
from lading.services.disk_imports import DiskImports, split_reference
from lading.services.fetching import (
    CREDENTIAL_FIELDS,
    Fetch,
    credentials_given,
    open_credentials,
    seal_credentials,
)
from lading.services.glance_download import METHOD as GLANCE_DOWNLOAD
from lading.services.glance_download import GlanceDownload, RemoteImage
from lading.services.oci import Access, check_name
from lading.services.roles import ADMIN
from lading.services.sealing import Sealer
from lading.services.tasks import Progress, Tasks, Undo, reporting
from lading.services.transfers import Expected, Transfers
from lading.services.validation import Changes
from lading.settings import Settings
from lading.url_rules import UrlRules

if TYPE_CHECKING:
    from lading.services.keystone import KeystoneTokens  # keystoneauth1: only with Keystone

TASK_TYPE = "api_image_import"  # Glance's name for import tasks
METHODS = ("glance-direct", "web-download")
COPY = "copy-image"  # offered with several stores
CONTAINER_DISK = "container-disk"  # offered with the OCI registry
FAILED_STATUS = "failed_status"  # in a task's input: the image's status if it fails
# Where each method's image must stand: web-download and glance-download fill a queued
# image, glance-direct imports what was staged.
SOURCES = {
    "glance-direct": Status.UPLOADING,
    "web-download": Status.QUEUED,
    GLANCE_DOWNLOAD: Status.QUEUED,
    CONTAINER_DISK: Status.QUEUED,
}


class Imports:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        catalogue: Catalogue,
        transfers: Transfers,
        tasks: Tasks,
        sealer: Sealer,
        keystone: KeystoneTokens | None = None,
        clock: Clock | None = None,
        disks: DiskImports | None = None,
    ) -> None:
        self._clock = clock or Clock()
        # Offered where the registry listens: the container disks are pushed there.
        self._disks = disks if settings.oci.port is not None else None
        self._rules = UrlRules(settings.fetch)
        self._quota = settings.quota
        # Offered with Keystone only: its catalogue says where the other regions are.
        self._glance = None if keystone is None else GlanceDownload(settings, keystone, sealer)
        self._sealer = sealer
        self._database = database
        self._catalogue = catalogue
        self._transfers = transfers
        self._tasks = tasks
        self._conversion = Conversion(settings, database, catalogue, transfers)
        tasks.register(TASK_TYPE, self._run, Undo(self._undo, self._catalogue.discard))

    @property
    def methods(self) -> tuple[str, ...]:
        methods = METHODS if self._glance is None else (*METHODS, GLANCE_DOWNLOAD)
        if self._disks is not None:
            methods = (*methods, CONTAINER_DISK)
        return (*methods, COPY) if self._transfers.store_choices() else methods

    async def start(
        self,
        caller: Caller,
        artifact_id: str,
        body: Any,
        *,
        request_id: str | None = None,
        killed_on_failure: bool = False,
        require_formats: bool = True,
    ) -> Task:
        """Check the request, then hand the import to a task; the image is ``importing``.
        ``request_id``: the request's, which the task keeps (as Glance's do);
        ``killed_on_failure``: a failure leaves the image ``killed`` rather than queued
        (Glance v1's copy-from); ``require_formats``: an image without a disk or container
        format is refused (Glance v2's import; not the fetches other faces start)."""
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require_owner(artifact, "modify_image")
        task_input = self._parse(body, artifact.locations, caller)
        if task_input["method"] == COPY:
            caller.require("copy_image", artifact)
        elif require_formats:
            # Glance refuses to move an image towards active without both formats.
            validation.require_formats(artifact)
        if task_input["method"] == CONTAINER_DISK:
            assert self._disks is not None
            # What the caller may pull now, fixed: the task reads that manifest.
            task_input["digest"] = await self._disks.resolve(
                Access(caller), task_input["repository"], task_input["reference"]
            )
        task_input |= self._as_glance_keeps(artifact.id, body, task_input)
        if killed_on_failure:
            task_input[FAILED_STATUS] = Status.KILLED.value
        task = self._tasks.new(caller.project, TASK_TYPE, task_input, artifact.id,
                               request_id=request_id, user_id=caller.user)  # fmt: skip
        if task_input["method"] == COPY:
            if not await self._database.write(
                queries.start_copy, task, task_input["stores"], self._clock.now()
            ):
                raise Conflict(f"copy-image needs an active image with no import under way; "
                               f"{artifact.id} is {artifact.status}")  # fmt: skip
            return task
        source = SOURCES[task_input["method"]]
        if not await self._database.write(
            queries.start, task, source, task_input["stores"], self._clock.now()
        ):
            raise Conflict(
                f"{task_input['method']} imports into an image that is {source} (and done "
                f"receiving); {artifact.id} is {artifact.status}"
            )
        return task

    async def create_fetched(
        self,
        caller: Caller,
        changes: Changes,
        artifact_id: str | None,
        uri: str,
        *,
        request_id: str | None = None,
    ) -> Artifact:
        """A new image whose data a web-download task fetches from ``uri`` (Glance v1's
        copy-from); a URL the rules refuse is refused before the image is made."""
        caller.require("copy_from")
        task = await self.start_fetched(
            caller, changes, artifact_id, uri, request_id=request_id, killed_on_failure=True
        )
        assert task.artifact_id is not None
        return await self._catalogue.get(caller, task.artifact_id)

    async def start_fetched(
        self,
        caller: Caller,
        changes: Changes,
        artifact_id: str | None,
        uri: str,
        sha256: str | None = None,
        *,
        published: bool = True,
        request_id: str | None = None,
        killed_on_failure: bool = False,
    ) -> Task:
        """As ``create_fetched``, giving the task that fetches (the web UI follows it);
        ``sha256``, when given, is checked against the bytes."""
        method = {"name": "web-download", "uri": uri} | ({"sha256": sha256} if sha256 else {})
        body = {"method": method}
        self._parse(body, [])
        artifact = await self._catalogue.create(caller, changes, artifact_id, published=published)
        return await self.start(
            caller, artifact.id, body, request_id=request_id,
            killed_on_failure=killed_on_failure, require_formats=False,
        )  # fmt: skip

    async def start_legacy(
        self, caller: Caller, body: Any, *, request_id: str | None = None
    ) -> Task:
        """Glance's legacy task API (``POST /v2/tasks``, type ``import``): an image made of
        ``image_properties``, its data fetched from ``import_from`` by a web-download task,
        which is the task returned. Glance keeps the API to administrators
        (``tasks_api_access``); a URL the rules refuse is refused before the image is made."""
        caller.require("tasks_api_access")
        caller.require("add_task")
        if not isinstance(body, dict) or body.get("type") != "import":
            raise BadRequest('a task is {"type": "import", "input": {...}}: only imports are made')
        task_input = body.get("input")
        if not isinstance(task_input, dict) or not isinstance(task_input.get("import_from"), str):
            raise BadRequest("an import task's input needs import_from: the URL to fetch")
        properties = task_input.get("image_properties", {})
        if not isinstance(properties, dict) or not isinstance(
            task_input.get("import_from_format", ""), str
        ):
            raise BadRequest("image_properties must be an object, import_from_format a string")
        return await self.start_fetched(
            caller, Changes.of_document(properties), None, task_input["import_from"],
            request_id=request_id,
        )  # fmt: skip

    def _parse(
        self, body: Any, locations: list[Location], caller: Caller | None = None
    ) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise BadRequest('the body must be {"method": {"name": ...}, ...}')
        method = body["method"]
        name = method.get("name")
        if name not in self.methods:
            raise BadRequest(f"import method {name!r} is not offered; use one of {self.methods}")
        stores = self._targets(body)
        must_succeed = body.get("all_stores_must_succeed", True)
        if not isinstance(must_succeed, bool):
            raise BadRequest("all_stores_must_succeed must be a boolean")
        if name == COPY:
            holding = {location.store for location in locations}
            if not stores:
                raise BadRequest("copy-image needs stores, or all_stores")
            stores = [store for store in stores if store not in holding]
            if not stores:
                raise Conflict("the image is in every one of those stores already")
            return {"method": COPY, "stores": stores, "all_stores_must_succeed": must_succeed}
        task_input = {"method": name, "stores": stores, "all_stores_must_succeed": must_succeed}
        for key in ("sha256", "md5"):
            task_input[key] = method.get(key)
            if not isinstance(task_input[key], str | None):
                raise BadRequest("sha256 and md5 must be hexadecimal strings")
        if name == "web-download":
            uri, credentials = credentials_given(method.get("uri"), method, "uri")
            self._rules.check_url(uri)  # refused at once when the URL itself breaks the rules
            task_input["uri"] = uri
            task_input.update(seal_credentials(credentials, self._sealer))
        if name == GLANCE_DOWNLOAD:
            assert self._glance is not None and caller is not None
            task_input.update(self._glance.parse(caller, method))
        if name == CONTAINER_DISK:
            reference = method.get("reference")
            if not isinstance(reference, str):
                raise BadRequest("container-disk needs reference: <repository>:<tag> or @<digest>")
            repository, task_input["reference"] = split_reference(reference)
            task_input["repository"] = check_name(repository)
        return task_input

    def _as_glance_keeps(
        self, artifact_id: str, body: dict[str, Any], task_input: dict[str, Any]
    ) -> dict[str, Any]:
        """What Glance's import task holds besides lading's own keys: the image, the
        request as it came (``import_req``; credentials left out, they are kept sealed
        apart) and the stores written to (``backend``; [None]: the single store)."""
        request = copy.deepcopy(body)
        method = request["method"]
        for key in CREDENTIAL_FIELDS:
            method.pop(key, None)
        if "uri" in task_input:
            method["uri"] = task_input["uri"]  # without any user:password@
        if task_input["method"] == GLANCE_DOWNLOAD:  # as Glance fills it in
            method["glance_service_interface"] = task_input["glance_service_interface"]
        default = self._transfers.default_store if self._transfers.store_choices() else None
        backend = task_input["stores"] or [default]
        return {"image_id": artifact_id, "import_req": request, "backend": backend}

    def _targets(self, body: dict[str, Any]) -> list[str]:
        """The stores an import writes to (``stores``, or ``all_stores``); empty: the
        default store."""
        choices = [choice.name for choice in self._transfers.store_choices()]
        if body.get("all_stores", False) not in (True, False):
            raise BadRequest("all_stores must be a boolean")
        names = choices if body.get("all_stores") else body.get("stores", [])
        if not isinstance(names, list) or not all(
            isinstance(name, str) and name in choices for name in names
        ):
            raise BadRequest(f"stores must name stores among {choices}" if choices else
                             "this server has a single store: leave stores out")  # fmt: skip
        return list(dict.fromkeys(names))

    async def _run(self, task: Task, progress: Progress) -> dict[str, Any]:
        assert task.artifact_id is not None
        await progress.report(0, None, "Starting")  # still this runner's task?
        artifact = await self._database.read(artifact_queries.fetch_artifact, task.artifact_id)
        held = await self._database.read(queries.held_by, task.artifact_id, task.id)
        method = task.input["method"]
        # copy-image leaves the image as it is; the others hold it importing
        expected = (Status.ACTIVE, Status.DEACTIVATED) if method == COPY else (Status.IMPORTING,)
        if artifact is None or artifact.status not in expected or not held:
            raise NotFound(f"image {task.artifact_id} is no longer importing with this task")
        if method == COPY:
            return await self._copy(task, artifact, progress)
        return await self._import(task, artifact, progress)

    async def _import(self, task: Task, artifact: Artifact, progress: Progress) -> dict[str, Any]:
        """glance-direct or web-download: the data into the first store that takes it,
        then copied to the others; the image stays importing until all were tried."""
        targets: list[str] = task.input["stores"] or [self._transfers.default_store]
        plan = _Plan(list(targets), task.input.get("all_stores_must_succeed", True))
        remote: RemoteImage | None = None
        if task.input["method"] == GLANCE_DOWNLOAD:
            remote = await self._remote(task, progress)
        if task.input["method"] in ("web-download", GLANCE_DOWNLOAD, CONTAINER_DISK):
            await self._download(task, _as(artifact, remote), progress, plan, remote)
            artifact = await self._reread(artifact.id, remote)  # with its data now
        elif not artifact.locations:
            raise Conflict(f"image {artifact.id} has no staged data to import")
        if self._conversion.wanted(artifact):  # Glance's image_conversion plugin
            await self._conversion.convert(artifact, progress)
            artifact = await self._reread(artifact.id, remote, converted=True)
        await self._copy_to(artifact, plan, progress)
        staged = {location.store for location in artifact.locations} - set(targets)
        if not plan.done:
            raise LadingError(f"the import failed in every store ({', '.join(plan.failed)})")
        for store in staged:  # glance-direct staged the data outside the stores asked for
            await self._transfers.uncopy(artifact.id, store)

        if (
            remote is not None
            and len(artifact.properties | remote.properties) > self._quota.properties
        ):
            raise TooLarge(f"with the remote image's properties, {artifact.id} would have more "
                           f"than {self._quota.properties}")  # fmt: skip

        def activate(connection: Connection) -> bool:
            if not queries.activate(
                connection, artifact.id, task.id, plan.failed, self._clock.now()
            ):
                return False
            if remote is not None:  # what the other region says of the data, with it
                queries.describe(connection, artifact.id, artifact.disk_format,
                                 artifact.container_format, remote.properties)  # fmt: skip
            self._catalogue.activated(connection, artifact.id, None)  # the worker's doing
            return True

        if not await self._database.write(activate):
            raise NotFound(f"image {artifact.id} is no longer importing with this task")
        await progress.report(artifact.size or 0, artifact.size, "Imported")
        return {"image_id": artifact.id, "stores": plan.done, "failed_stores": plan.failed}

    async def _remote(self, task: Task, progress: Progress) -> RemoteImage:
        assert self._glance is not None
        await progress.report(0, None, f"Reading image {task.input['glance_image_id']} of "
                              f"region {task.input['glance_region']}")  # fmt: skip
        return await self._glance.describe(task.input)

    async def _reread(
        self, artifact_id: str, remote: RemoteImage | None, converted: bool = False
    ) -> Artifact:
        """The image as the database has it now, with the remote's formats (a conversion's
        output format kept) that it takes when it becomes active."""
        found = await self._database.read(artifact_queries.fetch_artifact, artifact_id)
        if found is None:
            raise NotFound(f"image {artifact_id} was deleted during the import")
        described = _as(found, remote)
        return (
            dataclasses.replace(described, disk_format=found.disk_format)
            if converted
            else described
        )

    async def _download(
        self,
        task: Task,
        artifact: Artifact,
        progress: Progress,
        plan: _Plan,
        remote: RemoteImage | None = None,
    ) -> None:
        """The URL's (or the remote image's) bytes into the first of the plan's stores
        that takes them."""
        credentials = open_credentials(task.input, self._sealer)
        for store in list(plan.remaining):
            announced = None if remote is None else remote.size
            if task.input["method"] == CONTAINER_DISK:
                assert self._disks is not None
                # The caller's right to pull was checked as it asked, for this digest.
                operator = Access(Caller.with_role(task.owner, ADMIN))
                disk = await self._disks.disk(
                    operator, task.input["repository"], task.input["digest"]
                )
                fetch: Any = disk
                chunks: AsyncIterable[bytes] = disk.chunks()
                expected = Expected(task.input.get("md5"), task.input.get("sha256"))
                announced = disk.size
            elif remote is None:
                fetch = Fetch(task.input["uri"], self._rules, credentials)
                chunks = fetch.chunks()
                expected = Expected(task.input.get("md5"), task.input.get("sha256"))
            else:
                assert self._glance is not None
                fetch = self._glance.fetch(task.input, remote)
                chunks = self._glance.checked(fetch.chunks(), remote)
                expected = self._glance.expected(remote)
            try:
                await self._transfers.import_data(
                    artifact,
                    reporting(chunks, progress, fetch),
                    store,
                    expected,
                    announced_size=announced,
                )
            except StoreError as exc:
                plan.fail(store, exc)
                await self._database.write(queries.copying, artifact.id, *plan.where)
                continue
            plan.succeed(store)
            return

    async def _copy_to(self, artifact: Artifact, plan: _Plan, progress: Progress) -> None:
        """The artifact's data copied to each store still to come in the plan."""

        def watch(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
            return reporting(chunks, progress, artifact)

        for store in list(plan.remaining):
            await progress.report(0, artifact.size, f"Copying to {store}")
            try:
                await self._transfers.copy(artifact, store, watch)
            except StoreError as exc:
                plan.fail(store, exc)
            else:
                plan.succeed(store)
            await self._database.write(queries.copying, artifact.id, *plan.where)

    async def _copy(self, task: Task, artifact: Artifact, progress: Progress) -> dict[str, Any]:
        plan = _Plan(list(task.input["stores"]), task.input["all_stores_must_succeed"])
        try:
            await self._copy_to(artifact, plan, progress)
        except LadingError:
            for undone in plan.done:
                await self._transfers.uncopy(artifact.id, undone)
            raise
        await self._database.write(queries.succeed_copy, artifact.id, plan.failed)
        await progress.report(
            artifact.size or 0, artifact.size, f"Copied to {', '.join(plan.done) or 'no store'}"
        )
        return {"image_id": artifact.id, "stores": plan.done, "failed_stores": plan.failed}

    def _undo(self, connection: Connection, task: Task, moment: datetime) -> list[Blob]:
        """In the failure's transaction: the image as it was before the task (copy-image
        leaves it active; an import puts it back to queued, releasing what it stored)."""
        assert task.artifact_id is not None
        if task.input["method"] == COPY:
            queries.end_copy(connection, task.artifact_id, task.id, task.input["stores"])
            return []
        stores = task.input.get("stores") or [self._transfers.default_store]
        failed = Status(task.input.get(FAILED_STATUS, Status.QUEUED.value))
        return queries.fail(connection, task.artifact_id, task.id, stores, moment, failed)


def _as(artifact: Artifact, remote: RemoteImage | None) -> Artifact:
    """The image as a glance-download makes it: the remote's formats (its data is
    inspected as the remote's disk_format says)."""
    if remote is None:
        return artifact
    return dataclasses.replace(
        artifact, disk_format=remote.disk_format, container_format=remote.container_format
    )


@dataclass(slots=True)
class _Plan:
    """The stores an import or copy writes to, as they succeed or fail."""

    remaining: list[str]
    must_succeed: bool
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def where(self) -> tuple[list[str], list[str]]:
        """The stores still to come and those that failed, as the image's properties say."""
        return self.remaining, self.failed

    def succeed(self, store: str) -> None:
        self.remaining.remove(store)
        self.done.append(store)

    def fail(self, store: str, error: StoreError) -> None:
        """Note the failure; the whole task fails when every store must succeed."""
        if self.must_succeed:
            raise LadingError(f"writing to store {store!r} failed: {error}") from error
        self.remaining.remove(store)
        self.failed.append(store)
