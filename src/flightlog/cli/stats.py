"""``flightlog stats``: what a Flightlog database holds."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.db.engine import create_sync_engine
from flightlog.errors import MigrationError
from flightlog.migrations.runner import Migrator
from flightlog.models import Base

console = Console()


def stats(
    database_url: str | None = DatabaseUrlOption,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show the schema revision and how many rows each table holds.

    Example: [bold]flightlog stats --json[/bold]
    """
    settings = settings_for(database_url)
    migrator = Migrator(settings)
    revision = migrator.current()
    if revision is None:
        raise MigrationError(
            f"No Flightlog schema at {migrator.url.redacted()}. Run 'flightlog db upgrade' first."
        )
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as connection:
            counts = {
                table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()
    if as_json:
        typer.echo(
            json.dumps(
                {"database": migrator.url.redacted(), "revision": revision, "tables": counts},
                sort_keys=True,
            )
        )
        return
    table = Table("table", "rows", title=f"Flightlog at {migrator.url.redacted()} ({revision})")
    for name in sorted(counts):
        table.add_row(name, f"{counts[name]:,}")
    console.print(table)
