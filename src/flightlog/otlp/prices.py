"""What a model call cost, when a span reports tokens but no cost (issue 12, item 4).

Prices are US dollars per million tokens, for input, output and cached input,
by model name or name prefix, each from a date on. Two sources make one
:class:`PriceTable`: the defaults shipped with Flightlog
(``model_prices.json``, public list prices, each entry saying where it is
from) and the operator's rows in ``model_prices`` (edited with
``flightlog prices …`` or :mod:`flightlog.services.model_prices`), which
override them.

The lookup rule (:meth:`PriceTable.lookup`):

1. The model name is normalised: surrounding blanks dropped, lower-cased,
   and a provider's prefix removed: everything up to the last ``/``
   (``openai/gpt-4o``, ``models/gemini-2.5-pro``,
   ``meta-llama/Llama-3.3-70B-Instruct-Turbo``) and a Bedrock-style
   ``[region.]vendor.`` (``us.anthropic.claude-sonnet-4-…``). Patterns are
   normalised the same way when stored, so ``GPT-4o`` and ``gpt-4o`` are one.
2. Operator rows beat shipped rows: the shipped table is consulted only if
   no operator row applies (an operator's ``gpt`` prefix beats a shipped
   exact ``gpt-4o``: the operator said what all of them cost).
3. Within one source, an exact pattern beats a prefix, and a longer prefix
   beats a shorter one (``gpt-4o-mini`` before ``gpt-4o``).
4. For the most specific pattern that matches, the row with the latest
   ``effective_from`` at or before the call's time applies. A pattern with
   no row in effect yet at that time is passed over for the next one.

No row in effect means no price: :meth:`PriceTable.lookup` answers ``None``
and the caller records no cost rather than a guessed one.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from typing import Any, Literal

from sqlalchemy import URL, select
from sqlalchemy.orm import Session

from flightlog.errors import ValidationError
from flightlog.models.otlp import ModelPrice

Origin = Literal["shipped", "operator"]
ORIGINS: tuple[Origin, ...] = ("operator", "shipped")
#: The ``cost_usd`` columns are ``Numeric(14, 6)``: a computed cost is rounded to this.
COST_QUANTUM = Decimal("0.000001")
_MILLION = Decimal(1_000_000)
#: ``[region.]vendor.`` in front of a Bedrock model id.
_VENDOR_DOT = re.compile(
    r"^(?:(?:us|eu|apac|global|us-gov)\.)?"
    r"(?:anthropic|meta|mistral|amazon|cohere|ai21|openai|deepseek|google)\."
)


def normalize_model(name: str) -> str:
    """The form names and patterns are compared in (rule 1 of the module's docstring)."""
    text = name.strip().lower()
    text = text.rsplit("/", 1)[-1]
    return _VENDOR_DOT.sub("", text).strip()


@dataclass(frozen=True)
class Price:
    """One price: for ``model`` (a name, or a prefix if ``is_prefix``) from ``effective_from`` on.

    ``cached_input_usd_per_mtok`` None means no discount is known: cached
    input tokens cost the input price. ``id`` is the operator row's (None
    for a shipped price); ``note`` is the operator's note or the shipped
    entry's source.
    """

    model: str
    is_prefix: bool
    input_usd_per_mtok: Decimal
    output_usd_per_mtok: Decimal
    cached_input_usd_per_mtok: Decimal | None
    effective_from: datetime
    origin: Origin
    id: uuid.UUID | None = None
    note: str | None = None


@dataclass(frozen=True)
class ComputedCost:
    """A cost Flightlog computed from tokens and a price, and which price it used."""

    usd: Decimal
    price: Price

    def describe(self) -> dict[str, Any]:
        """What to record beside the cost so that it says it was computed, and how."""
        return {
            "cost_source": "computed",
            "price_model": self.price.model,
            "price_is_prefix": self.price.is_prefix,
            "price_origin": self.price.origin,
            "price_effective_from": self.price.effective_from.isoformat(),
        }


def cost(
    price: Price, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0
) -> Decimal:
    """US dollars for one call, rounded half up to the 6 decimals of the ``cost_usd`` columns.

    Cached tokens are part of the input tokens (as OpenAI and the GenAI
    semantic conventions count them): they cost the cached price when the
    price has one, the rest of the input the input price. More cached
    tokens than input tokens (a source counting them apart) are charged
    as cached, with no uncached input. Negative counts are a ValidationError.
    """
    for name, value in (
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
        ("cached_input_tokens", cached_input_tokens),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(f"{name} must be a non-negative integer, got {value!r}")
    cached_price = price.cached_input_usd_per_mtok
    if cached_price is None:
        cached_price = price.input_usd_per_mtok
    uncached = max(input_tokens - cached_input_tokens, 0)
    total = (
        uncached * price.input_usd_per_mtok
        + cached_input_tokens * cached_price
        + output_tokens * price.output_usd_per_mtok
    ) / _MILLION
    return total.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


class _Schedule:
    """One pattern's prices of one origin, by ``effective_from``."""

    def __init__(self) -> None:
        self.starts: list[datetime] = []
        self.prices: list[Price] = []

    def add(self, price: Price) -> None:
        at = bisect.bisect_right(self.starts, price.effective_from)
        self.starts.insert(at, price.effective_from)
        self.prices.insert(at, price)

    def at(self, when: datetime) -> Price | None:
        index = bisect.bisect_right(self.starts, when)
        return self.prices[index - 1] if index else None


class PriceTable:
    """Shipped and operator prices, looked up by the rule of this module's docstring."""

    _CANDIDATES_KEPT = 4096

    def __init__(self, prices: Iterable[Price]) -> None:
        self._prices = tuple(prices)
        self._exact: dict[Origin, dict[str, _Schedule]] = {o: {} for o in ORIGINS}
        self._prefix: dict[Origin, dict[str, _Schedule]] = {o: {} for o in ORIGINS}
        for price in self._prices:
            table = self._prefix if price.is_prefix else self._exact
            table[price.origin].setdefault(price.model, _Schedule()).add(price)
        #: Per origin, prefix patterns longest first (ties alphabetically, for a stable order).
        self._prefixes = {
            origin: sorted(self._prefix[origin], key=lambda p: (-len(p), p)) for origin in ORIGINS
        }
        self._candidates: dict[str, tuple[_Schedule, ...]] = {}
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Price]:
        return iter(self._prices)

    def __len__(self) -> int:
        return len(self._prices)

    def _schedules(self, name: str) -> tuple[_Schedule, ...]:
        """Every schedule that matches ``name``, most specific first (rules 2 and 3)."""
        found = self._candidates.get(name)
        if found is not None:
            return found
        ordered: list[_Schedule] = []
        for origin in ORIGINS:
            exact = self._exact[origin].get(name)
            if exact is not None:
                ordered.append(exact)
            for pattern in self._prefixes[origin]:
                if name.startswith(pattern):
                    ordered.append(self._prefix[origin][pattern])
        found = tuple(ordered)
        with self._lock:
            if len(self._candidates) >= self._CANDIDATES_KEPT:
                self._candidates.clear()  # model names are few; this bounds a hostile stream
            self._candidates[name] = found
        return found

    def lookup(self, model: str, at: datetime) -> Price | None:
        """The price of ``model`` for a call at ``at`` (aware), or None if none applies."""
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValidationError(f"the time of a call must be timezone-aware, got {at!r}")
        name = normalize_model(model)
        if not name:
            return None
        for schedule in self._schedules(name):
            price = schedule.at(at)
            if price is not None:
                return price
        return None

    def estimate(
        self,
        model: str,
        at: datetime,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
    ) -> ComputedCost | None:
        """:func:`cost` at the price :meth:`lookup` finds, with that price; None without one."""
        price = self.lookup(model, at)
        if price is None:
            return None
        return ComputedCost(cost(price, input_tokens, output_tokens, cached_input_tokens), price)


def _decimal(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValidationError(f"{what} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise ValidationError(f"{what} must be a number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValidationError(f"{what} must be a finite number ≥ 0, got {value!r}")
    return number


def _aware(value: object, what: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"{what} must be an ISO 8601 time, got {value!r}") from None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        shown = value.isoformat() if isinstance(value, datetime) else repr(value)
        raise ValidationError(
            f"{what} must be a time with a zone, e.g. 2025-01-01T00:00:00Z, got {shown}"
        )
    return value


#: The keys a price file's entry may hold; any other is a typo that would be lost.
ENTRY_KEYS = frozenset(
    {"model", "is_prefix", "input", "output", "cached_input", "effective_from", "source", "note"}
)


def price_from_entry(entry: Mapping[str, Any], origin: Origin, where: str) -> Price:
    """One entry of a price file (the shipped one's format), checked, as a :class:`Price`.

    Keys: ``model``, ``is_prefix`` (default false), ``input``, ``output``,
    ``cached_input`` (optional), ``effective_from`` (ISO 8601 with a zone),
    and ``source`` or ``note`` (optional).
    """
    if not isinstance(entry, Mapping):
        raise ValidationError(f"{where}: an entry must be an object, got {entry!r}")
    unknown = sorted(str(key) for key in entry if key not in ENTRY_KEYS)
    if unknown:
        raise ValidationError(
            f"{where}: unknown key {', '.join(map(repr, unknown))}; an entry takes "
            f"{', '.join(sorted(ENTRY_KEYS))}"
        )
    model = entry.get("model")
    if not isinstance(model, str) or not normalize_model(model) or len(model) > 200:
        raise ValidationError(f"{where}: model must be a name of 1 to 200 characters")
    is_prefix = entry.get("is_prefix", False)
    if not isinstance(is_prefix, bool):
        raise ValidationError(f"{where}: is_prefix must be true or false")
    cached = entry.get("cached_input")
    note = entry.get("source", entry.get("note"))
    if note is not None and not isinstance(note, str):
        raise ValidationError(f"{where}: source / note must be text")
    return Price(
        model=normalize_model(model),
        is_prefix=is_prefix,
        input_usd_per_mtok=_decimal(entry.get("input"), f"{where}: input"),
        output_usd_per_mtok=_decimal(entry.get("output"), f"{where}: output"),
        cached_input_usd_per_mtok=None
        if cached is None
        else _decimal(cached, f"{where}: cached_input"),
        effective_from=_aware(entry.get("effective_from"), f"{where}: effective_from"),
        origin=origin,
        note=note,
    )


def entries_of(document: object, where: str) -> list[Mapping[str, Any]]:
    """The entries of a price file: a list, or an object whose ``prices`` is one."""
    if isinstance(document, Mapping):
        document = document.get("prices")
    if not isinstance(document, list):
        raise ValidationError(f"{where}: expected a list of prices or {{'prices': [...]}}")
    return document


@functools.cache
def shipped_prices() -> tuple[Price, ...]:
    """The defaults shipped with Flightlog (``model_prices.json``), read once."""
    text = resources.files("flightlog.otlp").joinpath("model_prices.json").read_text("utf-8")
    entries = entries_of(json.loads(text), "model_prices.json")
    return tuple(
        price_from_entry(entry, "shipped", f"model_prices.json #{index}")
        for index, entry in enumerate(entries)
    )


def operator_price(row: ModelPrice) -> Price:
    """An operator's row as a :class:`Price`."""
    return Price(
        model=row.model,
        is_prefix=row.is_prefix,
        input_usd_per_mtok=row.input_usd_per_mtok,
        output_usd_per_mtok=row.output_usd_per_mtok,
        cached_input_usd_per_mtok=row.cached_input_usd_per_mtok,
        effective_from=row.effective_from,
        origin="operator",
        id=row.id,
        note=row.note,
    )


_COLUMNS = (
    ModelPrice.id,
    ModelPrice.model,
    ModelPrice.is_prefix,
    ModelPrice.input_usd_per_mtok,
    ModelPrice.output_usd_per_mtok,
    ModelPrice.cached_input_usd_per_mtok,
    ModelPrice.effective_from,
    ModelPrice.note,
)
#: The last table built, per database, with the operator rows it was built from.
_BUILT: dict[str, tuple[tuple[tuple[Any, ...], ...], PriceTable]] = {}
_BUILT_LOCK = threading.Lock()


def _database_key(url: URL) -> str:
    """One database's key whatever driver reaches it (the async Store's and its lanes')."""
    return url.set(drivername=url.get_backend_name()).render_as_string(hide_password=True)


def last_price_table(url: URL) -> PriceTable | None:
    """The table :func:`load_price_table` last built for this database, if any.

    For work done before a transaction (reading spans ahead): whatever is done
    with it is checked against the table loaded in the transaction.
    """
    cached = _BUILT.get(_database_key(url))
    return cached[1] if cached is not None else None


def load_price_table(session: Session) -> PriceTable:
    """The price table in force: the shipped defaults and the operator's rows in ``session``.

    One small query per call (the operator's rows, a few dozen at most, as
    plain tuples); the table is rebuilt only when they differ from the ones
    the last table of this database was built from, so an edit is seen by the
    next call and an unchanged table costs no rebuild.
    """
    rows = tuple(tuple(row) for row in session.execute(select(*_COLUMNS)).all())
    key = _database_key(session.get_bind().engine.url)
    cached = _BUILT.get(key)
    if cached is not None and cached[0] == rows:
        return cached[1]
    operator = (
        Price(
            model=model,
            is_prefix=is_prefix,
            input_usd_per_mtok=input_price,
            output_usd_per_mtok=output_price,
            cached_input_usd_per_mtok=cached_price,
            effective_from=effective_from,
            origin="operator",
            id=price_id,
            note=note,
        )
        for (
            price_id,
            model,
            is_prefix,
            input_price,
            output_price,
            cached_price,
            effective_from,
            note,
        ) in rows
    )
    table = PriceTable((*operator, *shipped_prices()))
    with _BUILT_LOCK:
        _BUILT[key] = (rows, table)
    return table
