"""The ``lading`` command: a server's own commands, and the client commands people use.

Each command's module is imported when the command runs, not before: the client commands
then start without loading the server (its database and store drivers).
"""

from __future__ import annotations

import importlib

import click

# Command name -> "module:attribute" of the click command.
COMMANDS = {
    "serve": "lading.cli.server:serve",
    "db": "lading.cli.database:db",
    "token": "lading.cli.server:token",
    "visor-key": "lading.cli.visor_keys:visor_key",
    "metadefs": "lading.cli.metadefs:metadefs",
    "scrub": "lading.cli.server:scrub",
    "upload": "lading.cli.artifacts:upload",
    "download": "lading.cli.artifacts:download",
    "list": "lading.cli.artifacts:list_",
    "show": "lading.cli.artifacts:show",
    "update": "lading.cli.artifacts:update",
    "delete": "lading.cli.artifacts:delete",
    "import": "lading.cli.artifacts:import_",
    "tasks": "lading.cli.artifacts:tasks",
    "publish": "lading.cli.artifacts:publish",
    "unpublish": "lading.cli.artifacts:unpublish",
    "names": "lading.cli.names:names",
    "registry": "lading.cli.registry:registry",
    "repositories": "lading.cli.repositories:repositories",
    "retention": "lading.cli.retention:retention",
    "pypi": "lading.cli.pypi:pypi",
}


class LazyGroup(click.Group):
    """A group whose commands are imported by name when asked for (click's lazy pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command


@click.group(cls=LazyGroup)
@click.version_option(package_name="lading")
def main() -> None:
    """lading: a repository service for VM images and software packages.

    serve, db, scrub, token, visor-key, metadefs and registry act on a server and its data,
    on this machine. The other commands talk to a server over its API: give it with --url
    and --token, LADING_URL and LADING_TOKEN, or a client config file (see lading upload
    --help).
    """
