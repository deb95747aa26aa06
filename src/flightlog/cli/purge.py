"""``flightlog purge``: delete old events and metric points, and with ``--tasks`` finished
tasks with everything they own, in small batches, with a progress bar."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.db.engine import create_sync_engine
from flightlog.ops.purge import PurgeReport, parse_age
from flightlog.ops.purge import purge as run_purge
from flightlog.ops.purge_tasks import DEFAULT_TASK_BATCH

console = Console()


def _what(report: PurgeReport, with_tasks: bool) -> str:
    parts = [f"{report.events:,} events", f"{report.metric_points:,} metric points"]
    if with_tasks:
        parts.append(
            f"{report.tasks:,} finished tasks (subtasks included) with everything they own"
        )
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def purge(
    older_than: str = typer.Option(..., "--older-than", help="Age cutoff, e.g. 90d, 12h, 2w."),
    tasks: bool = typer.Option(
        False,
        "--tasks",
        help="Also delete finished tasks (COMPLETED, FAILED, CANCELLED, TIMEOUT) finished "
        "before the cutoff, with their subtasks, runs, events, metrics and artifacts.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what would be deleted."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    batch_size: int = typer.Option(5000, min=1, help="Rows per short delete transaction."),
    task_batch_size: int = typer.Option(
        DEFAULT_TASK_BATCH, min=1, help="With --tasks: task trees per short delete transaction."
    ),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Delete events and metric points older than a cutoff (seed 004's 90-day clean-up).

    Example: [bold]flightlog purge --older-than 90d --tasks --dry-run[/bold]
    """
    cutoff = datetime.now(UTC) - parse_age(older_than)
    settings = settings_for(database_url)
    require_head(settings)
    engine = create_sync_engine(settings)
    blob_dir = settings.resolved_blob_dir()
    try:
        preview = run_purge(engine, cutoff=cutoff, dry_run=True, tasks=tasks)
        if dry_run:
            report = preview
        else:
            if not yes:
                typer.confirm(
                    f"Delete {_what(preview, tasks)}, older than {cutoff:%Y-%m-%d %H:%M} UTC?",
                    abort=True,
                )
            totals = {
                "events": preview.events,
                "metric_points": preview.metric_points,
                "tasks": preview.tasks,
            }
            with Progress(
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            ) as bar:
                bars: dict[str, TaskID] = {}

                def progress(name: str, deleted: int) -> None:
                    if name not in bars:
                        bars[name] = bar.add_task(name, total=totals.get(name) or None)
                    bar.advance(bars[name], deleted)

                report = run_purge(
                    engine,
                    cutoff=cutoff,
                    batch_size=batch_size,
                    progress=progress,
                    tasks=tasks,
                    task_batch_size=task_batch_size,
                    blob_dir=blob_dir,
                )
    finally:
        engine.dispose()
    verb = "Would delete" if report.dry_run else "Deleted"
    console.print(
        f"{verb} {_what(report, tasks)}, recorded before {report.cutoff:%Y-%m-%d %H:%M:%S} UTC."
    )
    if report.partitions:
        how = "would go whole" if report.dry_run else "went whole"
        console.print(f"Partitions that {how} (PostgreSQL): {', '.join(report.partitions)}.")
