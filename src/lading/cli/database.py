"""``lading db``'s commands that move a catalogue: expand and contract (a rolling
upgrade's two halves) and copy (to another database, SQLite to PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
from sqlalchemy.exc import ArgumentError, OperationalError

from lading.cli.catalogue import catalogue_errors, refuse_a_missing_catalogue, shown
from lading.cli.server import CONFIG_OPTION, db, load_settings
from lading.clock import Clock
from lading.db.copier import Copier, CopyRefused, CopyReport, alive_since
from lading.db.engine import CONTRACT, Database, Migration, MigrationRefused

__all__ = ["db"]


@db.command()
@CONFIG_OPTION
def expand(config_file: Path | None) -> None:
    """Apply the expand steps of the pending migrations: nodes of the previous release
    keep serving on the catalogue while this release's nodes start."""
    where, reached, waiting = _migrate(config_file, Database.expand)
    click.echo(f"expanded to migration {reached}: {where}")
    if waiting:
        steps = ", ".join(f"{m.revision} ({m.title})" for m in waiting)
        click.echo(
            f"contract steps waiting: {steps}; run lading db contract once every node runs "
            "this release"
        )


@db.command()
@CONFIG_OPTION
def contract(config_file: Path | None) -> None:
    """Apply the contract steps, which nodes of the previous release cannot serve on: run
    it once every node runs this release."""
    where, reached, _ = _migrate(config_file, Database.contract)
    click.echo(f"contracted to migration {reached}: {where}")


def _migrate(
    config_file: Path | None, step: Callable[[Database], str | None]
) -> tuple[str, str | None, list[Migration]]:
    """The configured catalogue, which must exist, taken one ``step``: where it is, the
    revision reached and the contract steps still waiting."""
    settings = load_settings(config_file)
    with catalogue_errors(settings):
        database = Database(settings.resolved_database_url)
        try:
            refuse_a_missing_catalogue(settings, database)
            reached = step(database)
            waiting = [migration for migration in database.pending() if migration.phase == CONTRACT]
        finally:
            database.dispose()
    return shown(settings.resolved_database_url), reached, waiting


@db.command("copy")
@CONFIG_OPTION
@click.option(
    "--to", "target", required=True, metavar="URL",
    help="The database to copy to (a SQLAlchemy URL: postgresql+psycopg://user:pw@host/db).",
)  # fmt: skip
@click.option(
    "--from", "source", metavar="URL",
    help="The database to copy from; by default the configured one.",
)  # fmt: skip
@click.option("--replace", is_flag=True, help="Replace the catalogue the target holds, if any.")
def copy_(config_file: Path | None, target: str, source: str | None, replace: bool) -> None:
    """Copy the catalogue to another database, then check the copy table by table.

    The stores and their bytes stay where they are: point the servers' database_url at
    the copy and they serve the same artifacts. Stop every server first: the copy is of
    one moment, and what a server writes after it would be lost.
    """
    settings = load_settings(config_file)
    source = source or settings.resolved_database_url

    def progress(table: str, rows: int) -> None:
        if rows:
            click.echo(f"  {table}: {rows} rows", err=True)

    try:
        copier = Copier(source, target, progress=progress)
    except (CopyRefused, ArgumentError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        copier.prepare(replace, alive_since(Clock().now(), settings.upload_heartbeat))
        click.echo(
            f"copying {shown(str(copier.source.url))} to {shown(str(copier.target.url))}",
            err=True,
        )
        copier.copy()
        report = copier.check()
    except (CopyRefused, MigrationRefused) as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:  # a database that cannot be reached, or refuses us
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise click.ClickException(f"the database cannot be reached: {reason}") from None
    finally:
        copier.close()
    show(report)


def show(report: CopyReport) -> None:
    """Each table's rows and digest, then the verdict: a copy that differs from its
    source in anything exits non-zero."""
    width = max(len(table.name) for table in report.tables)
    for table in report.tables:
        verdict = "same" if table.matches else "DIFFERENT"
        counts = (
            f"{table.source_rows}"
            if table.source_rows == table.target_rows
            else f"{table.source_rows} -> {table.target_rows}"
        )
        click.echo(
            f"{table.name:<{width}}  {counts:>9} rows  {table.target_digest[:16]}  {verdict}"
        )
    if not report.matches:
        different = [table.name for table in report.tables if not table.matches]
        raise click.ClickException(
            f"the copy differs from the source in {', '.join(different)}: do not use it "
            "(did a server write to the source meanwhile?)"
        )
    click.echo(
        f"copied {report.rows} rows in {len(report.tables)} tables, each checked, at "
        f"migration {report.revision}"
    )
