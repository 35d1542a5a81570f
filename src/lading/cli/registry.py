"""``lading registry``: the OCI registry's repositories, on the server's catalogue (as
``lading token`` and ``lading scrub`` are: an operator's commands, run where the settings
are)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import anyio
import click

from lading.cli.catalogue import open_catalogue
from lading.cli.server import CONFIG_OPTION, load_settings
from lading.errors import LadingError
from lading.services import Services
from lading.services.access import Caller
from lading.services.disk_imports import split_reference
from lading.services.oci import PRIVATE, PUBLIC, Access
from lading.services.roles import ADMIN, MEMBER
from lading.stores.registry import StoreRegistry

T = TypeVar("T")


@click.group()
def registry() -> None:
    """The OCI registry's repositories (docs/api-oci.md)."""


@registry.command()
@CONFIG_OPTION
@click.argument("name")
@click.argument("visibility", type=click.Choice([PUBLIC, PRIVATE]))
def visibility(config_file: Path | None, name: str, visibility: str) -> None:
    """Make repository NAME public (anyone pulls it) or private (its project only)."""

    async def work(services: Services, operator: Caller) -> None:
        await services.registry.set_visibility(operator, name, visibility)

    _run(config_file, work)
    click.echo(f"{name} is {visibility}")


@registry.command()
@CONFIG_OPTION
@click.option("--dry-run", is_flag=True, help="Say what would go, and change nothing.")
def gc(config_file: Path | None, dry_run: bool) -> None:
    """Unlink the blobs no manifest of their repository names, older than oci.gc_grace;
    the bytes nothing else refers to leave their store."""

    async def work(services: Services, operator: Caller) -> None:
        collected = await services.registry_gc.collect(dry_run)
        verb = "would unlink" if dry_run else "unlinked"
        for link in collected.unlinked:
            click.echo(f"{verb} {link.repository}@{link.digest} ({link.size} bytes)")
        went = "would free" if dry_run else "freed"
        click.echo(
            f"{verb} {len(collected.unlinked)} blobs ({collected.unlinked_bytes} bytes); "
            f"{went} {collected.freed_bytes} bytes of {collected.freed} stored objects"
        )

    _run(config_file, work)


def _run(config_file: Path | None, work: Callable[[Services, Caller], Awaitable[T]]) -> T:
    """``work`` with the server's services, as an administrator of the default project."""
    settings = load_settings(config_file)
    database = open_catalogue(settings, create=False)
    stores = StoreRegistry.from_settings(settings)
    services = Services.build(settings, database, stores)
    operator = Caller.with_role(settings.default_project, ADMIN)

    async def run() -> T:
        try:
            return await work(services, operator)
        finally:
            await stores.close()

    try:
        return anyio.run(run)
    except LadingError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        database.dispose()


@registry.command(name="import")
@CONFIG_OPTION
@click.argument("reference")
@click.option("--name", "image_name", help="The image's name (default: the reference).")
@click.option(
    "--project", help="The project the image is made for (default: the repository's owner)."
)
def import_disk(
    config_file: Path | None, reference: str, image_name: str | None, project: str | None
) -> None:
    """Register the container disk REFERENCE (repository:tag or repository@digest) as an
    image: its disk streamed out of its layer, inspected, checked; prints the image's id."""
    name, tag = split_reference(reference)

    async def work(services: Services, operator: Caller) -> str:
        owner = project or await services.registry.owner(name)
        # As the project's member: its repository's rules and its quota apply.
        access = Access(Caller.with_role(owner, MEMBER))
        image = await services.disk_imports.register(access, name, tag, image_name)
        return f"{image.id} {image.disk_format} {image.size}"

    click.echo(_run(config_file, work))
