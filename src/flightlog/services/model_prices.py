"""The operator's model prices: list, set (upsert), delete, import a price file.

Prices are the operator's, not a tenant's: every customer's computed costs
use one table (see :mod:`flightlog.otlp.prices` for the lookup rule and the
defaults shipped with Flightlog). So these services take no customer, and
the Store binds them like signing up a customer (``tenant=False``,
``operator=True``). A row is keyed by its normalised model pattern, whether
it is a prefix, and the time it takes effect: setting a price for the same
key again replaces it, which is how a price is corrected.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flightlog.errors import NotFound, ValidationError
from flightlog.models.otlp import ModelPrice
from flightlog.otlp.prices import (
    ORIGINS,
    Origin,
    Price,
    normalize_model,
    operator_price,
    price_from_entry,
    shipped_prices,
)
from flightlog.services._common import time_in_range

#: ``effective_from`` of a price set without one: in effect for every call, past or future.
ALWAYS = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MODEL_LENGTH = 200
MAX_NOTE_LENGTH = 500
#: What ``Numeric(14, 6)`` holds: 8 digits before the point, 6 after.
_MAX_PRICE = Decimal("99999999.999999")


def _model(model: object) -> str:
    if not isinstance(model, str):
        raise ValidationError(f"model must be text, got {model!r}", field="model")
    name = normalize_model(model)
    if not name or len(name) > MAX_MODEL_LENGTH:
        raise ValidationError(
            f"model must be a name of 1 to {MAX_MODEL_LENGTH} characters "
            "(after dropping a provider prefix such as 'openai/'), "
            f"got {model[:60]!r}",
            field="model",
        )
    return name


def _price(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ValidationError(f"{what} must be a number, got {value!r}", field=what)
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise ValidationError(f"{what} must be a number, got {value!r}", field=what) from None
    if not number.is_finite() or number < 0 or number > _MAX_PRICE:
        raise ValidationError(
            f"{what} must be between 0 and {_MAX_PRICE} US dollars per million tokens, "
            f"got {value!r}",
            field=what,
        )
    if number != number.quantize(Decimal("0.000001")):
        raise ValidationError(
            f"{what} has more than 6 decimals ({value!r}), which the table cannot keep",
            field=what,
        )
    return number


def _effective_from(value: object) -> datetime:
    if value is None:
        return ALWAYS
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"effective_from must be a timezone-aware datetime, got {value!r}",
            field="effective_from",
        )
    if not time_in_range(value):
        raise ValidationError(
            "effective_from must be between 1000-01-01 and 9000-01-01 UTC",
            field="effective_from",
        )
    return value.astimezone(UTC)


def _note(note: object) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH:
        raise ValidationError(
            f"note must be text of at most {MAX_NOTE_LENGTH} characters", field="note"
        )
    return note


def list_prices(
    session: Session, /, *, model: str | None = None, origin: Origin | None = None
) -> list[Price]:
    """The operator's prices and the shipped ones, in the order the lookup tries them.

    Operator rows first, then shipped; within each, exact patterns before
    prefixes, longer prefixes first, then by pattern and effective date. With
    ``model``, only the prices whose pattern matches that model name (the
    candidates a lookup for it would consider), so the first one in effect
    at a time is the one that applies. ``origin`` keeps one source.
    """
    if origin is not None and origin not in ORIGINS:
        raise ValidationError(
            f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}", field="origin"
        )
    if model is not None and not isinstance(model, str):
        raise ValidationError(f"model must be text, got {model!r}", field="model")
    # A filter, not a pattern to store: a name no price can match (blank, too long) matches none.
    name = None if model is None else normalize_model(model)
    prices: list[Price] = []
    if origin in (None, "operator"):
        prices.extend(operator_price(row) for row in session.scalars(select(ModelPrice)))
    if origin in (None, "shipped"):
        prices.extend(shipped_prices())
    if name is not None:
        prices = [
            p for p in prices if (p.model == name or (p.is_prefix and name.startswith(p.model)))
        ]
    return sorted(
        prices,
        key=lambda p: (
            ORIGINS.index(p.origin),
            p.is_prefix,
            -len(p.model) if p.is_prefix else 0,
            p.model,
            p.effective_from,
        ),
    )


def set_price(
    session: Session,
    /,
    *,
    model: str,
    input_usd_per_mtok: Decimal | float,
    output_usd_per_mtok: Decimal | float,
    cached_input_usd_per_mtok: Decimal | float | None = None,
    is_prefix: bool = False,
    effective_from: datetime | None = None,
    note: str | None = None,
) -> Price:
    """Set the operator's price for ``model`` (a prefix if ``is_prefix``) from ``effective_from``.

    Prices are US dollars per million tokens. The same model, prefix flag
    and date again replaces that row (the unique key); another date adds a
    price change. Without ``effective_from`` the price is in effect for all
    time (from 1970). ``cached_input_usd_per_mtok`` None: cached input costs
    the input price. Invalid values are a ValidationError and change nothing.
    """
    if not isinstance(is_prefix, bool):
        raise ValidationError(f"is_prefix must be True or False, got {is_prefix!r}")
    values: dict[str, Any] = {
        "model": _model(model),
        "is_prefix": is_prefix,
        "input_usd_per_mtok": _price(input_usd_per_mtok, "input_usd_per_mtok"),
        "output_usd_per_mtok": _price(output_usd_per_mtok, "output_usd_per_mtok"),
        "cached_input_usd_per_mtok": None
        if cached_input_usd_per_mtok is None
        else _price(cached_input_usd_per_mtok, "cached_input_usd_per_mtok"),
        "effective_from": _effective_from(effective_from),
        "note": _note(note),
    }
    for _attempt in range(2):
        row = _find(session, values)
        if row is not None:
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            return operator_price(row)
        try:
            with session.begin_nested():
                row = ModelPrice(**values)
                session.add(row)
            return operator_price(row)
        except IntegrityError:
            continue  # another writer inserted the same key meanwhile: update theirs
    raise ValidationError(f"could not set the price of {values['model']!r}; try again")


def _find(session: Session, values: Mapping[str, Any]) -> ModelPrice | None:
    stmt = select(ModelPrice).where(
        ModelPrice.model == values["model"],
        ModelPrice.is_prefix == values["is_prefix"],
        ModelPrice.effective_from == values["effective_from"],
    )
    row: ModelPrice | None = session.scalars(stmt.with_for_update()).first()
    return row


def set_prices(session: Session, /, entries: Iterable[Mapping[str, Any]]) -> list[Price]:
    """Set many prices at once, all or none: the entries of a price file.

    Each entry is written as the shipped ``model_prices.json`` writes one:
    ``model``, ``is_prefix``, ``input``, ``output``, ``cached_input``,
    ``effective_from`` (ISO 8601 with a zone; left out: for all time) and
    ``note`` or ``source``; no other key. An invalid entry, or two for the same
    model, ``is_prefix`` and ``effective_from``, is a ValidationError naming it
    (counted from 1), and nothing of the file is stored.
    """
    checked: list[Price] = []
    first_of: dict[tuple[str, bool, object], int] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"price #{index}"
        if isinstance(entry, Mapping) and entry.get("effective_from") is None:
            entry = {**entry, "effective_from": ALWAYS}
        price = price_from_entry(entry, "operator", where)
        key = (price.model, price.is_prefix, price.effective_from)
        if key in first_of:
            raise ValidationError(
                f"{where}: the same model, is_prefix and effective_from as price "
                f"#{first_of[key]}; keep one of them"
            )
        first_of[key] = index
        checked.append(price)
    stored: list[Price] = []
    for index, price in enumerate(checked, start=1):
        try:
            stored.append(
                set_price(
                    session,
                    model=price.model,
                    is_prefix=price.is_prefix,
                    input_usd_per_mtok=price.input_usd_per_mtok,
                    output_usd_per_mtok=price.output_usd_per_mtok,
                    cached_input_usd_per_mtok=price.cached_input_usd_per_mtok,
                    effective_from=price.effective_from,
                    note=price.note,
                )
            )
        except ValidationError as exc:
            raise ValidationError(f"price #{index}: {exc.message}", **exc.details) from None
    return stored


def delete_price(session: Session, /, price_id: uuid.UUID) -> Price:
    """Delete one of the operator's prices; the lookup falls back to the next that applies.

    Shipped prices cannot be deleted (they have no id); override one with a
    price of your own instead. A missing id is NotFound.
    """
    if not isinstance(price_id, uuid.UUID):
        raise ValidationError(f"price_id must be a UUID, got {price_id!r}", field="price_id")
    row = session.get(ModelPrice, price_id, with_for_update=True)
    if row is None:
        raise NotFound(f"ModelPrice {price_id} not found", entity="ModelPrice", id=str(price_id))
    deleted = operator_price(row)
    session.delete(row)
    session.flush()
    return deleted
