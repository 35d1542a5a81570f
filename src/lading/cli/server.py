"""The commands that run a server and manage its data: serve, db, scrub, token."""

from __future__ import annotations

import logging
import logging.config
import multiprocessing
import os
import re
import resource
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import click
from pydantic import ValidationError

from lading import logs
from lading.cli.catalogue import CREATE_OPTION, catalogue_errors, open_catalogue, shown
from lading.cli.launch import Launch, worker_app
from lading.cli.redirects import REGISTRY, RedirectsFailed, start_redirects, stop_redirects
from lading.cli.startup import Listener, check_listeners, listen_failure
from lading.clock import Clock, timestamp
from lading.db.engine import Database
from lading.errors import LadingError
from lading.metrics import MULTIPROCESS_VARIABLE
from lading.services.catalogue import Catalogue
from lading.services.identity import Identities, any_credential
from lading.services.names import PackageNames
from lading.services.policy import Policy
from lading.services.roles import ROLES, PolicyError
from lading.services.sealing import KEY_FILE, Sealer
from lading.settings import (
    FilesystemStoreSettings,
    RbdStoreSettings,
    S3StoreSettings,
    Settings,
    TlsSettings,
)
from lading.settings_errors import ConfigFileError
from lading.settings_keys import UnknownSetting, variable_name
from lading.stores.registry import StoreRegistry
from lading.tls import CertificateProblem, check_server_files
from lading.url_rules import is_loopback

OTHER_FILES = 256  # what a server holds open besides its clients: database, stores, logs
log = logging.getLogger(__name__)

CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML settings file (LADING_* variables override it).",
)


def load_settings(config_file: Path | None, pnda_config: Path | None = None) -> Settings:
    return load_launch(Launch(config_file, pnda_config))


def load_launch(launch: Launch) -> Settings:
    """The settings, or a one-line error naming what is wrong with them."""
    config_file = launch.config_file
    try:
        return launch.settings()
    except (ConfigFileError, UnknownSetting) as exc:  # one line a problem, no traceback
        raise click.ClickException(str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        hint = " (PNDA's pr-config.json goes to --pnda-config)" if _json_named(config_file) else ""
        raise click.ClickException(f"{config_file}: not TOML ({exc}){hint}") from None
    except ValidationError as exc:
        raise click.UsageError("invalid settings:\n" + "\n".join(invalid_values(exc))) from None
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from None


def invalid_values(exc: ValidationError) -> list[str]:
    """pydantic's report, a line a problem: the key, what is wrong, where it is set (the
    value itself is left out: it may be a secret)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        key = ".".join(str(part) for part in error["loc"])
        if key:
            message = f"{key}: {message} ({key} in the TOML file or {variable_name(key)})"
        lines.append(f"  {message}")
    return lines


def _json_named(path: Path | None) -> bool:
    return path is not None and path.suffix.lower() == ".json"


@click.command()
@CONFIG_OPTION
@click.option(
    "--pnda-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PNDA's pr-config.json: the PNDA face serves its repository from the store it names "
    "(the pnda.config setting).",
)
@click.option("--host", help="Address to bind (default: the host setting, 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default: the port setting, 9292).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option(
    "--insecure-open",
    is_flag=True,
    help="Serve with no tokens on an address other than loopback (anyone reaching it is admin).",
)
def serve(
    config_file: Path | None,
    pnda_config: Path | None,
    host: str | None,
    port: int | None,
    workers: int,
    insecure_open: bool,
) -> None:
    """Serve the API with granian."""
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, SSLProtocols
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    launch = Launch(
        config_file=None if config_file is None else config_file.resolve(),
        pnda_config=None if pnda_config is None else pnda_config.resolve(),
        host=host,
        port=port,
    )
    settings = load_launch(launch)
    log_config = logs.dict_config(settings.log_level, settings.log_format)
    logging.config.dictConfig(log_config)
    listen_port = settings.port
    tls = tls_options(settings.tls, listen_port)
    if (problem := check_listeners(settings)) is not None:
        raise click.ClickException(problem)
    shared = None
    if workers > 1:  # each worker is a process: their metrics meet in files of this server's
        shared = tempfile.mkdtemp(prefix="lading-metrics-")
        os.environ[MULTIPROCESS_VARIABLE] = shared
        # prometheus-client picks its mode when imported: workers must start afresh.
        multiprocessing.set_start_method("spawn", force=True)
    address = settings.host
    try:
        Policy.load(settings.policy_file, settings.property_protection_file)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    # Fail here, once, rather than in every worker; the first start makes the catalogue.
    with catalogue_errors(settings):
        upgrade_apart(settings.resolved_database_url)
    database = open_catalogue(settings, create=True, announce=False)
    log.info("catalogue: %s", shown(settings.resolved_database_url))
    with catalogue_errors(settings):
        runs_open = not database.run(False, any_credential)
    if runs_open and not is_loopback(address) and not insecure_open:
        raise click.ClickException(
            f"no API token exists, so lading would serve {address} open, with every caller an "
            "admin. Create one first (lading token create --project P --role admin), bind a "
            "loopback address, or pass --insecure-open."
        )
    if (problem := check_stores(settings)) is not None:
        raise click.ClickException(problem)
    try:  # made here once, rather than failing in every worker as it builds the app
        Sealer(settings)
    except OSError as exc:
        raise click.ClickException(
            f"the secret key file {settings.data_dir / KEY_FILE} cannot be made or read: "
            f"{exc.strerror or exc}; set data_dir (LADING_DATA_DIR) to a folder lading's user "
            "may write, or secret_key (LADING_SECRET_KEY)"
        ) from None
    edge = settings.server
    raise_open_files_limit(edge.connections)
    if tls:
        tls |= {
            "ssl_protocol_min": SSLProtocols(f"tls{settings.tls.minimum_version}"),
            # Over TLS clients would pick HTTP/2 (ALPN): the edge's limits and timeouts
            # (server.*) are HTTP/1.1's, and every client of lading speaks it.
            "http": HTTPModes.http1,
        }
    server = Granian(
        "lading.app:create_app",  # its name only: the workers load the app with worker_app
        address=address,
        port=listen_port,
        interface=Interfaces.ASGI,
        workers=workers,
        backlog=edge.backlog,
        # granian's default (backlog / workers) lets a thousand slow clients hold a worker.
        backpressure=edge.connections,
        http1_settings=HTTP1Settings(header_read_timeout=round(edge.header_timeout * 1000)),
        log_level=LogLevels(settings.log_level),
        log_dictconfig=log_config,
        **tls,
    )
    if settings.oci.port == listen_port:
        raise click.ClickException(f"oci.port {listen_port} is the API's port: choose another")
    redirects = registry = None
    try:
        if settings.tls.redirect_port is not None:
            try:
                redirects = start_redirects(launch, address, settings.tls.redirect_port)
            except RedirectsFailed as exc:
                raise click.ClickException(str(exc)) from None
            log.info("redirecting http://%s:%d to HTTPS", address, settings.tls.redirect_port)
        if settings.oci.port is not None:
            try:
                registry = start_redirects(launch, address, settings.oci.port, REGISTRY)
            except RedirectsFailed as exc:
                raise click.ClickException(str(exc)) from None
            scheme = "https" if tls else "http"
            log.info("the OCI registry on %s://%s:%d", scheme, address, settings.oci.port)
        # Each worker builds its own settings from the same launch: the same files, and
        # this address and port (where the redirect listener sends its clients too).
        try:
            server.serve(target_loader=partial(worker_app, launch), wrap_loader=False)
        except RuntimeError as exc:  # granian's bind, lost to another program since the check
            if "(os error" not in str(exc):
                raise
            failure = listen_failure(address, Listener(listen_port, "port"), exc)
            raise click.ClickException(failure) from None
    finally:
        for listener in (redirects, registry):
            if listener is not None:
                stop_redirects(listener)
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


def upgrade_apart(url: str) -> None:
    """Migrate the catalogue, if it is not current, in a child process: alembic and the
    migrations (9 MiB) would otherwise stay in this process, which every worker is forked
    from, after a first start (docs/performance.md, idle memory)."""
    database = Database(url)
    try:
        if database.current():
            return
    finally:
        database.dispose()  # no connection of this process may reach the child
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        pool.submit(_upgrade, url).result()


def _upgrade(url: str) -> None:
    database = Database(url)
    try:
        database.upgrade()
    finally:
        database.dispose()


def tls_options(tls: TlsSettings, port: int) -> dict[str, Any]:
    """granian's TLS options, once the files have been checked: none for plain HTTP."""
    if tls.certificate is None or tls.key is None:
        return {}
    try:
        warning = check_server_files(tls.certificate, tls.key)
    except CertificateProblem as exc:
        raise click.ClickException(str(exc)) from None
    if warning is not None:
        log.warning("%s", warning)
    if tls.redirect_port == port:
        raise click.ClickException(
            f"tls.redirect_port {port} is the port HTTPS is served on: choose another"
        )
    return {"ssl_cert": tls.certificate.resolve(), "ssl_key": tls.key.resolve()}


def raise_open_files_limit(connections: int) -> None:
    """Let each worker hold ``connections`` sockets: raise the soft limit on open files
    (often 1,024) to the hard one (often 524,288), which workers inherit; say so when
    even that is short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + OTHER_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        if soft < wanted:
            log.warning(
                "open files are limited to %d, fewer than the %d connections server.connections "
                "allows each worker: raise the hard limit (LimitNOFILE= in a systemd unit)",
                soft, connections,
            )  # fmt: skip


def check_stores(settings: Settings) -> str | None:
    """Reach every store once; the reason if one cannot be reached.

    An S3 store's client (obstore) runs a runtime of its own that does not survive a fork
    once it has run, and granian forks its workers from this process: with an S3 store
    the check runs in a process apart, and with an rbd store too (librados starts threads
    and process-wide state that it does not promise to leave fork-safe on shutdown).
    Without either it runs here, which spares every start (a restart after a crash too)
    the second that starting a Python process takes.
    """
    apart = (S3StoreSettings, RbdStoreSettings)
    if any(isinstance(store, apart) for store in settings.stores.values()):
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(1, mp_context=spawn) as pool:
            return pool.submit(_check_stores, settings).result()
    return _check_stores(settings)


def _check_stores(settings: Settings) -> str | None:
    async def check() -> None:
        stores = StoreRegistry.from_settings(settings)
        try:
            await stores.check()
        finally:  # no connection of this loop may reach the forked workers
            await stores.close()

    try:
        anyio.run(check)
    except LadingError as exc:  # its first line: a driver may add pages of debug output
        log.debug("the stores' check: %s", exc.message)
        return exc.message.strip().splitlines()[0]
    except OSError as exc:  # a filesystem store's folder, made as the store is built
        return _folder_failure(settings, exc)
    return None


def _folder_failure(settings: Settings, exc: OSError) -> str:
    """A filesystem store whose folder cannot be made, and the settings that place it."""
    failed = str(exc.filename or "")
    for name, store in settings.stores.items():
        path = str(settings.store_path(name)) if isinstance(store, FilesystemStoreSettings) else ""
        if path and (failed == path or failed.startswith(path + os.sep)):
            where = f"stores.{name}.path ({variable_name(f'stores.{name}.path')})"
            return (
                f"store {name!r} cannot make its folder {path}: {exc.strerror or exc}; set "
                f"{where} or data_dir (LADING_DATA_DIR) to a folder lading's user may write"
            )
    return f"a store cannot make its folder {failed}: {exc.strerror or exc}"


@click.group()
def db() -> None:
    """Manage the catalogue database."""


@db.command()
@CONFIG_OPTION
def upgrade(config_file: Path | None) -> None:
    """Apply every database migration, expand and contract at once (stop the servers of
    the previous release first, or see lading db expand); make the catalogue if there is
    none."""
    settings = load_settings(config_file)
    open_catalogue(settings, create=True, announce=False, revision="head").dispose()
    click.echo(f"database is up to date: {shown(settings.resolved_database_url)}")


@db.command()
@CONFIG_OPTION
def check(config_file: Path | None) -> None:
    """List package names with live versions from projects that may not publish under
    them (shared between projects before names had owners); exit 1 if there are any."""
    settings = load_settings(config_file)
    database = open_catalogue(settings, create=False)
    try:
        shared = anyio.run(PackageNames(database).shared)
    finally:
        database.dispose()
    for name in shared:
        others = ", ".join(f"{project} ({count})" for project, count in name.projects.items())
        click.echo(
            f"{name.name}: owned by {name.owner or 'no project'}; also published by {others}"
        )
    if shared:
        raise click.exceptions.Exit(1)
    click.echo("every package name's versions come from projects that may publish under it")


@click.command()
@CONFIG_OPTION
@click.option("--now", "at_once", is_flag=True, help="Ignore scrub_delay: scrub them all.")
def scrub(config_file: Path | None, at_once: bool) -> None:
    """Remove the data of artifacts deleted with delay (what the servers do periodically)."""
    settings = load_settings(config_file)
    database = open_catalogue(settings, create=False)
    stores = StoreRegistry.from_settings(settings)
    catalogue = Catalogue(database, stores, settings.quota, PackageNames(database))

    async def run() -> tuple[int, int]:
        reclaimable = await catalogue.reclaimable()
        try:
            return await catalogue.scrub(0 if at_once else settings.scrub_delay), reclaimable
        finally:
            await stores.close()

    try:
        scrubbed, before = anyio.run(run)
    finally:
        database.dispose()
    click.echo(f"scrubbed {scrubbed} artifacts; {before} bytes were held by pending deletes")


@click.group()
def token() -> None:
    """Manage API tokens. Once the first exists, every request needs one."""


@contextmanager
def identities(
    config_file: Path | None, create: bool = False, offer_create: bool = False
) -> Iterator[Identities]:
    settings = load_settings(config_file)
    database = open_catalogue(settings, create=create, offer_create=offer_create)
    try:
        yield Identities(database, settings.default_project, Policy())
    finally:
        database.dispose()


@token.command("create")
@CONFIG_OPTION
@click.option("--project", required=True, help="The project the token acts for.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What it may do.")
@click.option("--expires", help="When it stops working: 30d, 12h, 90m, or an ISO 8601 time (UTC).")
@click.option("--description", default="", help="A note to recognise it by in the list.")
@CREATE_OPTION
def token_create(
    config_file: Path | None,
    project: str,
    role: str,
    expires: str | None,
    description: str,
    create: bool,
) -> None:
    """Create a token; it is printed once, on the last line, and never stored in clear.
    The catalogue it went to is named on stderr."""
    expires_at = None if expires is None else parse_expiry(expires)
    with identities(config_file, create, offer_create=True) as catalogue:
        try:
            new = anyio.run(catalogue.create, project, role, expires_at, description)
        except LadingError as exc:
            raise click.UsageError(exc.message) from None
    until = "never" if expires_at is None else timestamp(expires_at)
    click.echo(f"token {new.record.id}: project {project}, role {role}, expires {until}")
    click.echo(new.token)


@token.command("revoke")
@CONFIG_OPTION
@click.argument("token_or_id")
def token_revoke(config_file: Path | None, token_or_id: str) -> None:
    """Revoke a token, given it or its id; requests carrying it get 401 from then on."""
    with identities(config_file) as catalogue:
        try:
            record = anyio.run(catalogue.revoke, token_or_id)
        except LadingError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"token {record.id} revoked")


@token.command("list")
@CONFIG_OPTION
def token_list(config_file: Path | None) -> None:
    """The tokens, without their secret: id, project, role, state."""
    with identities(config_file) as catalogue:
        records = anyio.run(catalogue.list)
    for record in records:
        state = "revoked" if record.revoked_at else "active"
        if record.expires_at is not None:
            state += f", expires {timestamp(record.expires_at)}"
        click.echo(f"{record.id}  {record.project}  {record.role}  {state}  {record.description}")


DURATION = re.compile(r"(\d{1,6})([dhms])")
UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_expiry(text: str) -> datetime:
    """A duration from now (30d, 12h, 90m, 45s) or an ISO 8601 time; naive UTC."""
    if match := DURATION.fullmatch(text.strip()):
        amount, unit = match.groups()
        return Clock().now() + timedelta(**{UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (30d, 12h, 90m) nor an ISO 8601 time",
            param_hint="--expires",
        ) from None
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)
