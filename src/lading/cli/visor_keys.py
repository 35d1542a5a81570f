"""``lading visor-key``: the access keys VISoR's clients sign their requests with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import click

from lading.cli.catalogue import CREATE_OPTION, open_catalogue
from lading.cli.server import CONFIG_OPTION, load_settings
from lading.errors import LadingError
from lading.services.identity import Identities
from lading.services.policy import Policy
from lading.services.roles import ROLES
from lading.services.sealing import Sealer
from lading.services.visor_keys import VisorKeys


@click.group("visor-key")
def visor_key() -> None:
    """Manage VISoR access keys. Like a token, the first one closes an open server."""


@contextmanager
def keys(
    config_file: Path | None, create: bool = False, offer_create: bool = False
) -> Iterator[VisorKeys]:
    settings = load_settings(config_file)
    database = open_catalogue(settings, create=create, offer_create=offer_create)
    policy = Policy()
    identities = Identities(database, settings.default_project, policy)
    try:
        yield VisorKeys(database, Sealer(settings), policy, identities)
    finally:
        database.dispose()


@visor_key.command("create")
@CONFIG_OPTION
@click.option("--project", required=True, help="The project the key acts for.")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What it may do.")
@click.option("--description", default="", help="A note to recognise it by in the list.")
@CREATE_OPTION
def visor_key_create(
    config_file: Path | None, project: str, role: str, description: str, create: bool
) -> None:
    """Create a key pair; the secret is printed once, on the last line, and kept sealed.
    The catalogue it went to is named on stderr."""
    with keys(config_file, create, offer_create=True) as made:
        try:
            new = anyio.run(made.create, project, role, description)
        except LadingError as exc:
            raise click.UsageError(exc.message) from None
    click.echo(f"access key {new.record.access_key}: project {project}, role {role}")
    click.echo(new.record.access_key)
    click.echo(new.secret)


@visor_key.command("revoke")
@CONFIG_OPTION
@click.argument("access_key")
def visor_key_revoke(config_file: Path | None, access_key: str) -> None:
    """Revoke a key; requests signed with it get 403 from then on."""
    with keys(config_file) as made:
        try:
            record = anyio.run(made.revoke, access_key)
        except LadingError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"access key {record.access_key} revoked")


@visor_key.command("list")
@CONFIG_OPTION
def visor_key_list(config_file: Path | None) -> None:
    """The keys, without their secret: access key, project, role, state."""
    with keys(config_file) as made:
        records = anyio.run(made.list)
    for record in records:
        state = "revoked" if record.revoked_at else "active"
        line = f"{record.access_key}  {record.project}  {record.role}  {state}"
        click.echo(f"{line}  {record.description}")
