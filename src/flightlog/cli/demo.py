"""``flightlog demo``: the first minute — a realistic multi-agent project, then a report."""

from __future__ import annotations

import asyncio
import shlex

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from flightlog.cli.local_sign_in import invoked_as
from flightlog.cli.options import DatabaseUrlOption, settings_for
from flightlog.cli.report import render_stats
from flightlog.db.engine import async_session_factory, create_async_db_engine, create_sync_engine
from flightlog.migrations.runner import Migrator
from flightlog.models import Task
from flightlog.ops.database_report import collect
from flightlog.ops.demo import DemoResult, write_demo
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


def demo(
    serve: bool = typer.Option(
        False,
        "--serve",
        help="Then serve the dashboard on the demo and print a link that signs you in "
        "(the demo's team keeps sending heartbeats while it runs).",
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="With --serve: the port (127.0.0.1)."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Create the schema and a realistic demo of every entity, then print what is there.

    Running it again does not duplicate anything. With [bold]--serve[/bold] it then serves
    the dashboard on it, as [bold]flightlog serve[/bold] does, with a one-time sign-in link.

    Example: [bold]flightlog demo --serve[/bold]   (uses ./flightlog.db unless told otherwise)
    """
    settings = settings_for(database_url, create=True)
    migrator = Migrator(settings)
    with console.status("Upgrading the schema…"):
        migrator.upgrade("head")
    with console.status("Writing the demo (a team of six agents at work)…"):
        result = asyncio.run(_write(settings))
    if result.created:
        console.print(
            "[green]Demo written.[/green] Two customers, a six-agent team, and their week of work:"
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
    if serve:
        _serve(settings, port, database_url)
        return
    # Plain lines, never wrapped at the terminal's width, so each command pastes whole.
    for line in next_steps(database_url):
        typer.echo(line)


def next_steps(database_url: str | None) -> list[str]:
    """What to run next, spelled as this command was run (``.venv/bin/flightlog`` …)."""
    command = invoked_as()
    where = f" -d {shlex.quote(database_url)}" if database_url else ""
    return [
        "",
        "Next:",
        f"  the dashboard, signed in:  {command} demo --serve{where}",
        f"  the numbers as JSON:       {command} stats --json{where}",
        f"  everything as JSON Lines:  {command} export demo.jsonl{where}",
        "  from Python:               flightlog.open_store() (docs/api.md)",
    ]


def _serve(settings: Settings, port: int, database_url: str | None) -> None:
    """Serve the dashboard on the demo while its team sends heartbeats (ops.demo_live)."""
    from flightlog.cli.serve import run_server
    from flightlog.ops.demo_live import TeamHeartbeats

    heartbeats = TeamHeartbeats(settings)
    heartbeats.start()
    try:
        typer.echo("")
        run_server(
            settings,
            "127.0.0.1",
            port,
            None,
            "warning",
            sign_in_link=True,
            database_url=database_url,
        )
    finally:
        heartbeats.stop()
