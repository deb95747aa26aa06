"""``flightlog stats``: what a Flightlog database holds."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.cli.report import render_stats
from flightlog.db.engine import create_sync_engine
from flightlog.errors import MigrationError
from flightlog.migrations.runner import Migrator
from flightlog.ops.database_report import collect

console = Console()


def stats(
    database_url: str | None = DatabaseUrlOption,
    as_json: bool = typer.Option(False, "--json", help="Stable machine-readable output."),
) -> None:
    """Counts per entity, run outcomes, busiest agents, pending approvals, size and revision.

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
            snapshot = collect(connection, database=migrator.url.redacted(), revision=revision)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(snapshot.as_json(), sort_keys=True))
        return
    render_stats(console, snapshot)
