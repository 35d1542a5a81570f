"""lading metadefs: metadata definitions kept in the catalogue, loaded from files."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import click

from lading.cli.catalogue import CREATE_OPTION, open_catalogue
from lading.cli.server import CONFIG_OPTION, load_settings
from lading.errors import LadingError
from lading.services.metadefs import Metadefs

MAX_FILE = 4 * 1024 * 1024  # Glance's largest definition file is about 60 KiB


@click.group()
def metadefs() -> None:
    """Manage metadata definitions (Glance's metadefs) on this machine's catalogue."""


@metadefs.command()
@CONFIG_OPTION
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Replace namespaces that exist already (with what they hold); else they are kept.",
)
@click.option(
    "--owner",
    default="admin",
    show_default=True,
    help="The project that owns the namespaces whose file names none (as Glance's loader).",
)
@CREATE_OPTION
def load(
    config_file: Path | None, directory: Path, replace: bool, owner: str, create: bool
) -> None:
    """Load the definition files in DIRECTORY: every file named .json, in Glance's format
    (one namespace a file, with its resource type associations, properties, objects and
    tags).

    The files Glance ships (etc/metadefs) load as they are; a file that cannot be read or
    is not a valid namespace is reported and the others are loaded; the exit status is
    then 1.
    """
    settings = load_settings(config_file)
    database = open_catalogue(settings, create=create, offer_create=True)
    service = Metadefs(database)
    failed = 0
    try:
        for path in sorted(directory.glob("*.json")):
            try:
                document = _read(path)
                loaded = anyio.run(service.load, document, owner, replace)
            except (LadingError, OSError, ValueError) as exc:
                failed += 1
                message = exc.message if isinstance(exc, LadingError) else str(exc)
                click.echo(f"{path.name}: not loaded: {message}", err=True)
                continue
            if loaded is None:
                click.echo(f"{path.name}: kept the namespace that exists (--replace replaces it)")
            else:
                click.echo(f"{path.name}: loaded {loaded}")
    finally:
        database.dispose()
    if failed:
        raise click.exceptions.Exit(1)


def _read(path: Path) -> object:
    if path.stat().st_size > MAX_FILE:
        raise ValueError(f"larger than {MAX_FILE} bytes")
    return json.loads(path.read_text(encoding="utf-8"))
