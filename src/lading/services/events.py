"""Events: what changed, written down for the webhooks that want it in the very
transaction that makes the change (an outbox), and sent later by tasks
(``lading.services.webhooks``).

So a change that rolls back is told to nobody, and one that commits is told even if the
process dies right after: its deliveries are task rows like any other. Each webhook that
wants the event gets a task of its own (type ``webhook``), owned by no project and tied
to no artifact, holding the webhook's name and the exact body to send. The secret is not
stored: it is read from the settings when the body is sent (so it can be rotated).

Each artifact event is followed by the Glance notifications for the same change
(``GLANCE_NOTIFICATIONS``): ``image.create``, ``image.activate`` and ``image.update``,
``image.update``, ``image.delete``; uploads add ``image.prepare`` as they begin and
``image.upload`` once the data is stored. They are told for every face's changes, as
Glance sent them for every image operation, so a consumer of Glance's notifications
misses none whatever client made the change; their ``data`` is the image as Glance v1
showed it (``is_public``, ``properties``, ``deleted``).

A body is ``{"id", "type", "time", "actor", "data"}``. ``actor`` is who made the change:
the project and user of the caller the service acted for, or None when lading acted on
its own (recovery, a task's worker finishing its work, the end of a task). ``data`` is
the artifact as the Glance v2 face shows it to an administrator, with ``published`` (and
``deleted_at`` once deleted), never where its bytes lie; for ``task.finished``, the
task without its input; for ``pypi.*``, the index, the project and its files.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from lading.clock import Clock, timestamp
from lading.db.artifacts import fetch_artifact
from lading.db.engine import Database
from lading.db.tasks import insert_task
from lading.documents import artifact_document, task_document, v1_document
from lading.domain import Artifact, EventType, Task, TaskStatus
from lading.services.access import Caller
from lading.settings import WebhookSettings

TASK_TYPE = "webhook"
GLANCE_NOTIFICATIONS: dict[EventType, tuple[EventType, ...]] = {
    EventType.ARTIFACT_CREATED: (EventType.IMAGE_CREATE,),
    EventType.ARTIFACT_ACTIVATED: (EventType.IMAGE_ACTIVATE, EventType.IMAGE_UPDATE),
    EventType.ARTIFACT_UPDATED: (EventType.IMAGE_UPDATE,),
    EventType.ARTIFACT_DELETED: (EventType.IMAGE_DELETE,),
}
NO_PROJECT = ""  # the owner of delivery tasks: no project is named so


class Events:
    """Records events for delivery; with no webhook that wants an event, does nothing."""

    def __init__(self, webhooks: Mapping[str, WebhookSettings], clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._webhooks = webhooks

    def artifact(
        self, connection: Connection, event: EventType, artifact_id: str, by: Caller | None
    ) -> None:
        """The artifact as the change left it, in the change's transaction; ``by``: the
        caller the change was made for, None when lading made it on its own."""

        def data() -> dict[str, Any]:
            artifact = fetch_artifact(connection, artifact_id)
            assert artifact is not None, artifact_id
            return artifact_data(artifact)

        self._record(connection, event, actor(by), data)
        for notification in GLANCE_NOTIFICATIONS.get(event, ()):
            self.image(connection, notification, artifact_id, by)

    def image(
        self, connection: Connection, event: EventType, artifact_id: str, by: Caller | None
    ) -> None:
        """A Glance notification of the artifact as the change left it: its v1 fields."""

        def data() -> dict[str, Any]:
            artifact = fetch_artifact(connection, artifact_id)
            assert artifact is not None, artifact_id
            return v1_document(artifact)

        self._record(connection, event, actor(by), data)

    def retention(
        self,
        connection: Connection,
        event: EventType,
        artifact_id: str,
        details: Mapping[str, Any],
    ) -> None:
        """A step of retention (``retention.*``), lading's own doing: the artifact as the
        step left it, with what retention says of the step (the policies, the next step)."""

        def data() -> dict[str, Any]:
            artifact = fetch_artifact(connection, artifact_id)
            assert artifact is not None, artifact_id
            return {"artifact": artifact_data(artifact), **details}

        self._record(connection, event, None, data)

    def python_files(
        self,
        connection: Connection,
        event: EventType,
        data: Callable[[], dict[str, Any]],
        by: Caller | None,
    ) -> None:
        """A change of a Python index's files (``pypi.*``); ``data`` tells them, read only
        when a webhook wants the event."""
        self._record(connection, event, actor(by), data)

    def task_finished(self, connection: Connection, task: Task) -> None:
        """A task that ended, as recorded; a delivery's own end is no event (no loops).
        Its end is the worker's doing, not a caller's: who asked for the task is in it."""
        if task.type != TASK_TYPE:
            self._record(connection, EventType.TASK_FINISHED, None, lambda: task_data(task))

    def _record(
        self,
        connection: Connection,
        event: EventType,
        by: dict[str, str | None] | None,
        data: Callable[[], dict[str, Any]],
    ) -> None:
        names = [name for name, webhook in self._webhooks.items() if webhook.wants(event)]
        if not names:
            return
        moment = self._clock.now()
        body = {"id": str(uuid.uuid4()), "type": event.value,
                "time": timestamp(moment, "milliseconds"), "actor": by, "data": data()}  # fmt: skip
        text = json.dumps(body, separators=(",", ":"))
        for name in names:
            task_input = {"webhook": name, "event": event.value, "event_id": body["id"],
                          "body": text}  # fmt: skip
            insert_task(
                connection,
                Task(
                    id=str(uuid.uuid4()),
                    type=TASK_TYPE,
                    status=TaskStatus.PENDING,
                    owner=NO_PROJECT,
                    input=task_input,
                    created_at=moment,
                    updated_at=moment,
                ),
            )


def actor(caller: Caller | None) -> dict[str, str | None] | None:
    """Who made a change, as events tell it (a user only when the identity names one)."""
    return None if caller is None else {"project_id": caller.project, "user_id": caller.user}


def artifact_data(artifact: Artifact) -> dict[str, Any]:
    """The artifact as Glance v2 shows it (without the links, or the stores it is in),
    and whether it is published. Not who made it: a property may take that name (Glance
    has no such key), and the ``artifact.created`` event's actor tells it."""
    data = artifact_document(artifact) | {"published": artifact.published}
    if artifact.deleted_at is not None:
        data["deleted_at"] = timestamp(artifact.deleted_at)
    return data


def task_data(task: Task) -> dict[str, Any]:
    """The task as Glance v2 shows it whole, without its input (which may hold a URL)."""
    return task_document(task) | {
        "result": task.result,
        "request_id": task.request_id,
        "user_id": task.user_id,
    }


class Outbox:
    """Where the services record events: each with the change it tells of, in the
    change's own transaction (an outbox), so that both commit or neither does."""

    def __init__(self, database: Database, events: Events) -> None:
        self._database = database
        self._events = events

    async def write(
        self,
        change: Callable[[Connection], bool],
        event: EventType | None,
        artifact_id: str,
        by: Caller | None,
    ) -> bool:
        """Run ``change`` in a transaction of its own and, when it says it changed
        something, record ``event`` (None: no event) of the artifact in the same one;
        whether it changed something."""

        def write(connection: Connection) -> bool:
            if not change(connection):
                return False
            if event is not None:
                self.record(connection, event, artifact_id, by)
            return True

        return await self._database.write(write)

    def record(
        self, connection: Connection, event: EventType, artifact_id: str, by: Caller | None
    ) -> None:
        """In a transaction the caller holds: an artifact's event (``artifact.*``, with
        the Glance notifications it implies)."""
        self._events.artifact(connection, event, artifact_id, by)

    def notify(
        self, connection: Connection, event: EventType, artifact_id: str, by: Caller | None
    ) -> None:
        """In a transaction the caller holds: a Glance notification alone (``image.*``)."""
        self._events.image(connection, event, artifact_id, by)

    def python_files(
        self,
        connection: Connection,
        event: EventType,
        data: Callable[[], dict[str, Any]],
        by: Caller | None,
    ) -> None:
        """In a transaction the caller holds: a Python index's change (``pypi.*``)."""
        self._events.python_files(connection, event, data, by)
