"""``lading repositories``: a project's OCI registry repositories, over the server's API
(``lading registry`` is the operator's, where the server's settings are)."""

from __future__ import annotations

import json
from typing import Any

import click

from lading.cli.artifacts import echo_table
from lading.cli.remote import remote_command
from lading.client import Client

HEADERS = ["NAME", "OWNER", "VISIBILITY", "SIZE", "BLOBS", "TAGS"]


@click.group()
def repositories() -> None:
    """Your project's OCI registry repositories (docs/api-oci.md)."""


@repositories.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
@remote_command
def list_(client: Client, as_json: bool) -> None:
    """Your project's repositories (every one, for an admin), with the bytes they hold."""
    found = list(client.repositories())
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    echo_table(HEADERS, [_row(repository) for repository in found])


@repositories.command()
@click.argument("name")
@remote_command
def show(client: Client, name: str) -> None:
    """Repository NAME: its owner, visibility and size."""
    echo_table(HEADERS, [_row(client.repository(name))])


@repositories.command()
@click.argument("name")
@click.argument("visibility", type=click.Choice(["public", "private"]))
@remote_command
def visibility(client: Client, name: str, visibility: str) -> None:
    """Make repository NAME public (anyone pulls it) or private (your project only)."""
    echo_table(HEADERS, [_row(client.set_repository_visibility(name, visibility))])


def _row(repository: dict[str, Any]) -> list[str]:
    return [
        str(repository["name"]), str(repository["owner"]), str(repository["visibility"]),
        str(repository["size"]), str(repository["blobs"]), str(repository["tags"]),
    ]  # fmt: skip
