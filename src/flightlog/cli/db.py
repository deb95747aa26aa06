"""``flightlog db``: schema migrations on SQLite or PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.errors import MigrationError
from flightlog.migrations.runner import Migrator

app = typer.Typer(
    help="Create, upgrade, downgrade and check the database schema.\n\n"
    "Example: [bold]flightlog db upgrade && flightlog db check[/bold]",
    rich_markup_mode="rich",
)
console = Console()

#: A relative target such as -1 or -2: steps down from the current revision.
_RELATIVE = re.compile(r"-\d+")


@contextmanager
def _revision_errors() -> Iterator[None]:
    """Alembic's complaint about a target (unknown id, too many steps) as one sentence."""
    # Imported here, as the runner imports Alembic: not for `flightlog --help` (issue 13).
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise MigrationError(
            f"{exc}; see 'flightlog db history' for the revisions this version ships."
        ) from exc


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision (default: head)."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Upgrade the schema to REVISION (default: the newest).

    Example: [bold]flightlog db upgrade --database-url postgresql://postgres@localhost/flightlog[/bold]
    """
    migrator = Migrator(settings_for(database_url, create=True))
    before = migrator.current()
    with _revision_errors():
        migrator.upgrade(revision)
    after = migrator.current()
    where = migrator.url.redacted()
    if before == after:
        console.print(f"[green]Schema already at {after}[/green] on {where}")
    else:
        console.print(f"[green]Upgraded[/green] {before or 'empty database'} -> {after} on {where}")


# Click reads an argument starting with '-' as an option; letting unknown "options" through
# is what lets '-1' reach REVISION. Anything else that looks like an option is refused below.
@app.command(context_settings={"ignore_unknown_options": True})
def downgrade(
    revision: str = typer.Argument(
        ..., help="Target revision: an id, 'base', or steps down from the current one: -1, -2…"
    ),
    database_url: str | None = DatabaseUrlOption,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Downgrade the schema to REVISION; 'base' removes every Flightlog table and view.

    Example: [bold]flightlog db downgrade -1 --yes[/bold]
    """
    if revision.startswith("-") and not _RELATIVE.fullmatch(revision):
        raise typer.BadParameter(
            f"{revision!r} is neither a revision nor an option of this command; "
            "give an id, 'base', or a number of steps such as -1",
            param_hint="REVISION",
        )
    migrator = Migrator(settings_for(database_url))
    if not yes:
        typer.confirm(
            f"Downgrading {migrator.url.redacted()} to {revision} drops tables and their data. "
            "Continue?",
            abort=True,
        )
    before = migrator.current()
    with _revision_errors():
        migrator.downgrade(revision)
    after = migrator.current()
    console.print(f"[yellow]Downgraded[/yellow] {before} -> {after or 'base (empty)'}")


@app.command()
def current(database_url: str | None = DatabaseUrlOption) -> None:
    """Show the revision the database is at.

    Example: [bold]flightlog db current[/bold]
    """
    migrator = Migrator(settings_for(database_url))
    revision = migrator.current()
    head = migrator.head()
    if revision is None:
        console.print("No Flightlog schema here yet. Run [bold]flightlog db upgrade[/bold].")
    elif revision == head:
        console.print(f"{revision} (head)")
    else:
        console.print(f"{revision} (head is {head}: run [bold]flightlog db upgrade[/bold])")


@app.command()
def history() -> None:
    """List every migration shipped with this version, newest first.

    Example: [bold]flightlog db history[/bold]
    """
    from flightlog.settings import get_settings

    table = Table("revision", "down", "description", title="Flightlog migrations")
    for rev in Migrator(get_settings()).history():
        label = f"{rev.revision} (head)" if rev.is_head else rev.revision
        table.add_row(label, rev.down_revision or "-", rev.message)
    console.print(table)


@app.command()
def check(
    database_url: str | None = DatabaseUrlOption,
    include: list[str] = typer.Option(
        [],
        "--include",
        metavar="GLOB",
        help="Also compare tables that are not Flightlog's matching GLOB (repeatable); "
        "added to FLIGHTLOG_DB_CHECK_INCLUDE.",
    ),
    exclude: list[str] = typer.Option(
        [],
        "--exclude",
        metavar="GLOB",
        help="Never compare tables, views, indexes or triggers matching GLOB (repeatable); "
        "added to FLIGHTLOG_DB_CHECK_EXCLUDE.",
    ),
) -> None:
    """Compare the live schema (tables, indexes, views, triggers) with the models.

    Exit 1 and show the diff on drift. Tables and views that are not
    Flightlog's (a team's own, in the same database) are not drift.

    Example: [bold]flightlog db check --exclude 'team_*'[/bold]
    """
    settings = settings_for(database_url)
    migrator = Migrator(settings)
    drift = migrator.check(settings.db_check_patterns(include, exclude))
    if not drift:
        console.print(f"[green]No drift:[/green] schema matches the models at {migrator.head()}.")
        return
    table = Table("operation", "object", title="Schema drift", header_style="bold red")
    for item in drift:
        table.add_row(item.operation, item.detail)
    console.print(table)
    console.print("Run [bold]flightlog db upgrade[/bold], or add a migration for model changes.")
    raise typer.Exit(code=1)
