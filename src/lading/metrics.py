"""Prometheus metrics, all named ``lading_*``, served at ``/metrics``.

The HTTP ones are counted by ``lading.api.observe``; the services count what only they
see (uploads in flight, store errors); the catalogue's figures (task backlog, bytes that
delayed deletes hold) are read from the database when ``/metrics`` is asked.

With several server workers (``lading serve --workers N``) each worker is a process:
``lading serve`` then points ``PROMETHEUS_MULTIPROC_DIR`` at a directory of the data
directory, and every worker's values are added up there (prometheus-client's
multiprocess mode).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

REQUESTS = Counter(
    "lading_http_requests",
    "HTTP requests answered, by face, route, method and status",
    ["face", "route", "method", "status"],
)
DURATION = Histogram(
    "lading_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its answer",
    ["face", "route", "method"],
    buckets=SECONDS,
)
RECEIVED = Counter("lading_http_received_bytes", "Request body bytes received", ["face"])
SENT = Counter("lading_http_sent_bytes", "Response body bytes sent", ["face"])
UPLOADS_IN_FLIGHT = Gauge(
    "lading_uploads_in_flight", "Uploads receiving data right now", multiprocess_mode="livesum"
)
STORE_ERRORS = Counter(
    "lading_store_errors",
    "Store failures that reached a request or a task, by error code",
    ["code"],
)
TASKS = Gauge(
    "lading_tasks",
    "Tasks waiting (pending) or running (processing)",
    ["status"],
    multiprocess_mode="mostrecent",
)
RECLAIMABLE = Gauge(
    "lading_reclaimable_bytes",
    "Bytes that delayed deletes still hold, until the scrubber removes them",
    multiprocess_mode="mostrecent",
)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus's text format, and its content type."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
