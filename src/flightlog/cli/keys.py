"""``flightlog api-key create|list|revoke``: the keys the HTTP API accepts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.db.engine import create_sync_engine, sync_session_factory
from flightlog.errors import NotFound
from flightlog.models import ApiKey, Customer
from flightlog.ops.purge import parse_age
from flightlog.services import api_keys
from flightlog.services.api_keys import OPERATOR_SCOPE, READ_SCOPE, WRITE_SCOPE
from flightlog.services.customers import ensure_default_customer
from flightlog.settings import Settings

app = typer.Typer(
    help="Create, list and revoke API keys for the HTTP API and the dashboard.\n\n"
    "Example: [bold]flightlog api-key create --name ci --scope write[/bold]",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console()
T = TypeVar("T")

CustomerOption = typer.Option(
    None,
    "--customer",
    help="The customer's email (default: the default customer that open_store() uses).",
    show_default=False,
)


def _customer_id(session: Session, email: str | None) -> uuid.UUID:
    if email is None:
        return ensure_default_customer(session)
    found = session.scalar(select(Customer.id).where(Customer.email == email.strip()))
    if found is None:
        raise NotFound(f"no customer has the email {email!r}; see 'flightlog stats' for counts")
    return found


def _in_transaction(settings: Settings, work: Callable[[Session], T]) -> T:
    """One committed transaction on a synchronous engine: the services are plain functions."""
    require_head(settings)
    engine = create_sync_engine(settings)
    try:
        with sync_session_factory(engine)() as session, session.begin():
            return work(session)
    finally:
        engine.dispose()


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="What the key is for, e.g. 'ci' or 'dashboard'."),
    scope: list[str] = typer.Option(
        [],
        "--scope",
        help="read, write or operator (repeatable); none means every permission on the "
        "customer's things. operator adds the database's health detail "
        "(GET /health?detail=true) and is never implied.",
    ),
    expires_in: str | None = typer.Option(None, help="Lifetime such as 90d or 12h."),
    customer: str | None = CustomerOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Issue a key and print it once: it is stored only as a hash and cannot be shown again.

    Example: [bold]flightlog api-key create --name dashboard --scope read[/bold]
    """
    scope = [s.strip().lower() for s in scope]  # any case, like the enums
    unknown = sorted(set(scope) - {READ_SCOPE, WRITE_SCOPE, OPERATOR_SCOPE})
    if unknown:
        raise typer.BadParameter(
            f"unknown scope {', '.join(unknown)}; use {READ_SCOPE}, {WRITE_SCOPE} "
            f"or {OPERATOR_SCOPE}",
            param_hint="--scope",
        )
    expires_at = datetime.now(UTC) + parse_age(expires_in) if expires_in else None

    def work(session: Session) -> api_keys.CreatedApiKey:
        customer_id = _customer_id(session, customer)
        return api_keys.create_key(
            session,
            customer_id,
            name,
            scopes=scope,
            expires_at=expires_at,
            actor="flightlog api-key create",
        )

    created = _in_transaction(settings_for(database_url), work)
    # The secret first, as plain text: nothing printed after the commit may stand in its way.
    print(created.key)
    console.print(
        f"Created API key [bold]{created.prefix}[/bold] ({escape(created.name)}) above. "
        "Copy it now; it is not stored and will not be shown again."
    )


@app.command("list")
def list_(
    customer: str | None = CustomerOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """The customer's keys by prefix, with scopes, last use and state; never a secret.

    Example: [bold]flightlog api-key list[/bold]
    """

    def work(session: Session) -> list[api_keys.ApiKeyInfo]:
        return api_keys.list_keys(session, _customer_id(session, customer))

    keys = _in_transaction(settings_for(database_url), work)
    table = Table("prefix", "name", "scopes", "created", "last used", "state", title="API keys")
    now = datetime.now(UTC)
    for key in keys:
        state = "revoked" if key.revoked_at else "active"
        if key.revoked_at is None and key.expires_at is not None and key.expires_at <= now:
            state = "expired"
        table.add_row(
            key.prefix,
            escape(key.name),
            ", ".join(key.scopes) or "all",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never",
            state,
        )
    console.print(table)


@app.command("revoke")
def revoke(
    prefix: str = typer.Argument(..., help="The key's prefix, e.g. fl_1a2b3c4d."),
    reason: str | None = typer.Option(None, help="Kept in the audit log."),
    customer: str | None = CustomerOption,
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Revoke a key for good (a running server stops accepting it within its key cache time).

    Example: [bold]flightlog api-key revoke fl_1a2b3c4d --reason "leaked in a log"[/bold]
    """

    def work(session: Session) -> api_keys.ApiKeyInfo:
        customer_id = _customer_id(session, customer)
        key_id = session.scalar(
            select(ApiKey.id).where(ApiKey.prefix == prefix, ApiKey.customer_id == customer_id)
        )
        if key_id is None:
            raise NotFound(f"no API key {prefix!r} for this customer; see 'flightlog api-key list'")
        return api_keys.revoke_key(
            session,
            customer_id,
            key_id,
            actor="flightlog api-key revoke",
            reason=reason,
        )

    info = _in_transaction(settings_for(database_url), work)
    console.print(f"Revoked API key [bold]{info.prefix}[/bold] ({escape(info.name)}).")
