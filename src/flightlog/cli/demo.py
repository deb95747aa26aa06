"""``flightlog demo``: the first minute — a realistic multi-agent project, then a report."""

from __future__ import annotations

import asyncio

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.cli.report import render_stats
from flightlog.db.engine import async_session_factory, create_async_db_engine, create_sync_engine
from flightlog.migrations.runner import Migrator
from flightlog.models import Task
from flightlog.ops.database_report import collect
from flightlog.ops.demo import DEMO_EMAIL, DemoResult, write_demo
from flightlog.services.artifacts import BlobPolicy
from flightlog.settings import Settings

console = Console()


async def _write(settings: Settings) -> DemoResult:
    engine = create_async_db_engine(settings)
    policy = BlobPolicy(
        blob_dir=settings.resolved_blob_dir(), inline_max_bytes=settings.inline_artifact_max_bytes
    )
    try:
        async with async_session_factory(engine)() as session, session.begin():
            return await session.run_sync(write_demo, policy=policy)
    finally:
        await engine.dispose()


def _task_table(settings: Settings, result: DemoResult) -> Table:
    table = Table(
        "task",
        "status",
        "runs",
        "ok",
        "failed",
        "success rate",
        title="Acme Robotics' tasks",
        title_justify="left",
    )
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    Task.title,
                    Task.status,
                    Task.total_runs,
                    Task.successful_runs,
                    Task.failed_runs,
                    Task.success_rate,
                )
                .where(Task.customer_id == result.customer_id)
                .order_by(Task.id)
            ).all()
    finally:
        engine.dispose()
    for title, status, total, ok, failed, rate in rows:
        # A rate over no finished run (none yet, or only cancelled ones) is no rate at all.
        shown = f"{rate:.0f}%" if ok + failed else "-"
        table.add_row(title, str(status), str(total), str(ok), str(failed), shown)
    return table


def demo(database_url: str | None = DatabaseUrlOption) -> None:
    """Create the schema and a realistic demo of every entity, then print what is there.

    Running it again does not duplicate anything.

    Example: [bold]flightlog demo[/bold]   (uses ./flightlog.db unless told otherwise)
    """
    settings = settings_for(database_url, create=True)
    migrator = Migrator(settings)
    with console.status("Upgrading the schema…"):
        migrator.upgrade("head")
    with console.status("Writing the demo (a team of five agents at work)…"):
        result = asyncio.run(_write(settings))
    if result.created:
        console.print(
            "[green]Demo written.[/green] Two customers, a five-agent team, and their work:"
        )
    else:
        console.print("The demo is already in this database; here is what it holds:")
    engine = create_sync_engine(settings)
    try:
        with engine.connect() as connection:
            snapshot = collect(
                connection, database=migrator.url.redacted(), revision=migrator.current()
            )
    finally:
        engine.dispose()
    render_stats(console, snapshot)
    console.print(_task_table(settings, result))
    console.print(
        "Next: [bold]flightlog stats --json[/bold], [bold]flightlog export demo.jsonl[/bold], "
        "or open the database from Python with [bold]flightlog.open_store()[/bold] (docs/api.md).\n"
        "See it in the dashboard: [bold]flightlog api-key create --name dashboard "
        f"--scope read --customer {DEMO_EMAIL}[/bold], then [bold]flightlog serve[/bold] "
        "and open http://127.0.0.1:8000/ with that key."
    )
