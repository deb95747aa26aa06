"""The root Typer application and the one place errors become exit codes.

A user sees a sentence saying what went wrong and what to do, never a
traceback, unless they ask for one with ``--debug``.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import SQLAlchemyError

from flightlog.cli import customers as customer_commands
from flightlog.cli import db as db_commands
from flightlog.cli import demo as demo_commands
from flightlog.cli import doctor as doctor_commands
from flightlog.cli import keys as key_commands
from flightlog.cli import local_sign_in as sign_in_commands
from flightlog.cli import prices as price_commands
from flightlog.cli import purge as purge_commands
from flightlog.cli import seed as seed_commands
from flightlog.cli import serve as serve_commands
from flightlog.cli import sink as sink_commands
from flightlog.cli import stats as stats_commands
from flightlog.cli import transfer as transfer_commands
from flightlog.cli.options import STATE
from flightlog.errors import FlightlogError

app = typer.Typer(
    name="flightlog",
    help="Flightlog: the system of record for multi-agent AI workflows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(db_commands.app, name="db")
app.command("demo")(demo_commands.demo)
app.command("doctor")(doctor_commands.doctor)
app.command("stats")(stats_commands.stats)
app.command("export")(transfer_commands.export)
app.command("import")(transfer_commands.import_)
app.command("purge")(purge_commands.purge)
app.command("seed")(seed_commands.seed)
app.command("serve")(serve_commands.serve)
app.command("sign-in-link")(sign_in_commands.sign_in_link)
app.add_typer(key_commands.app, name="api-key")
app.add_typer(price_commands.app, name="prices")
app.add_typer(customer_commands.app, name="customer")
app.add_typer(sink_commands.app, name="sink")
app.command("clear-data")(customer_commands.clear_data)

err_console = Console(stderr=True, soft_wrap=True)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
) -> None:
    """Flightlog: tasks, runs, agent steps, events, metrics and approvals on SQLite or PostgreSQL.

    Example: [bold]flightlog db upgrade && flightlog stats[/bold]
    """
    STATE.debug = debug


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except FlightlogError as exc:
        if STATE.debug:
            raise
        # The message is text, not markup: "pip install 'flightlog[sink]'" keeps its brackets.
        err_console.print(f"[bold red]Error:[/bold red] {escape(exc.message)}")
        sys.exit(1)
    except SQLAlchemyError as exc:
        if STATE.debug:
            raise
        orig = getattr(exc, "orig", None) or exc
        err_console.print(
            f"[bold red]Database error:[/bold red] {escape(str(orig))}\n"
            "Run again with --debug for the full traceback."
        )
        sys.exit(1)
