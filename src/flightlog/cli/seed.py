"""``flightlog seed``: deterministic synthetic data, with progress bars."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.db.engine import async_session_factory, create_async_db_engine
from flightlog.migrations.runner import Migrator
from flightlog.ops.seeding import SIZES, already_seeded, seed_database
from flightlog.settings import Settings

console = Console()


class _RowsPerSecond(TransferSpeedColumn):
    """Rich's speed column speaks bytes; ours speaks rows."""

    def render(self, task):  # type: ignore[no-untyped-def]
        speed = task.finished_speed or task.speed
        return f"{speed:,.0f} rows/s" if speed else "- rows/s"


async def _seed(settings: Settings, seed: int, size: str) -> dict[str, int] | None:
    engine = create_async_db_engine(settings)
    phases: dict[str, TaskID] = {}
    try:
        with Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RowsPerSecond(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:

            def progress(phase: str, done: int, total: int) -> None:
                if phase not in phases:
                    phases[phase] = bar.add_task(phase, total=total)
                bar.update(phases[phase], completed=done, total=total)

            async with async_session_factory(engine)() as session, session.begin():
                if await session.run_sync(already_seeded, seed, size):
                    return None
                return await session.run_sync(
                    seed_database, seed=seed, size=size, progress=progress
                )
    finally:
        await engine.dispose()


def seed(
    size: str = typer.Option("small", help=f"One of: {', '.join(SIZES)}."),
    seed_value: int = typer.Option(42, "--seed", help="Same seed, same data."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Fill the database with deterministic synthetic tasks, runs, agent runs, artifacts, events
    and metrics.

    Example: [bold]flightlog seed --size large --seed 7[/bold] (over a million events)
    """
    if size not in SIZES:
        raise typer.BadParameter(f"size must be one of {', '.join(SIZES)}", param_hint="--size")
    settings = settings_for(database_url, create=True)
    Migrator(settings).upgrade("head")
    counts = asyncio.run(_seed(settings, seed_value, size))
    if counts is None:
        console.print(f"Seed {seed_value} ({size}) is already in this database; nothing to do.")
        return
    summary = ", ".join(f"{n:,} {table.replace('_', ' ')}" for table, n in counts.items())
    console.print(f"[green]Seeded[/green] {summary}.")
