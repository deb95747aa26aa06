"""``flightlog prices list|set|delete|import``: the operator's model price table.

Costs computed at OpenTelemetry ingest use these prices (see
docs/model-prices.md). The table is the operator's, one for every customer,
which is why it is edited here, on the database, and not over the HTTP API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.orm import Session

from flightlog.cli.options import DatabaseUrlOption, require_head, settings_for
from flightlog.db.engine import create_sync_engine, sync_session_factory
from flightlog.errors import ValidationError
from flightlog.otlp.prices import ORIGINS, Origin, Price, entries_of
from flightlog.services import model_prices
from flightlog.settings import Settings

app = typer.Typer(
    help="List and edit the model prices that computed costs use (US dollars per million "
    "tokens); yours override the ones shipped with Flightlog.\n\n"
    "Example: [bold]flightlog prices set gpt-4o --prefix --input 2.5 --output 10 "
    "--cached 1.25[/bold]",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
console = Console()
T = TypeVar("T")
_NOTE_WIDTH = 60


def _in_transaction(settings: Settings, work: Callable[[Session], T]) -> T:
    """One committed transaction on a synchronous engine: the services are plain functions."""
    require_head(settings)
    engine = create_sync_engine(settings)
    try:
        with sync_session_factory(engine)() as session, session.begin():
            return work(session)
    finally:
        engine.dispose()


def _when(text: str | None) -> datetime | None:
    """``2025-06-10`` (midnight UTC) or an ISO 8601 time; one without a zone is UTC."""
    if text is None:
        return None
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), datetime.min.time(), UTC)
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date: give 2025-06-10 or 2025-06-10T12:00:00+00:00",
            param_hint="--from",
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _amount(text: str, option: str) -> Decimal:
    """A price as typed (``2.5``, ``0.075``): exact, not through a float."""
    try:
        return Decimal(text.strip())
    except ArithmeticError:
        raise typer.BadParameter(f"{text!r} is not a number", param_hint=option) from None


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value.normalize():f}"


def _table(prices: list[Price], title: str) -> Table:
    table = Table("origin", "model", "match", "input", "output", "cached", "from", "id", "note")
    table.title = title
    for price in prices:
        note = price.note or ""
        if len(note) > _NOTE_WIDTH:
            note = note[: _NOTE_WIDTH - 1] + "…"
        table.add_row(
            price.origin,
            escape(price.model),
            "prefix" if price.is_prefix else "exact",
            _money(price.input_usd_per_mtok),
            _money(price.output_usd_per_mtok),
            _money(price.cached_input_usd_per_mtok),
            f"{price.effective_from:%Y-%m-%d}",
            str(price.id) if price.id else "",
            escape(note),
        )
    return table


@app.command("list")
def list_(
    model: str | None = typer.Option(
        None, "--model", help="Only the prices that match this model name, in lookup order."
    ),
    origin: str | None = typer.Option(None, "--origin", help="operator or shipped."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """The prices in the order a lookup tries them: yours first, then the shipped ones.

    Example: [bold]flightlog prices list --model gpt-4o-mini-2024-07-18[/bold]
    """
    if origin is not None and origin not in ORIGINS:
        raise typer.BadParameter(f"use {' or '.join(ORIGINS)}", param_hint="--origin")
    chosen: Origin | None = origin

    def work(session: Session) -> list[Price]:
        return model_prices.list_prices(session, model=model, origin=chosen)

    prices = _in_transaction(settings_for(database_url), work)
    console.print(_table(prices, "Model prices (US dollars per million tokens)"))
    if model is not None and not prices:
        console.print(f"No price matches {escape(model)!r}: its calls get no computed cost.")


@app.command("set")
def set_(
    model: str = typer.Argument(..., help="A model name, e.g. gpt-4o-2024-08-06, or a prefix."),
    input_price: str = typer.Option(..., "--input", help="Input tokens, $ per million."),
    output_price: str = typer.Option(..., "--output", help="Output tokens, $ per million."),
    cached_price: str | None = typer.Option(
        None, "--cached", help="Cached input tokens, $ per million (default: the input price)."
    ),
    prefix: bool = typer.Option(
        False, "--prefix", help="Price every model whose name starts with MODEL."
    ),
    effective_from: str | None = typer.Option(
        None, "--from", help="When the price takes effect (default: for all time)."
    ),
    note: str | None = typer.Option(None, "--note", help="Why, e.g. 'negotiated rate'."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Set your price for a model or prefix; the same model, --prefix and --from again replace it.

    Example: [bold]flightlog prices set o3 --prefix --input 2 --output 8 --cached 0.5
    --from 2025-06-10[/bold]
    """
    starts = _when(effective_from)
    prices = (
        _amount(input_price, "--input"),
        _amount(output_price, "--output"),
        None if cached_price is None else _amount(cached_price, "--cached"),
    )

    def work(session: Session) -> Price:
        return model_prices.set_price(
            session,
            model=model,
            is_prefix=prefix,
            input_usd_per_mtok=prices[0],
            output_usd_per_mtok=prices[1],
            cached_input_usd_per_mtok=prices[2],
            effective_from=starts,
            note=note,
        )

    price = _in_transaction(settings_for(database_url), work)
    console.print(_table([price], "Set"))


@app.command("delete")
def delete(
    price_id: str = typer.Argument(..., help="The price's id, from 'flightlog prices list'."),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Delete one of your prices; calls fall back to the next price that applies.

    Example: [bold]flightlog prices delete 0193c0de-…[/bold]
    """
    try:
        key = uuid.UUID(price_id.strip())
    except ValueError:
        raise ValidationError(
            f"{price_id!r} is not a price id; see the id column of 'flightlog prices list'"
        ) from None

    def work(session: Session) -> Price:
        return model_prices.delete_price(session, key)

    price = _in_transaction(settings_for(database_url), work)
    kind = "prefix" if price.is_prefix else "model"
    console.print(
        f"Deleted the price of {kind} [bold]{escape(price.model)}[/bold] "
        f"from {price.effective_from:%Y-%m-%d}."
    )


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A JSON file: a list of prices or {'prices': [...]}"),
    database_url: str | None = DatabaseUrlOption,
) -> None:
    """Set every price of a JSON file, all or none (the shipped model_prices.json's format).

    Each entry: model, is_prefix, input, output, cached_input, effective_from, note.

    Example: [bold]flightlog prices import our-rates.json[/bold]
    """
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read {file}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{file} is not JSON: {exc}") from None
    entries = entries_of(document, str(file))

    def work(session: Session) -> list[Price]:
        return model_prices.set_prices(session, entries)

    stored = _in_transaction(settings_for(database_url), work)
    console.print(f"Set {len(stored)} price{'s' if len(stored) != 1 else ''} from {file}.")
