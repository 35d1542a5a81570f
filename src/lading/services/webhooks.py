"""Webhook deliveries: the tasks that ``lading.services.events`` records, each posting one
event's body to one webhook, signed. A 2xx answer delivers it; any other answer, a
connection that fails or an answer that takes longer than ``webhook_delivery.timeout``
is a failed try. A failed try is tried again later, each wait about twice the one
before; after ``webhook_delivery.attempts`` tries the delivery is dropped, with a
warning naming the webhook and the event.

The signature (the recipe is in ``docs/events.md``) is the HMAC-SHA256, with the webhook's
secret, of the try's timestamp, a dot, and the body: ``X-Lading-Signature:
sha256=<hex>``. Signing the timestamp lets a receiver refuse an old delivery played
again, as well as a forged one; the event's id (in the body and ``X-Lading-Event-Id``)
stays the same on every try, so that a receiver can drop what it had already.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
from typing import TYPE_CHECKING, Any

import anyio

from lading import __version__
from lading.clock import Clock
from lading.domain import Task
from lading.errors import LadingError
from lading.lazy import LazyModule
from lading.metrics import Metrics
from lading.services.events import TASK_TYPE
from lading.services.tasks import Progress, RetryLater, Tasks
from lading.settings import Settings, WebhookSettings
from lading.tls import client_context

if TYPE_CHECKING:
    import httpx
else:  # only once a webhook is delivered (lading.lazy)
    httpx = LazyModule("httpx")

log = logging.getLogger(__name__)
SIGNATURE = "X-Lading-Signature"
TIMESTAMP = "X-Lading-Timestamp"
EVENT = "X-Lading-Event"
EVENT_ID = "X-Lading-Event-Id"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What ``X-Lading-Signature`` says of ``body`` sent at ``timestamp``."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def backoff(tries: int, base: float, cap: float, spread: float) -> float:
    """Seconds to wait after ``tries`` failed tries: ``base`` doubled for each try after
    the first, at most ``cap``; then a part of it chosen by ``spread`` (0 to 1), from half
    to all, so that deliveries that failed together are not all tried again together."""
    ceiling = min(cap, base * 2.0 ** min(tries - 1, 64))
    return ceiling / 2 + ceiling / 2 * spread


class Webhooks:
    """Runs the ``webhook`` tasks: one try each time one is claimed."""

    def __init__(
        self, settings: Settings, tasks: Tasks, metrics: Metrics, clock: Clock | None = None
    ) -> None:
        self._clock = clock or Clock()
        self._webhooks = settings.webhooks
        self._delivery = settings.webhook_delivery
        self._metrics = metrics
        tasks.register(
            TASK_TYPE, self._deliver, attempts=self._delivery.attempts, listed=False, lane="events"
        )

    async def _deliver(self, task: Task, progress: Progress) -> dict[str, Any]:
        name, event, event_id = (task.input[key] for key in ("webhook", "event", "event_id"))
        webhook = self._webhooks.get(name)
        problem = "no such webhook in the settings any more"
        if webhook is not None:
            failure = await self._post(webhook, task)
            if failure is None:
                self._metrics.webhook_deliveries.labels("delivered").inc()
                return {"attempts": task.attempts}
            problem = failure
        if webhook is None or task.attempts >= self._delivery.attempts:
            self._metrics.webhook_deliveries.labels("dropped").inc()
            log.warning("webhook %s: dropped %s event %s after %d tries: %s",
                        name, event, event_id, task.attempts, problem)  # fmt: skip
            raise LadingError(f"dropped after {task.attempts} tries: {problem}")
        self._metrics.webhook_deliveries.labels("failed").inc()
        delay = backoff(
            task.attempts, self._delivery.backoff, self._delivery.backoff_max, random.random()
        )
        log.info("webhook %s: try %d of %s event %s failed: %s; trying again in %.1f s",
                 name, task.attempts, event, event_id, problem, delay)  # fmt: skip
        raise RetryLater(delay, f"try {task.attempts} failed: {problem}")

    async def _post(self, webhook: WebhookSettings, task: Task) -> str | None:
        """One try; what went wrong, or None when the webhook took it."""
        body = task.input["body"].encode()
        timestamp = str(int(self._clock.seconds()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"lading/{__version__}",
            EVENT: task.input["event"],
            EVENT_ID: task.input["event_id"],
            TIMESTAMP: timestamp,
            SIGNATURE: signature(webhook.secret.get_secret_value(), timestamp, body),
        }
        timeout = self._delivery.timeout
        try:
            # httpx's timeout bounds each wait; the try as a whole must end within it too.
            with anyio.fail_after(timeout):
                async with (
                    httpx.AsyncClient(
                        verify=client_context(), timeout=timeout, follow_redirects=False,
                        trust_env=False,
                    ) as client,
                    client.stream("POST", webhook.url, content=body, headers=headers) as answer,
                ):  # fmt: skip
                    status = answer.status_code  # its body is never read
        except TimeoutError:
            return f"no answer within {timeout} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc or 'no details'}"
        return None if 200 <= status < 300 else f"answered {status}"
