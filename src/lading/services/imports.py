"""Glance's interoperable import: an image's data comes from elsewhere, as a task.

``glance-direct``: the data was staged (``PUT /v2/images/{id}/stage``: ``uploading``);
the import makes it the image's data (``importing`` -> ``active``).

``web-download``: the image goes ``queued`` -> ``importing`` at once and a task fetches
the URL (``lading.services.fetching``: its rules, redirects, resume) into the store;
the image becomes ``active``. Besides Glance's ``uri``, the method takes lading's
optional ``sha256`` and ``md5``, checked against the bytes.

A failed import puts the image back to ``queued`` with its staged or partial data
dropped, and ``os_glance_failed_import`` saying on which stores.

``copy-image`` (with several stores): an ``active`` image's data is copied to more stores
(``stores``, or ``all_stores``); the image stays active, ``os_glance_importing_to_stores``
lists the stores still to come. With ``all_stores_must_succeed`` (the default) one failure
undoes the copies the task made; without, the failed stores are listed in
``os_glance_failed_import`` and the others kept.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from lading.db import artifacts as artifact_queries
from lading.db import imports as queries
from lading.db.engine import Database
from lading.domain import Artifact, Location, Status, Task
from lading.errors import BadRequest, Conflict, LadingError, NotFound
from lading.services.access import Caller
from lading.services.catalogue import Catalogue, now
from lading.services.fetching import Fetch, UrlRules
from lading.services.tasks import Progress, Tasks
from lading.services.transfers import Expected, Transfers
from lading.settings import Settings

TASK_TYPE = "api_image_import"  # Glance's name for import tasks
METHODS = ("glance-direct", "web-download")
COPY = "copy-image"  # offered with several stores
# Where each method's image must stand: web-download fills a queued image, glance-direct
# imports what was staged.
SOURCES = {"glance-direct": Status.UPLOADING, "web-download": Status.QUEUED}
MiB = 1024 * 1024
REPORT_EVERY = 1.0  # seconds between progress reports (each also renews the task's lease)


class Imports:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        catalogue: Catalogue,
        transfers: Transfers,
        tasks: Tasks,
    ) -> None:
        self._rules = UrlRules(settings.fetch)
        self._database = database
        self._catalogue = catalogue
        self._transfers = transfers
        self._tasks = tasks
        tasks.register(TASK_TYPE, self._run, self._undo)

    @property
    def methods(self) -> tuple[str, ...]:
        return (*METHODS, COPY) if self._transfers.store_choices() else METHODS

    async def start(self, caller: Caller, artifact_id: str, body: Any) -> Task:
        """Check the request, then hand the import to a task; the image is ``importing``."""
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require_owner(artifact, "modify_image")
        task_input = self._parse(body, artifact.locations)
        task = self._tasks.new(caller.project, TASK_TYPE, task_input, artifact.id)
        if task_input["method"] == COPY:
            if not await self._database.write(
                queries.start_copy, task, task_input["stores"], now()
            ):
                raise Conflict(f"copy-image needs an active image with no import under way; "
                               f"{artifact.id} is {artifact.status}")  # fmt: skip
            return task
        source = SOURCES[task_input["method"]]
        if not await self._database.write(queries.start, task, source, task_input["stores"], now()):
            raise Conflict(
                f"{task_input['method']} imports into an image that is {source} (and done "
                f"receiving); {artifact.id} is {artifact.status}"
            )
        return task

    def _parse(self, body: Any, locations: list[Location]) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise BadRequest('the body must be {"method": {"name": ...}, ...}')
        method = body["method"]
        name = method.get("name")
        if name not in self.methods:
            raise BadRequest(f"import method {name!r} is not offered; use one of {self.methods}")
        if name == COPY:
            return self._parse_copy(body, locations)
        uri = method.get("uri")
        if name == "web-download":
            if not isinstance(uri, str):
                raise BadRequest("web-download needs a uri")
            self._rules.check_url(uri)  # refused at once when the URL itself breaks the rules
        expected = {key: method.get(key) for key in ("sha256", "md5")}
        if any(value is not None and not isinstance(value, str) for value in expected.values()):
            raise BadRequest("sha256 and md5 must be hexadecimal strings")
        stores = body.get("stores")
        if body.get("all_stores") or (stores is not None and not isinstance(stores, list)):
            raise BadRequest("import to several stores is not offered yet: give one store")
        stores = self._stores(stores or [])
        if name == "glance-direct" and stores:
            raise BadRequest("glance-direct imports into the store the data was staged in")
        return {"method": name, "uri": uri, "stores": stores, **expected}

    def _parse_copy(self, body: dict[str, Any], locations: list[Location]) -> dict[str, Any]:
        choices = [choice.name for choice in self._transfers.store_choices()]
        holding = {location.store for location in locations}
        names = body.get("stores")
        if body.get("all_stores") is True:
            names = choices
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(name, str) and name in choices for name in names)
        ):
            raise BadRequest(f"copy-image needs stores among {choices}, or all_stores")
        must_succeed = body.get("all_stores_must_succeed", True)
        if not isinstance(must_succeed, bool):
            raise BadRequest("all_stores_must_succeed must be a boolean")
        targets = [name for name in dict.fromkeys(names) if name not in holding]
        if not targets:
            raise Conflict("the image is in every one of those stores already")
        return {"method": COPY, "stores": targets, "all_stores_must_succeed": must_succeed}

    def _stores(self, names: list[Any]) -> list[str]:
        choices = {choice.name for choice in self._transfers.store_choices()}
        known = all(isinstance(name, str) and name in choices for name in names)
        if len(names) > 1 or not known:
            raise BadRequest(f"stores must name one of {sorted(choices)}" if choices else
                             "this server has a single store: leave stores out")  # fmt: skip
        return [str(name) for name in names]

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
        if method == "glance-direct":
            return await self._import_staged(task, artifact, progress)
        return await self._download(task, artifact, progress)

    async def _import_staged(
        self, task: Task, artifact: Artifact, progress: Progress
    ) -> dict[str, Any]:
        if not artifact.locations or not await self._database.write(
            queries.activate_staged, artifact.id, task.id, now()
        ):
            raise Conflict(f"image {artifact.id} has no staged data to import")
        await self._database.write(queries.succeed, artifact.id)
        await progress.report(artifact.size or 0, artifact.size, "Imported")
        return {"image_id": artifact.id}

    async def _download(self, task: Task, artifact: Artifact, progress: Progress) -> dict[str, Any]:
        fetch = Fetch(task.input["uri"], self._rules)
        stores = task.input["stores"]
        await self._transfers.import_data(
            artifact,
            _reporting(fetch, progress),
            stores[0] if stores else None,
            Expected(task.input.get("md5"), task.input.get("sha256")),
        )
        await self._database.write(queries.succeed, artifact.id)
        await progress.report(progress.task.done_bytes, fetch.size, "Imported")
        return {"image_id": artifact.id}

    async def _copy(self, task: Task, artifact: Artifact, progress: Progress) -> dict[str, Any]:
        remaining: list[str] = list(task.input["stores"])
        copied: list[str] = []
        failed: list[str] = []
        done = 0
        for store in task.input["stores"]:
            await progress.report(done, None, f"Copying to {store}")
            try:
                done += await self._transfers.copy(artifact, store)
                copied.append(store)
            except LadingError as exc:
                if task.input["all_stores_must_succeed"]:
                    for undone in copied:
                        await self._transfers.uncopy(artifact.id, undone)
                    raise LadingError(f"copying to {store} failed: {exc}") from exc
                failed.append(store)
            remaining.remove(store)
            await self._database.write(queries.copying, artifact.id, remaining, failed)
        await self._database.write(queries.succeed_copy, artifact.id, failed)
        await progress.report(done, done, f"Copied to {', '.join(copied) or 'no store'}")
        return {"image_id": artifact.id, "stores": copied, "failed_stores": failed}

    async def _undo(self, task: Task, message: str) -> None:
        assert task.artifact_id is not None
        if task.input["method"] == COPY:
            await self._database.write(
                queries.end_copy, task.artifact_id, task.id, task.input["stores"]
            )
            return
        stores = task.input.get("stores") or [self._transfers.default_store]
        doomed = await self._database.write(queries.fail, task.artifact_id, task.id, stores, now())
        await self._catalogue.discard(doomed)


async def _reporting(fetch: Fetch, progress: Progress) -> AsyncIterator[bytes]:
    done, reported = 0, time.monotonic()
    async for chunk in fetch.chunks():
        done += len(chunk)
        if time.monotonic() - reported >= REPORT_EVERY:
            reported = time.monotonic()
            await progress.report(done, fetch.size, f"Copied {done // MiB} MiB")
        yield chunk
    progress.task.done_bytes = done
