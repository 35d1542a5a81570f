"""What every request leaves behind: Prometheus metrics and an access log line.

A pure ASGI middleware, so streamed and pathsend answers pass untouched. A file sent by
pathsend is handed to the server whole: its time ends there, and its length counts as
sent, even if the client leaves before the end. Requests are labelled by face and by route
template (``/v2/images/{image_id}/file``), never by raw path, so that the number of
series stays bounded; a request no route matched is ``unmatched``. The face is told by the
template's first segment (``labels``, made from the faces' declarations in
``lading.faces``); a segment no face owns is ``other``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lading.http.requests import services
from lading.logs import ACCESS, FIELDS
from lading.metrics import CONTENT_TYPE, Metrics

access_log = logging.getLogger(ACCESS)
UNLABELLED = "other"

METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"})


class ObserveMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        routes: Iterable[BaseRoute],
        metrics: Metrics,
        labels: Mapping[str, str],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.labels = dict(labels)  # a route template's first segment -> its face
        self.routes = list(routes)
        templates: dict[int, set[str]] = {}  # by id: a Mount's endpoint (a Router) has no hash
        for endpoint, template in _templates(self.routes, ""):
            templates.setdefault(id(endpoint), set()).add(template)
        # An endpoint with one route names it; one serving several paths, or a request
        # answered before routing (a refused token), is matched against the routes.
        self.templates = {endpoint: next(iter(paths)) for endpoint, paths in templates.items()
                          if len(paths) == 1}  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, received, sent, pathsend_length = 500, 0, 0, 0
        root_path = scope.get("root_path", "")  # routing moves it along the mounts it enters

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent, pathsend_length
            if message["type"] == "http.response.start":
                status = message["status"]
                length = dict(message.get("headers", [])).get(b"content-length", b"")
                pathsend_length = int(length) if length.isdigit() else 0
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":
                sent += pathsend_length
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            route = self.templates.get(id(scope.get("endpoint"))) or _match(
                self.routes, {**scope, "root_path": root_path}, ""
            )
            face = self.labels.get(route.strip("/").partition("/")[0], UNLABELLED)
            seconds = time.perf_counter() - started
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.requests.labels(face, route, method, str(status)).inc()
            self.metrics.duration.labels(face, route, method).observe(seconds)
            self.metrics.received.labels(face).inc(received)
            self.metrics.sent.labels(face).inc(sent)
            _log_access(scope, status, seconds, received, sent, face, route)


async def serve_metrics(request: Request) -> Response:
    """``GET /metrics``: the catalogue's figures are read now, the rest are counted."""
    found = services(request)
    for status, count in (await found.tasks.backlog()).items():
        found.metrics.tasks.labels(status).set(count)
    found.metrics.reclaimable.labels("delayed_delete").set(await found.catalogue.reclaimable())
    found.metrics.reclaimable.labels("retention").set(await found.retention.reclaimable())
    found.metrics.cache_size.set(await found.image_cache.size())
    body = await anyio.to_thread.run_sync(found.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE)


def _templates(routes: Iterable[BaseRoute], prefix: str) -> Iterable[tuple[object, str]]:
    for route in routes:
        if isinstance(route, Mount):
            yield from _templates(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            yield route.endpoint, prefix + route.path


def _match(routes: Iterable[BaseRoute], scope: Scope, prefix: str) -> str:
    """The template of the route a request's path matches, whatever its method."""
    for route in routes:
        found, child = route.matches(scope)
        if found is Match.NONE:
            continue
        if isinstance(route, Mount) and not route.routes:  # an app of its own (static files)
            return f"{prefix}{route.path}/{{path}}"
        if isinstance(route, Mount):
            return _match(route.routes, {**scope, **child}, prefix + route.path)
        if isinstance(route, Route):
            return prefix + route.path
    return "unmatched"


def _log_access(
    scope: Scope, status: int, seconds: float, received: int, sent: int, face: str, route: str
) -> None:
    client = scope.get("client")
    fields = {
        "request_id": scope.get("state", {}).get("request_id"),
        "client": client[0] if client else None,
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 1),
        "bytes_in": received,
        "bytes_out": sent,
        "face": face,
        "route": route,
    }
    access_log.info(
        "%s %s %s %d %.1fms in=%d out=%d %s",
        fields["client"],
        json.dumps(scope["method"]),
        json.dumps(scope["path"]),
        status,
        seconds * 1000,
        received,
        sent,
        fields["request_id"],
        extra={FIELDS: fields},
    )  # fmt: skip  (quoted: a path could hold a line break, forging a line)
