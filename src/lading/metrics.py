"""Prometheus metrics, all named ``lading_*``, served at ``/metrics``.

The HTTP ones are counted by ``lading.http.observe``; the services count what only they
see (uploads in flight, store errors); the catalogue's figures (task backlog, bytes that
delayed deletes hold) are read from the database when ``/metrics`` is asked.

Each app has its own ``Metrics`` in a registry of its own. With several server workers
(``lading serve --workers N``) each worker is a process: ``lading serve`` then points
``PROMETHEUS_MULTIPROC_DIR`` at a directory of its own, where every worker's values are
added up (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

__all__ = ["CONTENT_TYPE", "MULTIPROCESS_VARIABLE", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "lading_http_requests",
            "HTTP requests answered, by face, route, method and status",
            ["face", "route", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "lading_http_request_duration_seconds",
            "Time from a request's arrival to the last byte of its answer",
            ["face", "route", "method"],
            buckets=SECONDS,
            registry=registry,
        )
        self.received = Counter(
            "lading_http_received_bytes", "Request body bytes received", ["face"],
            registry=registry,
        )  # fmt: skip
        self.sent = Counter(
            "lading_http_sent_bytes", "Response body bytes sent", ["face"], registry=registry
        )
        self.uploads_in_flight = Gauge(
            "lading_uploads_in_flight", "Uploads receiving data right now",
            multiprocess_mode="livesum", registry=registry,
        )  # fmt: skip
        self.store_errors = Counter(
            "lading_store_errors",
            "Store failures that reached a request or a task, by error code",
            ["code"],
            registry=registry,
        )
        self.tasks = Gauge(
            "lading_tasks", "Tasks waiting (pending) or running (processing)", ["status"],
            multiprocess_mode="mostrecent", registry=registry,
        )  # fmt: skip
        self.webhook_deliveries = Counter(
            "lading_webhook_deliveries",
            "Tries to deliver an event to a webhook, by result: delivered, failed (to be "
            "tried again), dropped (failed for the last time)",
            ["result"],
            registry=registry,
        )
        self.cache_hits = Counter(
            "lading_image_cache_hits", "Downloads served from this node's image cache",
            registry=registry,
        )  # fmt: skip
        self.cache_misses = Counter(
            "lading_image_cache_misses",
            "Downloads of images the image cache keeps that it did not hold (yet)",
            registry=registry,
        )
        self.cache_filled = Counter(
            "lading_image_cache_filled_bytes", "Bytes written into the image cache, checked",
            registry=registry,
        )  # fmt: skip
        self.cache_size = Gauge(
            "lading_image_cache_bytes", "Bytes the image cache of this node holds",
            multiprocess_mode="mostrecent", registry=registry,
        )  # fmt: skip
        # Two figures, told apart by ``reason`` (no project label: projects are many, and
        # a project's own figure is in its plan): delayed_delete, what pending deletes hold
        # until the scrubber removes them; retention, what the retention policies' plan
        # would free once its deletes are done.
        self.reclaimable = Gauge(
            "lading_reclaimable_bytes",
            "Bytes that could be freed: held by delayed deletes (reason=delayed_delete), or "
            "that the retention policies would free (reason=retention)",
            ["reason"],
            multiprocess_mode="mostrecent",
            registry=registry,
        )

    def exposition(self) -> bytes:
        """The metrics in Prometheus's text format (``CONTENT_TYPE``): every worker's,
        in multiprocess mode."""
        if os.environ.get(MULTIPROCESS_VARIABLE):
            workers = CollectorRegistry()
            multiprocess.MultiProcessCollector(workers)  # type: ignore[no-untyped-call]
            return generate_latest(workers)
        return generate_latest(self.registry)
