"""The ``lading`` command."""

from __future__ import annotations

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import anyio
import click
from pydantic import ValidationError

from lading.db.engine import Database
from lading.errors import LadingError
from lading.settings import Settings
from lading.stores.registry import StoreRegistry

CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML settings file (LADING_* variables override it).",
)


def load_settings(config_file: Path | None) -> Settings:
    try:
        return Settings.load(config_file)
    except ValidationError as exc:
        raise click.UsageError(f"invalid settings:\n{exc}") from None
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from None


@click.group()
@click.version_option(package_name="lading")
def main() -> None:
    """lading: a repository service for VM images and software packages."""


@main.command()
@CONFIG_OPTION
@click.option("--host", help="Address to bind (default: the host setting, 127.0.0.1).")
@click.option("--port", type=int, help="Port to bind (default: the port setting, 9292).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
def serve(config_file: Path | None, host: str | None, port: int | None, workers: int) -> None:
    """Serve the API with granian."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    settings = load_settings(config_file)
    logging.basicConfig(level=settings.log_level.upper())
    # Fail here, once, rather than in every worker.
    Database(settings.resolved_database_url).upgrade()
    problem = check_stores_apart(settings)
    if problem is not None:
        raise click.ClickException(problem)
    Granian(
        "lading.app:create_app",
        factory=True,
        address=host or settings.host,
        port=settings.port if port is None else port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_level=LogLevels(settings.log_level),
    ).serve()


def check_stores_apart(settings: Settings) -> str | None:
    """Reach every store from a process of its own; the reason if one cannot be reached.

    Apart, because granian forks its workers from this process, and object-store clients
    with runtimes of their own (obstore) do not survive a fork once they have run.
    """
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as pool:
        return pool.submit(_check_stores, settings).result()


def _check_stores(settings: Settings) -> str | None:
    try:
        anyio.run(StoreRegistry.from_settings(settings).check)
    except LadingError as exc:
        return exc.message
    return None


@main.group()
def db() -> None:
    """Manage the catalogue database."""


@db.command()
@CONFIG_OPTION
def upgrade(config_file: Path | None) -> None:
    """Apply the database migrations."""
    settings = load_settings(config_file)
    Database(settings.resolved_database_url).upgrade()
    click.echo(f"database is up to date: {settings.resolved_database_url}")
