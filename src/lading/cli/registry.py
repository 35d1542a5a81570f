"""``lading registry``: the OCI registry's repositories, on the server's catalogue (as
``lading token`` and ``lading scrub`` are: an operator's commands, run where the settings
are)."""

from __future__ import annotations

from pathlib import Path

import anyio
import click

from lading.cli.server import CONFIG_OPTION, load_settings
from lading.db.engine import Database
from lading.errors import LadingError
from lading.services import Services
from lading.services.access import Caller
from lading.services.oci import PRIVATE, PUBLIC
from lading.services.roles import ADMIN
from lading.stores.registry import StoreRegistry


@click.group()
def registry() -> None:
    """The OCI registry's repositories (docs/api-oci.md)."""


@registry.command()
@CONFIG_OPTION
@click.argument("name")
@click.argument("visibility", type=click.Choice([PUBLIC, PRIVATE]))
def visibility(config_file: Path | None, name: str, visibility: str) -> None:
    """Make repository NAME public (anyone pulls it) or private (its project only)."""
    settings = load_settings(config_file)
    database = Database(settings.resolved_database_url)
    database.upgrade()
    stores = StoreRegistry.from_settings(settings)
    services = Services.build(settings, database, stores)
    operator = Caller.with_role(settings.default_project, ADMIN)

    async def run() -> None:
        try:
            await services.registry.set_visibility(operator, name, visibility)
        finally:
            await stores.close()

    try:
        anyio.run(run)
    except LadingError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        database.dispose()
    click.echo(f"{name} is {visibility}")
