"""The ASGI application: wiring only. ``create_app`` is what granian loads."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from lading import faces
from lading.db.engine import Database
from lading.errors import CatalogueUnavailable
from lading.http.auth import AuthenticationMiddleware
from lading.http.cross_site import CrossSiteMiddleware
from lading.http.failures import EXCEPTION_HANDLERS
from lading.http.forwarded import ForwardedMiddleware, TrustedProxies
from lading.http.https import StrictTransportMiddleware
from lading.http.observe import ObserveMiddleware
from lading.http.requests import RequestIdMiddleware
from lading.http.unread_body import UnreadBodyMiddleware
from lading.services import Services
from lading.services.downloads import FLUSH_EVERY
from lading.settings import (
    FilesystemStoreSettings,
    HttpStoreSettings,
    RbdStoreSettings,
    S3StoreSettings,
    ServerSettings,
    Settings,
    SwiftStoreSettings,
)
from lading.sites import Sites
from lading.stores.registry import StoreRegistry
from lading.web.pages import Pages

log = logging.getLogger(__name__)


class Lading(Starlette):
    """Starlette with the unread-body middleware around all of it: the 500 answers that
    Starlette's outermost layer sends are early answers too. Served over HTTPS, every
    answer, those 500s too, carries Strict-Transport-Security (``hsts_max_age`` > 0)."""

    def __init__(
        self,
        *args: Any,
        edge: ServerSettings | None = None,
        hsts_max_age: int = 0,
        **kwargs: Any,
    ) -> None:
        self.edge = edge or ServerSettings()
        self.hsts_max_age = hsts_max_age
        super().__init__(*args, **kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = UnreadBodyMiddleware(super().build_middleware_stack(), self.edge)
        if self.hsts_max_age:
            app = StrictTransportMiddleware(app, self.hsts_max_age)
        return app


def create_app(settings: Settings | None = None, stores: StoreRegistry | None = None) -> Starlette:
    """Build the application; with no settings, read them from the environment.

    ``stores`` replaces the stores that settings describe (tests inject failing ones).
    """
    settings = settings or Settings.load()
    database = Database(settings.resolved_database_url, settings.database_threads)
    stores = stores or StoreRegistry.from_settings(settings)
    services = Services.build(settings, database, stores)
    sites = Sites.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(database.upgrade)
        await stores.check()
        await services.image_cache.open()
        log.info("catalogue: %s", database.url.render_as_string(hide_password=True))
        for store in stores.all():
            default = " (default)" if store.name == stores.default else ""
            log.info("store %s%s: %s", store.name, default, _where(settings, store.name))
        async with anyio.create_task_group() as background:
            # The recovery pass at once (a restarted server recovers its predecessor's
            # uploads), then in rounds; the heartbeat, which recovers what dead processes
            # held, after the first pass.
            background.start_soon(
                _periodically, services.recovery.run, settings.upload_stuck_after / 2,
                "recovery pass", "recovery cleaned up %d stuck uploads and abandoned objects",
            )  # fmt: skip
            _keep_beating(background, services)
            if settings.oci.gc_interval:
                background.start_soon(
                    _periodically, services.registry_gc.sweep, settings.oci.gc_interval,
                    "registry garbage collection", "registry garbage collection unlinked %d "
                    "blobs", True,
                )  # fmt: skip
            for lane in services.tasks.lanes:
                background.start_soon(services.tasks.run_forever, lane)
            background.start_soon(services.image_cache.run_forever)

            async def record_downloads() -> int:
                await services.downloads.flush()
                return 0  # nothing to log: it is routine

            background.start_soon(
                _periodically, record_downloads, FLUSH_EVERY, "recording downloads", "", True
            )
            if settings.retention.run_every is not None:
                background.start_soon(
                    _periodically, services.retention.submit_recurring,
                    min(settings.retention.run_every, 300.0), "retention's recurring run",
                    "submitted %d retention run",
                )  # fmt: skip
            yield
            background.cancel_scope.cancel()
        with contextlib.suppress(Exception):  # what downloads noted last, if it can
            await services.downloads.flush()
        await _withdraw(services)
        await stores.close()
        database.dispose()

    routes = faces.routes()
    # Behind trusted proxies, the client and scheme are theirs before anything looks.
    forwarded = TrustedProxies.of(settings.server.trusted_proxies)
    app = Lading(
        edge=settings.server,
        hsts_max_age=settings.tls.hsts_max_age if settings.tls.enabled else 0,
        routes=routes,
        middleware=[
            *([Middleware(ForwardedMiddleware, trusted=forwarded)] if forwarded else []),
            Middleware(RequestIdMiddleware),
            Middleware(
                ObserveMiddleware,
                routes=routes,
                metrics=services.metrics,
                labels=faces.metric_labels(),
            ),
            # Before the token is looked up: another site's request costs no query.
            Middleware(CrossSiteMiddleware, sites=sites),
            Middleware(
                AuthenticationMiddleware,
                identities=services.identities,
                visor_keys=services.visor_keys,
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.sites = sites
    app.state.pages = Pages()
    app.state.error_styles = faces.error_styles()  # other faces: OpenStack's shape
    app.state.openapi = faces.openapi_aliases()
    return app


def create_registry_app(
    settings: Settings | None = None,
    stores: StoreRegistry | None = None,
    services: Services | None = None,
) -> Starlette:
    """The OCI registry's application, served on ``oci.port``: its own services unless
    given the API's (tests share them). Background work (recovery, tasks) is the API
    server's: the registry's process answers, and beats for the uploads it receives (a
    process of its own that did not would be taken for dead during a long push)."""
    settings = settings or Settings.load()
    own = services is None
    database = Database(settings.resolved_database_url, settings.database_threads)
    stores = stores or StoreRegistry.from_settings(settings)
    if services is None:
        services = Services.build(settings, database, stores)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if own:
            await anyio.to_thread.run_sync(database.upgrade)
            await stores.check()
        async with anyio.create_task_group() as background:
            if own:
                _keep_beating(background, services)
            yield
            background.cancel_scope.cancel()
        if own:
            await _withdraw(services)
            await stores.close()
        database.dispose()

    routes: list[BaseRoute] = faces.registry_routes()
    # Behind the same proxies as the API: the token realm its challenges name and the
    # access log are the client's (its scheme, its address).
    forwarded = TrustedProxies.of(settings.server.trusted_proxies)
    app = Lading(
        edge=settings.server,
        hsts_max_age=settings.tls.hsts_max_age if settings.tls.enabled else 0,
        routes=routes,
        middleware=[
            *([Middleware(ForwardedMiddleware, trusted=forwarded)] if forwarded else []),
            Middleware(RequestIdMiddleware),
            Middleware(
                ObserveMiddleware,
                routes=routes,
                metrics=services.metrics,
                labels=faces.metric_labels(faces.REGISTRY),
            ),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.error_styles = faces.error_styles(faces.REGISTRY)
    app.state.openapi = faces.openapi_aliases(faces.REGISTRY)
    return app


def _where(settings: Settings, name: str) -> str:
    """Where a configured store keeps its bytes, without its credentials."""
    match settings.stores.get(name):
        case FilesystemStoreSettings():
            return f"filesystem {settings.store_path(name)}"
        case S3StoreSettings(bucket=bucket, prefix=prefix, endpoint_url=endpoint):
            return f"s3 bucket {bucket} (prefix {prefix!r}) at {endpoint or 'AWS'}"
        case SwiftStoreSettings(container=container, auth_url=auth_url):
            return f"swift container {container} at {auth_url}"
        case RbdStoreSettings(pool=pool, conffile=conffile):
            return f"rbd pool {pool} of the Ceph cluster of {conffile}"
        case HttpStoreSettings():
            return "http(s) locations, read only"
    return "given to the app"


def _keep_beating(background: TaskGroup, services: Services) -> None:
    """The heartbeat of this process's uploads, which also recovers what dead processes
    held, from a beat interval on (before it, the API's recovery pass at start-up beats,
    and so does each upload as it begins)."""
    background.start_soon(
        _periodically, services.recovery.keep_alive, services.recovery.beat_interval,
        "heartbeat", "recovery cleaned up %d uploads and objects of dead processes", True,
    )  # fmt: skip


async def _withdraw(services: Services) -> None:
    """As this process stops; if the catalogue cannot be reached, it counts as stopped a
    heartbeat on."""
    with contextlib.suppress(Exception):
        await services.recovery.withdraw()


async def _periodically(
    work: Callable[[], Awaitable[int]],
    interval: float,
    what: str,
    cleaned_up: str,
    wait_first: bool = False,
) -> None:
    """``work`` every ``interval`` seconds for as long as the app serves, at once unless
    ``wait_first``: a failure is logged and the next round tries again."""
    if wait_first:
        await anyio.sleep(interval)
    while True:
        try:
            cleaned = await work()
        except CatalogueUnavailable:  # logged where it is met
            pass
        except Exception:
            log.exception("%s failed", what)
        else:
            if cleaned:
                log.info(cleaned_up, cleaned)
        await anyio.sleep(interval)
