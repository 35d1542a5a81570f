"""The catalogue that a command on this machine acts on.

A command is run from any folder, and the default catalogue is ``data/lading.db`` below
that folder: run elsewhere, a command would make a new, empty catalogue there and answer
as if it were the server's (a valid-looking token that no server knows). So only
``lading serve``, ``lading db upgrade`` and a command given ``--create`` make a catalogue;
every other one refuses a catalogue that does not exist, and each names on stderr the
catalogue it acted on (stdout stays what scripts read: a token, a key). Every failure to
open one is one line that names the setting to change, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError

from lading.db.engine import Database, MigrationRefused
from lading.errors import CatalogueUnavailable
from lading.settings import Settings

CREATE_OPTION = click.option(
    "--create",
    is_flag=True,
    help="Make the catalogue if there is none (as lading db upgrade does); without it, a "
    "missing catalogue is an error.",
)
URL_FORMS = "sqlite:////path/lading.db or postgresql+psycopg://user:password@host/name"


def shown(url: str) -> str:
    """The catalogue as an operator names it: a SQLite file's path, else the URL with its
    password hidden."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def open_catalogue(
    settings: Settings,
    *,
    create: bool,
    offer_create: bool = False,
    announce: bool = True,
    threads: int = 2,
    revision: str | None = None,
) -> Database:
    """The settings' catalogue, migrated to this release (up to ``revision``; by default
    what a start applies, see ``Database.upgrade``); made only when ``create``.

    ``offer_create``: the command takes ``--create`` (its error says so). ``announce``:
    say which catalogue on stderr (the commands; the server logs it)."""
    url = settings.resolved_database_url
    with catalogue_errors(settings):
        database = Database(url, threads)
        try:
            if not create:
                refuse_a_missing_catalogue(settings, database, offer_create)
            database.upgrade(revision)
        except BaseException:
            database.dispose()
            raise
    if announce:
        click.echo(f"catalogue: {shown(url)}", err=True)
    return database


def refuse_a_missing_catalogue(settings: Settings, database: Database, offer: bool = False) -> None:
    url = database.url
    named = (
        "database_url"
        if settings.database_url
        else f"data_dir {str(settings.data_dir)!r}, from the folder the command runs in"
    )
    remedy = (
        "run the command where lading serve runs, or name the server's catalogue (--config, "
        f"LADING_DATA_DIR, LADING_DATABASE_URL); {'--create or ' if offer else ''}"
        "lading db upgrade makes a new one"
    )
    database_file = url.database if url.get_backend_name() == "sqlite" else None
    # Before connecting: connecting would make the file.
    if database_file and database_file != ":memory:" and not Path(database_file).exists():
        raise click.ClickException(f"no catalogue at {database_file} ({named}): {remedy}")
    if database.revision() is None:
        catalogue = shown(settings.resolved_database_url)
        raise click.ClickException(f"{catalogue} ({named}) holds no lading catalogue: {remedy}")


@contextmanager
def catalogue_errors(settings: Settings) -> Iterator[None]:
    """What goes wrong opening the catalogue, as one line naming the setting to change."""
    where = "database_url (LADING_DATABASE_URL)"
    try:
        yield
    except MigrationRefused as exc:
        raise click.ClickException(str(exc)) from None
    except ArgumentError:
        raise click.ClickException(f"{where} is not a database URL: give {URL_FORMS}") from None
    except (NoSuchModuleError, ImportError):
        raise click.ClickException(
            f"{where} names a database lading has no driver for: give {URL_FORMS}"
        ) from None
    except (OperationalError, InterfaceError, CatalogueUnavailable) as exc:
        cause = exc.__cause__ if isinstance(exc, CatalogueUnavailable) else exc
        cause = getattr(cause, "orig", None) or cause  # the driver's words, not SQLAlchemy's
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        url = settings.resolved_database_url
        check = (
            f"data_dir (LADING_DATA_DIR) and {where}"
            if make_url(url).get_backend_name() == "sqlite"
            else f"{where} and that the database server runs"
        )
        raise click.ClickException(
            f"the catalogue {shown(url)} cannot be opened: {reason}; check {check}"
        ) from None
    except OSError as exc:  # the SQLite file's folder, made by Database.upgrade
        raise click.ClickException(
            f"the catalogue's folder for {shown(settings.resolved_database_url)} cannot be "
            f"made: {exc.strerror or exc}; set data_dir (LADING_DATA_DIR) or {where}"
        ) from None
