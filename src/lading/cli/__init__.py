"""The ``lading`` command: a server's own commands, and the client commands people use."""

from __future__ import annotations

import click

from lading.cli import artifacts, server


@click.group()
@click.version_option(package_name="lading")
def main() -> None:
    """lading: a repository service for VM images and software packages.

    serve, db, scrub and token act on a server and its data, on this machine. The other
    commands talk to a server over its API: give it with --url and --token, LADING_URL
    and LADING_TOKEN, or a client config file (see lading upload --help).
    """


for _command in [server.serve, server.db, server.scrub, server.token, *artifacts.COMMANDS]:
    main.add_command(_command)
