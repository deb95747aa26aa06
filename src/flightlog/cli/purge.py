"""``flightlog purge``: delete old events and metric points in small batches."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.db.engine import create_sync_engine
from flightlog.ops.purge import parse_age
from flightlog.ops.purge import purge as run_purge

console = Console()


def purge(
    older_than: str = typer.Option(..., "--older-than", help="Age cutoff, e.g. 90d, 12h, 2w."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be deleted."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    batch_size: int = typer.Option(5000, help="Rows per short delete transaction."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Delete events and metric points older than a cutoff (seed 004's 90-day clean-up).

    Example: [bold]flightlog purge --older-than 90d --dry-run[/bold]
    """
    cutoff = datetime.now(UTC) - parse_age(older_than)
    settings = settings_for(database_url)
    require_head(settings)
    engine = create_sync_engine(settings)
    try:
        if not dry_run and not yes:
            preview = run_purge(engine, cutoff=cutoff, dry_run=True)
            typer.confirm(
                f"Delete {preview.events:,} events and {preview.metric_points:,} metric points "
                f"recorded before {cutoff:%Y-%m-%d %H:%M} UTC?",
                abort=True,
            )
        with console.status("purging…"):
            report = run_purge(engine, cutoff=cutoff, dry_run=dry_run, batch_size=batch_size)
    finally:
        engine.dispose()
    verb = "Would delete" if report.dry_run else "Deleted"
    console.print(
        f"{verb} {report.events:,} events and {report.metric_points:,} metric points "
        f"recorded before {report.cutoff:%Y-%m-%d %H:%M:%S} UTC."
    )
