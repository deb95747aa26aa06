"""``flightlog customer list|delete|deletions`` and ``flightlog clear-data``: operator acts.

Deleting removes a customer with everything it owns (seed 002's cascade),
after showing what will go and asking; ``--yes`` skips the question for
scripts. ``clear-data`` deletes exactly the customers ``flightlog seed`` and
``flightlog demo`` created (see :mod:`flightlog.ops.clear_data`).
"""

from __future__ import annotations

import uuid

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from sqlalchemy import Engine, func, select

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.db.engine import create_sync_engine, sync_session_factory
from flightlog.errors import NotFound
from flightlog.models import Customer
from flightlog.ops.clear_data import clear_generated, find_generated
from flightlog.services.customer_deletion import customer_footprint, list_customer_deletions
from flightlog.services.customers import list_customers
from flightlog.settings import Settings
from flightlog.store.sync import SyncStore

app = typer.Typer(
    help="List and delete customers (tenants), and read the record of deleted ones.\n\n"
    "Example: [bold]flightlog customer delete ops@acme.example[/bold]",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console()


def _id_column(header: str = "id") -> Column:
    """An id column shown whole: an id cut to ``01a224dc-4ab5…`` cannot be pasted back."""
    return Column(header, no_wrap=True, min_width=36)


def _word(header: str) -> Column:
    """A column of one short word (a plan, a status, a count), never broken."""
    return Column(header, no_wrap=True)


def _table(*columns: Column | str) -> Table:
    """A table that folds long cells instead of cutting them: an email is pasted back too."""
    return Table(*(c if isinstance(c, Column) else Column(c, overflow="fold") for c in columns))


YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def _engine(database_url: str | None) -> tuple[Settings, Engine]:
    settings = settings_for(database_url)
    require_head(settings)
    return settings, create_sync_engine(settings)


def resolve_customer(engine: Engine, ident: str) -> Customer:
    """The customer named by its id or its email (any letter case), or :class:`NotFound`."""
    text = ident.strip()
    with sync_session_factory(engine)() as session:
        try:
            found = session.get(Customer, uuid.UUID(text))
        except ValueError:
            found = session.scalar(select(Customer).where(Customer.email == text.lower()))
        if found is None:
            found = session.scalar(
                select(Customer).where(func.lower(Customer.email) == text.lower())
            )
    if found is None:
        raise NotFound(
            f"no customer has the id or email {ident!r}; see 'flightlog customer list'",
            entity="Customer",
        )
    return found


@app.command("list")
def list_(
    status: str | None = typer.Option(None, help="ACTIVE, SUSPENDED or CHURNED (any case)."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Every customer: id, email, name, plan and status, oldest first.

    Example: [bold]flightlog customer list --status suspended[/bold]
    """
    _, engine = _engine(database_url)
    try:
        table = _table(_id_column(), "email", "name", _word("plan"), _word("status"))
        cursor: uuid.UUID | None = None
        with sync_session_factory(engine)() as session:
            while True:
                page = list_customers(session, status=status, cursor=cursor, limit=500)
                for c in page.items:
                    table.add_row(
                        str(c.id), escape(c.email), escape(c.name), c.plan.value, c.status.value
                    )
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
    finally:
        engine.dispose()
    console.print(table)


@app.command("delete")
def delete(
    customer: str = typer.Argument(..., help="The customer's id or email."),
    reason: str | None = typer.Option(None, help="Why, kept in the audit record."),
    actor: str = typer.Option("flightlog customer delete", help="Who, for the audit record."),
    yes: bool = YesOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Delete a customer and everything it owns; an audit record of it stays.

    Shows what will be deleted and asks first (unless [bold]--yes[/bold]).
    Example: [bold]flightlog customer delete founder@startup.example --reason closed[/bold]
    """
    settings, engine = _engine(database_url)
    try:
        target = resolve_customer(engine, customer)
        with sync_session_factory(engine)() as session:
            owned = customer_footprint(session, target.id)
        listed = ", ".join(f"{n:,} {table}" for table, n in owned.items() if n) or "no rows"
        label = f"{escape(target.name)} <{escape(target.email)}> ({target.id})"
        console.print(f"Customer {label} owns {listed}.")
        if not yes:
            typer.confirm(
                f"Delete customer {target.email} and everything it owns? This cannot be undone.",
                abort=True,
            )
        result = SyncStore(engine, settings, target.id).customers.delete(actor=actor, reason=reason)
    finally:
        engine.dispose()
    total = sum(result.deleted.values())
    console.print(
        f"[green]Deleted[/green] customer {label}: {total:,} rows and "
        f"{result.blobs_deleted:,} stored blobs. Audit event {result.audit_event_id}."
    )


@app.command("deletions")
def deletions(
    limit: int = typer.Option(50, min=1, max=500, help="How many, newest first."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """The audit records of deleted customers: when, who, why and how much went.

    Example: [bold]flightlog customer deletions --limit 10[/bold]
    """
    _, engine = _engine(database_url)
    try:
        with sync_session_factory(engine)() as session:
            records = list_customer_deletions(session, limit=limit)
    finally:
        engine.dispose()
    table = _table(
        "deleted at (UTC)", _id_column("customer"), "name", "by", "reason", _word("rows")
    )
    for r in records:
        table.add_row(
            f"{r.deleted_at:%Y-%m-%d %H:%M:%S}",
            str(r.customer_id),
            escape(r.name),
            escape(r.actor or ""),
            escape(r.reason or ""),
            f"{sum(r.deleted.values()):,}",
        )
    console.print(table)


def clear_data(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what would be deleted."),
    yes: bool = YesOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Delete what [bold]flightlog seed[/bold] and [bold]flightlog demo[/bold] wrote, nothing else.

    Both write under customers of their own (seed-<seed>-<size>@flightlog.local, and the
    demo's Acme Robotics and StartupCo); those customers go with everything they own.
    Every other customer is left alone. Example: [bold]flightlog clear-data --dry-run[/bold]
    """
    settings, engine = _engine(database_url)
    try:
        found = find_generated(engine)
        if not found:
            console.print("No seed or demo data in this database; nothing to do.")
            return
        table = Table("source", "customer", "email", "rows", title="Seed and demo customers")
        for g in found:
            table.add_row(g.source, escape(g.name), escape(g.email), f"{g.rows:,}")
        console.print(table)
        total = sum(g.rows for g in found)
        if dry_run:
            console.print(f"Would delete {len(found)} customers and their {total:,} rows.")
            return
        if not yes:
            typer.confirm(
                f"Delete these {len(found)} customers and their {total:,} rows?", abort=True
            )
        with console.status("deleting…") as status:
            deleted = clear_generated(
                engine,
                settings,
                found,
                progress=lambda g: status.update(f"deleted {escape(g.email)}…"),
            )
    finally:
        engine.dispose()
    console.print(f"[green]Deleted[/green] {deleted} seed and demo customers ({total:,} rows).")
