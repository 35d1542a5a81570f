"""``lading pypi``: the Python package index's indexes, yanks and deletes, over the API
(uploads are twine's and ``uv publish``'s, docs/api-pypi.md)."""

from __future__ import annotations

import json

import click

from lading.cli.artifacts import echo_table
from lading.cli.remote import remote_command
from lading.client import Client


@click.group()
def pypi() -> None:
    """The Python package index at /pypi/<index>/ (docs/api-pypi.md)."""


@pypi.command()
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
@remote_command
def indexes(client: Client, as_json: bool) -> None:
    """The indexes you may read, with their owner, visibility and bases."""
    found = client.pypi_indexes()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    rows = [[i["name"], i["owner"], i["visibility"], ",".join(i["bases"]) or "-"] for i in found]
    echo_table(["NAME", "OWNER", "VISIBILITY", "BASES"], rows)


@pypi.command("index")
@click.argument("name")
@click.option("--owner", help="The project that owns it (default: yours).")
@click.option("--visibility", type=click.Choice(["public", "private"]), default="private")
@click.option("--base", "bases", multiple=True, help="An index beneath it, in order (repeat).")
@remote_command
def index(
    client: Client, name: str, owner: str | None, visibility: str, bases: tuple[str, ...]
) -> None:
    """Make index NAME, or change it (administrators)."""
    made = client.put_pypi_index(name, owner, visibility, bases)
    click.echo(f"{made['name']}: {made['visibility']}, owned by {made['owner']}")


@pypi.command("remove-index")
@click.argument("name")
@remote_command
def remove_index(client: Client, name: str) -> None:
    """Remove index NAME, which must hold no file (administrators)."""
    client.delete_pypi_index(name)
    click.echo(f"{name} removed")


@pypi.command()
@click.argument("index")
@click.argument("project")
@click.argument("version")
@click.option("--reason", help="Why (PEP 592: installers show it).")
@remote_command
def yank(client: Client, index: str, project: str, version: str, reason: str | None) -> None:
    """Yank release VERSION of PROJECT in INDEX: installers skip it unless pinned to it."""
    count = client.yank(index, project, version, reason)
    click.echo(f"{project} {version} yanked ({count} files)")


@pypi.command()
@click.argument("index")
@click.argument("project")
@click.argument("version")
@remote_command
def unyank(client: Client, index: str, project: str, version: str) -> None:
    """Restore a yanked release."""
    count = client.yank(index, project, version, undo=True)
    click.echo(f"{project} {version} restored ({count} files)")


@pypi.command()
@click.argument("index")
@click.argument("project")
@click.argument("version")
@click.option("--file", "filename", help="Only this file of the release.")
@remote_command
def delete(client: Client, index: str, project: str, version: str, filename: str | None) -> None:
    """Delete release VERSION of PROJECT from INDEX (every file, or --file)."""
    count = client.delete_release(index, project, version, filename)
    click.echo(f"{count} files deleted")


@pypi.command("allow-reuse")
@click.argument("index")
@click.argument("filename")
@remote_command
def allow_reuse(client: Client, index: str, filename: str) -> None:
    """Let FILENAME, deleted from INDEX, be uploaded again (administrators). Installers
    that pinned the old file's hash then fail on the new bytes."""
    client.allow_reuse(index, filename)
    click.echo(f"{filename} may be uploaded to {index} again")
