"""``lading names``: who owns a package name, and who else may publish under it."""

from __future__ import annotations

import json
from typing import Any

import click

from lading.cli.artifacts import echo_table
from lading.cli.remote import remote_command
from lading.client import Client


@click.group()
def names() -> None:
    """Package names: the first project to publish under a name owns it."""


@names.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
@remote_command
def list_(client: Client, as_json: bool) -> None:
    """The names your project owns or may publish under (every name, for an admin)."""
    found = list(client.package_names())
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    echo_table(["NAME", "OWNER", "PUBLISHERS"], [_row(name) for name in found])


@names.command()
@click.argument("name")
@remote_command
def show(client: Client, name: str) -> None:
    """Who owns NAME and which other projects may publish under it."""
    _echo(client.package_name(name))


@names.command()
@click.argument("name")
@click.argument("project")
@remote_command
def give(client: Client, name: str, project: str) -> None:
    """Give NAME to PROJECT (administrators). Its publishers stay."""
    _echo(client.give_package_name(name, project))


@names.command()
@click.argument("name")
@click.argument("projects", nargs=-1)
@remote_command
def publishers(client: Client, name: str, projects: tuple[str, ...]) -> None:
    """Let exactly PROJECTS publish under NAME besides its owner (none: the owner alone)."""
    _echo(client.set_publishers(name, projects))


def _echo(name: dict[str, Any]) -> None:
    echo_table(["NAME", "OWNER", "PUBLISHERS"], [_row(name)])


def _row(name: dict[str, Any]) -> list[str]:
    return [str(name["name"]), str(name["owner"]), ",".join(name["publishers"]) or "-"]
