"""An image's locations as Glance's clients edit them: the legacy ``PATCH`` of
``/locations`` (add, replace, remove), when ``show_multiple_locations`` is on.

A location a client adds is an external http(s) URL, read by the http store: it passes
the fetch rules and carries no credentials (refused, 400: it would be read, and so kept,
at every download; sealing suits a one-off fetch, not this), and its size must be
readable. Or it is an ``rbd://<fsid>/<pool>/<image>/<snapshot>`` snapshot that Nova's
direct snapshot or Cinder's upload made in the cluster and pool of an rbd store (400 for
another's, as Glance's rbd store has no other), read, hashed and, once no image holds it,
deleted by that store, as Glance's driver deletes it. A queued image given its first
location becomes active, with that size and the digests of ``validation_data`` (the
client's word, as in Glance); later ones must agree with what the image holds.

v2.17's ``POST /locations`` (services) adds a queued image's location as a task. With
``do_secure_hash`` (Glance's option, on by default) the task reads the data there and
sets ``checksum`` and ``os_hash_value`` (``os_hash_algo``: the validation_data's, or
``location_hash_algorithm``), as Glance's location_import flow does: given validation
data, the image stays ``importing`` until the data matches it, and goes back to
``queued`` if not (the location stays, as Glance's http store leaves it; adding a
location again replaces it); without, the image is active at once and its digests
follow. Without ``do_secure_hash``, validation_data is the client's word.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from lading.clock import Clock
from lading.db import artifacts as artifact_queries
from lading.db import locations as queries
from lading.db.blobs import Blob
from lading.db.engine import Database
from lading.db.tasks import insert_task
from lading.domain import Artifact, EventType, Location, Status, Task
from lading.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    LadingError,
    NotFound,
    ObjectNotFound,
    TooLarge,
)
from lading.serial_thread import SerialThread
from lading.services.access import Caller
from lading.services.catalogue import Catalogue
from lading.services.events import Outbox
from lading.services.tasks import Progress, Tasks, Undo, reporting
from lading.services.transfers import LocationUrl, Transfers
from lading.stores.base import StoredObject
from lading.stores.rbd import SCHEME as RBD_SCHEME
from lading.stores.registry import StoreRegistry
from lading.url_rules import UrlRefused

# The digests a client may vouch for: lading hashes nothing it does not store, so an
# external location's algorithm is the client's, as long as the value fits it.
HASH_ALGOS = ("sha256", "sha384", "sha512")
TASK_TYPE = "location_import"  # v2.17's add location, recorded as Glance records it
VALIDATION_KEYS = ("checksum", "os_hash_algo", "os_hash_value")
HASH_DEPTH = 2  # chunks waiting for each hashing thread


@dataclass(frozen=True, slots=True)
class LocationChange:
    """One operation of a patch on ``/locations``: ``index`` is the path's last part
    (a number or ``-``; None for ``/locations`` itself)."""

    op: str
    index: str | None
    value: Any


class Locations:
    def __init__(
        self,
        database: Database,
        stores: StoreRegistry,
        catalogue: Catalogue,
        transfers: Transfers,
        tasks: Tasks,
        enabled: bool,
        outbox: Outbox,
        secure_hash: bool = False,
        hash_algorithm: str = "sha512",
        clock: Clock | None = None,
    ) -> None:
        self._clock = clock or Clock()
        self._outbox = outbox
        self._database = database
        self._stores = stores
        self._catalogue = catalogue
        self._transfers = transfers
        self._tasks = tasks
        self._enabled = enabled
        self._secure_hash = secure_hash
        self._hash_algorithm = hash_algorithm
        tasks.register(TASK_TYPE, self._run, Undo(self._undo))

    @property
    def offered(self) -> bool:
        """Whether v2.17's location API is: a store of type http or rbd reads what it adds."""
        return any(store.read_only or store.takes_locations for store in self._stores.all())

    async def add(
        self, caller: Caller, artifact_id: str, body: Any, request_id: str | None = None
    ) -> Task:
        """v2.17's ``POST /locations``: a queued image's first and only location, which
        makes it active; recorded as a task of the image. With ``do_secure_hash`` the
        task hashes the data (later, any process); without, it ends when this returns
        and ``validation_data`` is the client's word."""
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require("add_image_location", artifact)
        if not isinstance(body, dict) or not isinstance(body.get("url"), str):
            raise BadRequest("the body is an object with url (a string) and maybe "
                             "validation_data")  # fmt: skip
        if set(body) - {"url", "validation_data"}:
            raise BadRequest("the body has only url and validation_data")
        activation = _vouched(body.get("validation_data") or {})
        if artifact.status is not Status.QUEUED:
            raise Conflict(f"a location is added only to a queued image, not a "
                           f"{artifact.status} one")  # fmt: skip
        new = await self._read(caller, artifact, {"url": body["url"], "metadata": {}})
        if self._secure_hash:
            return await self._add_hashed(caller, artifact, new, activation, request_id)

        async def work(task: Task, progress: Progress) -> dict[str, Any]:
            await self._place(caller, artifact, [(0, new)], activation)
            return {"image_id": artifact.id}

        task_input = {"image_id": artifact.id, "url": body["url"]}
        return await self._tasks.run_here(
            caller.project, TASK_TYPE, task_input, work, artifact.id,
            request_id=request_id, user_id=caller.user,
        )  # fmt: skip

    async def _add_hashed(
        self,
        caller: Caller,
        artifact: Artifact,
        new: queries.NewLocation,
        vouched: dict[str, Any],
        request_id: str | None,
    ) -> Task:
        """The location placed and a task to hash its data submitted, in one
        transaction: with validation data the image waits ``importing`` for the task's
        verdict; without, it is active at once."""
        algorithm = vouched.get("os_hash_algo", self._hash_algorithm)
        url = self._stores.get(new.store).location_url(new.key)  # as Glance records it
        task_input = {"image_id": artifact.id, "url": url, "os_hash_algo": algorithm,
                      "validation_data": vouched}  # fmt: skip
        task = self._tasks.new(caller.project, TASK_TYPE, task_input, artifact.id,
                               request_id=request_id, user_id=caller.user)  # fmt: skip
        becomes = Status.IMPORTING if vouched else Status.ACTIVE
        # As Glance: the algorithm is shown from the start, the digests once computed.
        await self._place(caller, artifact, [(0, new)], {"os_hash_algo": algorithm}, becomes,
                          task)  # fmt: skip
        return task

    async def _run(self, task: Task, progress: Progress) -> dict[str, Any]:
        if "os_hash_algo" not in task.input:  # added in a request whose process died
            return await _cut_off(task, progress)
        assert task.artifact_id is not None
        artifact = await self._database.read(artifact_queries.fetch_artifact, task.artifact_id)
        vouched: dict[str, Any] = task.input["validation_data"]
        waiting = (Status.IMPORTING,) if vouched else (Status.ACTIVE, Status.DEACTIVATED)
        if artifact is None or artifact.status not in waiting:
            raise NotFound(f"image {task.artifact_id} no longer waits for its data's digests")
        url = task.input["url"]  # the location's URL (its key, in tasks of earlier versions)
        location = next((place for place in artifact.locations
                         if place.key == url or self._url(place) == url), None)  # fmt: skip
        if location is None:
            raise Conflict(f"image {artifact.id} no longer has the location {task.input['url']}")
        digests = await self._hash(location, task.input["os_hash_algo"], progress)
        for key, value in vouched.items():  # Glance compares os_hash_value; the checksum too
            if value.lower() != digests[key].lower():
                raise BadRequest(f"{key}: ({value}) does not match the data's ({digests[key]})")

        def record(connection: Connection) -> bool:
            if not queries.hashed(connection, artifact.id, waiting, digests, self._clock.now()):
                return False
            if vouched:  # it becomes active now: a package takes its name; the event
                self._catalogue.activated(connection, artifact.id, None)
            return True

        if not await self._database.write(record):
            raise Conflict(f"image {artifact.id} changed while its data was hashed")
        await progress.report(location.size, location.size, "Hashed")
        return {"image_id": artifact.id, **digests}

    async def _hash(self, location: Location, algorithm: str, progress: Progress) -> dict[str, str]:
        """The checksum and hash of the data at a location, read through its store."""
        md5, digest = hashlib.md5(usedforsecurity=False), hashlib.new(algorithm)
        threads = [SerialThread(f"lading-{name}", HASH_DEPTH) for name in ("md5", algorithm)]
        chunks = self._stores.get(location.store).open(location.key, 0, location.size)
        size = 0
        try:
            async for chunk in reporting(chunks, progress, location):  # renews the lease
                size += len(chunk)
                for thread, hashing in zip(threads, (md5, digest), strict=True):
                    await thread.submit(hashing.update, chunk)  # off the event loop
            for thread in threads:
                await thread.drain()
        finally:
            for thread in threads:
                thread.close()
        if size != location.size:  # the store stops at the size; a shorter answer is not it
            raise BadRequest(f"the location gave {size} bytes, not the {location.size} it had")
        return {"checksum": md5.hexdigest(), "os_hash_algo": algorithm,
                "os_hash_value": digest.hexdigest()}  # fmt: skip

    def _undo(self, connection: Connection, task: Task, moment: datetime) -> None:
        """A failed hash: an image that waited for it goes back to queued without digests
        (its location kept, as Glance's http store keeps it); an active one stays so,
        without the algorithm of digests it will not have."""
        if task.artifact_id is None or "os_hash_algo" not in task.input:
            return
        if task.input["validation_data"]:
            queries.unverified(connection, task.artifact_id, moment)
        else:
            queries.unhashed(connection, task.artifact_id)

    async def fetch(self, caller: Caller, artifact_id: str) -> list[LocationUrl]:
        """v2.17's ``GET /locations``: every location, for services (whatever the
        ``show_multiple_locations`` setting; ``fetch_image_location``)."""
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require("fetch_image_location", artifact)
        return [
            LocationUrl(location.store, self._url(location), location.metadata)
            for location in artifact.locations
        ]

    def _url(self, location: Location) -> str:
        """A location's URL as clients see it (without credentials)."""
        return self._stores.get(location.store).location_url(location.key)

    async def change(self, caller: Caller, artifact_id: str, change: LocationChange) -> Artifact:
        """Apply one operation; the image as it then stands."""
        artifact = await self._catalogue.visible(caller, artifact_id)
        caller.require_owner(artifact, "modify_image")
        if not self._enabled:
            raise Forbidden("locations may not be changed while they are not shown "
                            "(show_multiple_locations)")  # fmt: skip
        if change.op == "remove":
            caller.require("delete_image_location", artifact)
            await self._remove(caller, artifact, change.index)
        else:
            caller.require("set_image_location", artifact)
            if artifact.status not in (Status.ACTIVE, Status.QUEUED):
                raise Conflict(f"locations may not be {change.op}d while the image is "
                               f"{artifact.status}")  # fmt: skip
            if change.op == "add":
                await self._add(caller, artifact, change.index, change.value)
            else:
                await self._replace(caller, artifact, change.value)
        return caller.view(await self._catalogue.visible(caller, artifact.id))

    async def _add(self, caller: Caller, artifact: Artifact, index: str | None, value: Any) -> None:
        location = _location(value)
        activation = _validation(artifact, [location])
        count = len(artifact.locations)
        position = count if index == "-" else int(index) if index and index.isdigit() else -1
        if not 0 <= position <= count:
            raise BadRequest("invalid position for adding a location")
        new = await self._read(caller, artifact, location)
        await self._place(caller, artifact, [(position, new)], activation)

    async def _replace(self, caller: Caller, artifact: Artifact, value: Any) -> None:
        if not isinstance(value, list):
            raise BadRequest("/locations is replaced by a list of locations")
        given = [_location(item) for item in value]
        activation = _validation(artifact, given)
        if not artifact.locations:
            added = [
                (index, await self._read(caller, artifact, item))
                for index, item in enumerate(given)
            ]
            if added:
                await self._place(caller, artifact, added, activation)
            return
        # As in Glance: the same URLs, their metadata or order changed, and nothing else.
        by_url = {self._url(location): location for location in artifact.locations}
        urls = sorted(item["url"] for item in given)
        if urls != sorted(by_url) or artifact.status is not Status.ACTIVE:
            raise BadRequest(
                "the locations of an image that has some may only be given again, with "
                "other metadata: add or remove them one at a time"
            )

        def rewrite(connection: Connection) -> None:
            blob_ids = {(store, key): blob_id for blob_id, store, key in
                        queries.ordered(connection, artifact.id)}  # fmt: skip
            metadata = []
            for item in given:
                location = by_url[item["url"]]
                blob_id = blob_ids.get((location.store, location.key))
                if blob_id is None:
                    raise Conflict(f"image {artifact.id} changed meanwhile; try again")
                metadata.append((blob_id, item["metadata"]))
            refused = queries.rewrite(connection, artifact.id, metadata, self._clock.now())
            if refused is not None:
                raise _refused_error(refused, artifact.id, Status.ACTIVE)
            self._updated(connection, artifact, caller)

        await self._database.write(rewrite)

    async def _remove(self, caller: Caller, artifact: Artifact, index: str | None) -> None:
        if artifact.status is not Status.ACTIVE:
            raise Conflict(f"locations may not be removed while the image is {artifact.status}")
        if len(artifact.locations) == 1:
            raise Forbidden("the last location of an image cannot be removed")
        count = len(artifact.locations)
        position = count - 1 if index == "-" else int(index) if index and index.isdigit() else -1
        if not 0 <= position < count:
            raise BadRequest("invalid position for removing a location")
        target = artifact.locations[position]

        def remove(connection: Connection) -> list[Blob]:
            found = [blob_id for blob_id, store, key in queries.ordered(connection, artifact.id)
                     if (store, key) == (target.store, target.key)]  # fmt: skip
            if not found:
                raise Conflict(f"image {artifact.id} changed meanwhile; try again")
            doomed = queries.remove(connection, artifact.id, found[0], self._clock.now())
            if isinstance(doomed, queries.Refused):  # raised: what it wrote is undone
                raise _refused_error(doomed, artifact.id, Status.ACTIVE)
            self._updated(connection, artifact, caller)
            return doomed

        doomed = await self._database.write(remove)
        await self._catalogue.discard(doomed)

    async def _read(
        self, caller: Caller, artifact: Artifact, location: Mapping[str, Any]
    ) -> queries.NewLocation:
        """The location's size, read from it: refused (400) if it cannot be read or does
        not match the image's data. A snapshot in an rbd store's pool may be anyone's,
        and goes with the image: only services and administrators name one."""
        url = location["url"]
        if url.startswith(RBD_SCHEME):
            caller.require("claim_store_object", artifact)
            store, stored = await self._snapshot(artifact, url)
            return queries.NewLocation(store, stored.key, stored.size, location["metadata"])
        try:
            stored = await self._transfers.locate(url, artifact.size)
        except NotFound as exc:
            raise BadRequest(f"invalid location: {exc}") from None
        except UrlRefused as exc:  # Glance's words, which its clients look for
            raise UrlRefused(f"the location does not pass filtering: {exc}") from None
        if stored.size <= 0:
            raise BadRequest(f"invalid location: {url} holds no data")
        store = self._stores.external().name
        return queries.NewLocation(store, url, stored.size, location["metadata"])

    async def _snapshot(self, artifact: Artifact, url: str) -> tuple[str, StoredObject]:
        """The store and object of an rbd location: a snapshot in the cluster and pool
        of one of the rbd stores (400 if not, or if it is not there, as Glance answers)."""
        for store in self._stores.all():
            key = await store.key_at(url) if store.takes_locations else None
            if key is not None:
                break
        else:
            raise BadRequest(
                f"invalid location: {url} is not in the cluster and pool of an rbd store of "
                "this image service; an rbd location names a snapshot in one of those"
            )
        try:
            stored = await store.stat(key)
        except ObjectNotFound:
            raise BadRequest(f"invalid location: no RBD image snapshot at {url}") from None
        if stored.size <= 0:
            raise BadRequest(f"invalid location: {url} holds no data")
        if artifact.size is not None and stored.size != artifact.size:
            raise BadRequest(f"the location holds {stored.size} bytes, not {artifact.size}")
        return store.name, stored

    async def _place(
        self,
        caller: Caller,
        artifact: Artifact,
        added: Sequence[tuple[int, queries.NewLocation]],
        activation: dict[str, Any],
        becomes: Status = Status.ACTIVE,
        task: Task | None = None,
    ) -> None:
        """``becomes``: what a queued image becomes; ``task``: recorded with the change."""
        if artifact.status is Status.QUEUED:
            size = added[0][1].size
            room = await self._transfers.room(artifact)  # the size cap, the owner's quota
            if size > room:
                raise TooLarge(f"the data is larger than the limit of {room} bytes")
            activation = {"size": size, **activation}

        def place(connection: Connection) -> list[Blob]:
            doomed = queries.place(connection, artifact.id, artifact.status, added, activation,
                                   self._clock.now(), becomes)  # fmt: skip
            if isinstance(doomed, queries.Refused):  # raised: what it wrote is undone
                raise _refused_error(doomed, artifact.id, artifact.status)
            if task is not None:
                insert_task(connection, task)
            if artifact.status is not Status.QUEUED:
                self._updated(connection, artifact, caller)
            elif becomes is Status.ACTIVE:  # a package takes its name; the event
                self._catalogue.activated(connection, artifact.id, caller)
            return doomed

        await self._catalogue.discard(await self._database.write(place))

    def _updated(self, connection: Connection, artifact: Artifact, caller: Caller) -> None:
        self._outbox.record(connection, EventType.ARTIFACT_UPDATED, artifact.id, caller)


def _location(value: Any) -> dict[str, Any]:
    """A location as Glance's schema has it: ``url``, ``metadata``, maybe ``validation_data``."""
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("url"), str)
        or not isinstance(value.get("metadata"), dict)
        or set(value) - {"url", "metadata", "validation_data"}
    ):
        raise BadRequest("a location is an object with url (a string) and metadata "
                         "(an object), and maybe validation_data")  # fmt: skip
    data = value.get("validation_data", {})
    if not isinstance(data, dict) or set(data) - set(VALIDATION_KEYS):
        raise BadRequest(f"validation_data has only {', '.join(VALIDATION_KEYS)}")
    if data and not all(isinstance(data.get(key), str) for key in VALIDATION_KEYS[1:]):
        raise BadRequest("validation_data needs os_hash_algo and os_hash_value")
    return value


def _validation(artifact: Artifact, given: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The digests the locations' ``validation_data`` set on the image, checked as Glance
    does: they agree with each other and with what the image already has (409 if not),
    and new values only on a queued image, of the right form (409, as Glance answers)."""
    wanted: dict[str, Any] = {}
    for location in given:
        for key, value in location.get("validation_data", {}).items():
            if wanted.get(key, value) != value:
                raise Conflict(f"conflicting values for {key}")
            wanted[key] = value
    new = {}
    for key, value in wanted.items():
        current = getattr(artifact, key)
        if value == current:
            continue
        if current:
            raise Conflict(f"{key} is already set with a different value")
        new[key] = value
    if not new:
        return {}
    if artifact.status is not Status.QUEUED:
        raise Conflict(f"new values for {', '.join(new)} only while the image is queued")
    if "checksum" in new and not _is_hex(new["checksum"], 16):
        raise Conflict(f"checksum ({new['checksum']}) is not an md5 digest in hexadecimal")
    algo = new.get("os_hash_algo", artifact.os_hash_algo)
    if algo not in HASH_ALGOS:
        raise Conflict(f"os_hash_algo must be one of {', '.join(HASH_ALGOS)}, not {algo}")
    value = new.get("os_hash_value", artifact.os_hash_value)
    if not isinstance(value, str) or not _is_hex(value, hashlib.new(algo).digest_size):
        raise Conflict(f"os_hash_value ({value}) is not a {algo} digest in hexadecimal")
    return new


def _vouched(data: Any) -> dict[str, Any]:
    """v2.17's ``validation_data``: its digests, checked at once (400, as Glance)."""
    if not isinstance(data, dict) or set(data) - set(VALIDATION_KEYS):
        raise BadRequest(f"validation_data has only {', '.join(VALIDATION_KEYS)}")
    checksum, algo, value = (data.get(key) for key in VALIDATION_KEYS)
    if checksum is not None and not (isinstance(checksum, str) and _is_hex(checksum, 16)):
        raise BadRequest(f"checksum ({checksum}) is not an md5 digest in hexadecimal")
    if value is None and algo is None:
        return {"checksum": checksum} if checksum else {}
    if algo not in HASH_ALGOS:
        raise BadRequest(f"os_hash_algo must be one of {', '.join(HASH_ALGOS)}, not {algo}")
    if not isinstance(value, str) or not _is_hex(value, hashlib.new(algo).digest_size):
        raise BadRequest(f"os_hash_value ({value}) is not a {algo} digest in hexadecimal")
    vouched = {"os_hash_algo": algo, "os_hash_value": value}
    return {**vouched, "checksum": checksum} if checksum else vouched


async def _cut_off(task: Task, progress: Progress) -> dict[str, Any]:
    """A location_import whose process died before it ended: nothing to take over."""
    raise Conflict("the server adding this location stopped; add it again")


def _is_hex(value: str, size: int) -> bool:
    try:
        return len(bytes.fromhex(value)) == size and len(value) == 2 * size
    except ValueError:
        return False


def _refused_error(refused: queries.Refused, artifact_id: str, expected: Status) -> LadingError:
    match refused.why:
        case queries.Refusal.CHANGED:
            return Conflict(f"image {artifact_id} is no longer {expected}")
        case queries.Refusal.HAS_IT:
            return BadRequest(f"the image already has the location {refused.key}")
        case queries.Refusal.LAST:
            return Conflict("the image changed meanwhile: its last location cannot be removed")
