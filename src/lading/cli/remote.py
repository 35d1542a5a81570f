"""How the client commands reach a server (flags, environment, config file) and how they
end when it says no: a message on stderr and an exit code per kind of failure."""

from __future__ import annotations

import difflib
import enum
import functools
import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from lading.client import Client
from lading.errors import (
    Conflict,
    DigestMismatch,
    Forbidden,
    Gone,
    LadingError,
    NotFound,
    ServerUnreachable,
    TaskFailed,
    TooLarge,
    Unauthorized,
)

DEFAULT_URL = "http://127.0.0.1:9292"
CONFIG_VARIABLE = "LADING_CLIENT_CONFIG"
# What the client commands read from the environment (upload's --chunk-size too).
CLIENT_VARIABLES = ("LADING_URL", "LADING_TOKEN", CONFIG_VARIABLE, "LADING_CHUNK_SIZE")
SLIP_CUTOFF = 0.8  # as near as LADING_TOKN is to LADING_TOKEN


class Exit(enum.IntEnum):
    """The exit codes of the client commands (2 is click's own, for usage errors)."""

    OK = 0
    FAILED = 1  # the server took the request, the work failed: a conflict, a bad digest
    USAGE = 2  # the command or the request it made was wrong
    NOT_FOUND = 3
    REFUSED = 4  # no or a bad token, not allowed, over quota
    SERVER = 5  # the server failed or could not be reached


def exit_code(error: LadingError) -> Exit:
    match error:
        case ServerUnreachable():
            return Exit.SERVER
        case DigestMismatch() | TaskFailed() | Conflict():
            return Exit.FAILED
        case NotFound() | Gone():
            return Exit.NOT_FOUND
        case Unauthorized() | Forbidden() | TooLarge():
            return Exit.REFUSED
    return Exit.SERVER if error.status >= 500 else Exit.USAGE


def config_path() -> Path:
    """``$LADING_CLIENT_CONFIG``, else ``lading/client.toml`` in the XDG config folder."""
    if explicit := os.environ.get(CONFIG_VARIABLE):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "lading" / "client.toml"


def read_config(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.UsageError(f"cannot read the client config {path}: {exc}") from None
    unknown = set(config) - {"url", "token"}
    if unknown or not all(isinstance(value, str) for value in config.values()):
        raise click.UsageError(f"{path} takes only url and token, as strings")
    return config


def misspelt_variables(environment: Mapping[str, str]) -> list[str]:
    """A warning for each ``LADING_*`` variable that looks like a slip in one the client
    reads (``LADING_TOKN``) and that no server setting has: unwarned, the command would go
    on without it (no token: a 401 that does not say why)."""
    near = {
        name: found[0]
        for name in environment
        if name.startswith("LADING_") and name not in CLIENT_VARIABLES
        if (found := difflib.get_close_matches(name, CLIENT_VARIABLES, 1, SLIP_CUTOFF))
    }
    if not near:
        return []
    # Only now: the settings model costs a tenth of a second to import.
    from lading.settings import Settings
    from lading.settings_keys import SettingsNames

    known = SettingsNames.of(Settings)
    return [
        f"{name} is not a variable lading reads: did you mean {nearest}?"
        for name, nearest in sorted(near.items())
        if not known.knows_variable(name)
    ]


def remote_command(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command ``--url`` and ``--token`` and a ``client`` built from them, and turn
    the errors it raises into a message and an exit code."""

    @click.pass_context
    def run(
        ctx: click.Context, /, server_url: str | None, token: str | None, **kwargs: Any
    ) -> None:
        for line in misspelt_variables(os.environ):
            click.echo(f"warning: {line}", err=True)
        if server_url is None or token is None:
            config = read_config(config_path())
            server_url, token = server_url or config.get("url"), token or config.get("token")
        client = ctx.with_resource(Client(server_url or DEFAULT_URL, token))
        try:
            command(client, **kwargs)
        except LadingError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exit_code(exc))

    functools.update_wrapper(run, command)  # the command's name and help
    url = click.option(
        "--url",
        "server_url",
        envvar="LADING_URL",
        help=f"The server (env LADING_URL, then the config file; default {DEFAULT_URL}).",
    )
    token = click.option(
        "--token",
        envvar="LADING_TOKEN",
        help="The API token (env LADING_TOKEN, then the config file).",
    )
    return url(token(run))
