"""JSON queries with PostgreSQL's meaning on both dialects: containment, keys, array members.

PostgreSQL answers them with its JSONB operators, which the GIN indexes of
migration 0002 serve (``jsonb_ops``, the default operator class, supports
``@>``, ``?``, ``?|`` and ``?&``): ``requirements @> '{"type": "feature"}'``,
``context ? 'files'``, ``tags ?| ARRAY['a', 'b']``, ``tags ?& ARRAY['a', 'b']``.

SQLite has no such operators, so the same questions are spelled with
``json_each``, keeping PostgreSQL's rules exactly (``jsonb_contains``):

- an object contains another when it has each of its keys, with a value that
  contains that key's value;
- an array contains another when each element of the other is matched by some
  element of it (order and repetition do not matter; an empty array is
  contained by every array);
- a scalar matches only a scalar of the same JSON type and value: ``1`` is not
  ``"1"`` nor ``true``, but ``1`` is ``1.0``; ``null`` matches only ``null``;
- an array never contains a scalar, nor an object an array, below the top.

Values to match are checked first (:func:`check_contained`), so both dialects
refuse the same inputs: what JSON cannot hold (NaN, infinity, non-string keys).
Text with a NUL character matches nothing on PostgreSQL, which cannot store
it, and what SQLite stored on SQLite; an integer beyond 64 bits is compared as
a float on SQLite, which stores it so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Text, and_, case, cast, exists, false, func, literal, select, true
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.sql.elements import ColumnElement

from flightlog.errors import ValidationError
from flightlog.services._dialect import dialect_name

#: The largest integer SQLite binds as an integer (beyond, it stores and compares floats).
MAX_JSON_INT = 2**63 - 1
#: How deeply a value to match may nest (each level is one more correlated subquery).
MAX_DEPTH = 64
#: How many keys and elements a value to match may hold, at every level: on SQLite each
#: is a condition of one expression, which SQLite parses into a tree as deep as the
#: conditions are many (at most 1000 levels; about 450 conditions fail).
MAX_TERMS = 256
#: How many keys or tags one list filter may name (one parameter each; SQLite binds at
#: most 32,766).
MAX_VALUES = 2000

_SCALAR_TYPES = {True: "true", False: "false", None: "null"}


def _problem(where: str, message: str) -> ValidationError:
    return ValidationError(f"{where}: {message}", field=where)


def check_text(value: Any, where: str) -> str:
    """A key or string to match."""
    if not isinstance(value, str):
        raise _problem(where, f"must be a string, got {type(value).__name__}")
    return value


def _has_nul(value: Any) -> bool:
    """Whether text with a NUL is in ``value``: PostgreSQL stores none, so it matches nothing."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    return False


def _terms(value: Any) -> int:
    """How many keys and elements ``value`` holds, at every level."""
    if isinstance(value, Mapping):
        return len(value) + sum(_terms(item) for item in value.values())
    if isinstance(value, list | tuple):
        return len(value) + sum(_terms(item) for item in value)
    return 0


def check_contained(value: Any, where: str, depth: int = 0) -> None:
    """Refuse a value to match that JSON cannot hold or a dialect cannot compare exactly."""
    if depth == 0 and _terms(value) > MAX_TERMS:
        raise _problem(where, f"holds more than {MAX_TERMS} keys and elements")
    if depth > MAX_DEPTH:
        raise _problem(where, f"nests deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _problem(where, "numbers must be finite (JSON has no NaN or infinity)")
        return
    if isinstance(value, str):
        check_text(value, where)
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key, f"{where} key")
            check_contained(item, f"{where}.{key}", depth + 1)
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_contained(item, f"{where}[{index}]", depth + 1)
        return
    raise _problem(where, f"a {type(value).__name__} is not JSON")


def _each(document: Any, name: str) -> Any:
    return func.json_each(document).table_valued("key", "value", "type", "atom").alias(name)


class _Namer:
    """Distinct aliases for the nested ``json_each`` tables of one condition."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.count = prefix, 0

    def __call__(self) -> str:
        self.count += 1
        return f"{self.prefix}_{self.count}"


def _scalar_matches(kind: Any, atom: Any, value: Any) -> ColumnElement[bool]:
    """A ``json_each`` row (its ``type`` and ``atom``) is this JSON scalar."""
    if value is None or isinstance(value, bool):
        return kind == _SCALAR_TYPES[value]  # type: ignore[no-any-return]
    if isinstance(value, int | float):
        number = value if abs(value) <= MAX_JSON_INT else float(value)
        return and_(kind.in_(("integer", "real")), atom == literal(number))
    return and_(kind == "text", atom == literal(value, Text))


def _sqlite_contains(
    document: Any, kind: Any, contained: Any, namer: _Namer
) -> ColumnElement[bool]:
    """``document`` (JSON text of JSON type ``kind``) contains the container ``contained``.

    ``json_each`` reads ``document`` only when it is a container: a string element's value
    is its bare text, which SQLite would try (and fail) to parse as JSON.
    """
    conditions: list[ColumnElement[bool]] = []
    document = case((kind.in_(("object", "array")), document), else_=literal("[]"))
    if isinstance(contained, Mapping):
        conditions.append(kind == "object")
        for key, value in contained.items():
            each = _each(document, namer())
            conditions.append(
                exists(
                    select(literal(1))
                    .select_from(each)
                    .where(each.c.key == literal(key, Text), _element(each, value, namer))
                )
            )
    else:
        conditions.append(kind == "array")
        for value in contained:
            each = _each(document, namer())
            conditions.append(
                exists(select(literal(1)).select_from(each).where(_element(each, value, namer)))
            )
    return and_(*conditions)


def _element(each: Any, value: Any, namer: _Namer) -> ColumnElement[bool]:
    """The ``json_each`` row ``each`` (an object's value or an array's element) matches."""
    if isinstance(value, Mapping | list | tuple):
        return _sqlite_contains(each.c.value, each.c.type, value, namer)
    return _scalar_matches(each.c.type, each.c.atom, value)


def json_contains(
    session: Any, column: Any, contained: Mapping[str, Any], name: str
) -> ColumnElement[bool]:
    """The JSON object in ``column`` contains ``contained`` (PostgreSQL's ``@>``).

    ``name`` is the parameter's name, for errors and SQL aliases.
    """
    if not isinstance(contained, Mapping):
        raise _problem(name, 'must be a JSON object, e.g. {"type": "feature"}')
    check_contained(contained, name)
    if dialect_name(session) == "postgresql":
        if _has_nul(contained):
            return false()
        # JSON text cast to JSONB: a constant the planner folds, so the GIN index serves it.
        value = cast(literal(json.dumps(contained, default=dict), Text), JSONB)
        condition: ColumnElement[bool] = column.op("@>")(value)
        return condition
    return _sqlite_contains(column, func.json_type(column), contained, _Namer(f"{name}_each"))


def _texts(values: str | Sequence[str], name: str) -> list[str]:
    if isinstance(values, str):
        return [check_text(values, name)]
    if not isinstance(values, Sequence):
        raise _problem(name, f"must be a string or a list of strings, got {type(values).__name__}")
    items = list(values)
    if len(items) > MAX_VALUES:
        raise _problem(name, f"names more than {MAX_VALUES} values")
    return [check_text(item, f"{name}[{index}]") for index, item in enumerate(items)]


def _pg_has(column: Any, wanted: list[str], every: bool) -> ColumnElement[bool]:
    """PostgreSQL's ``?&`` / ``?|``; text with NUL is never stored there, so never found."""
    storable = [item for item in wanted if "\x00" not in item]
    if (len(storable) < len(wanted) and every) or not storable:
        return false()
    has: ColumnElement[bool] = column.op("?&" if every else "?|")(array(storable, type_=Text))
    return has


def _sqlite_has(
    column: Any,
    wanted: list[str],
    every: bool,
    name: str,
    holds: Callable[[Any], tuple[Any, list[ColumnElement[bool]]]],
) -> ColumnElement[bool]:
    """SQLite's ``?&`` (``every``) / ``?|`` in one ``json_each`` subquery, whatever the
    number of wanted texts (a condition per text would outgrow SQLite's expression depth):
    ``holds(each)`` gives the member of the document to compare and what it must be."""
    distinct = list(dict.fromkeys(wanted))
    each = _each(column, name)
    member, conditions = holds(each)
    found = select(literal(1)).select_from(each).where(*conditions, member.in_(distinct))
    if not every:
        return exists(found)
    count = found.with_only_columns(func.count(func.distinct(member))).scalar_subquery()
    return count == len(distinct)


def json_has_keys(
    session: Any, column: Any, keys: str | Sequence[str], name: str, *, every: bool = True
) -> ColumnElement[bool]:
    """The JSON object in ``column`` has all (``every``) or any of ``keys`` at its top level
    (PostgreSQL's ``?&`` / ``?|``). All of no keys holds for every row, any of none for none."""
    wanted = _texts(keys, name)
    if not wanted:
        return true() if every else false()
    if dialect_name(session) == "postgresql":
        return _pg_has(column, wanted, every)
    return _sqlite_has(
        column,
        wanted,
        every,
        f"{name}_key",
        lambda each: (each.c.key, [func.json_type(column) == "object"]),
    )


def json_array_has(
    session: Any, column: Any, values: str | Sequence[str], name: str, *, every: bool = True
) -> ColumnElement[bool]:
    """The JSON array in ``column`` has all (``every``) or any of the strings ``values`` as
    elements (PostgreSQL's ``?&`` / ``?|`` on an array). All of none holds for every row,
    any of none for none."""
    wanted = _texts(values, name)
    if not wanted:
        return true() if every else false()
    if dialect_name(session) == "postgresql":
        return _pg_has(column, wanted, every)
    return _sqlite_has(
        column,
        wanted,
        every,
        f"{name}_value",
        lambda each: (each.c.atom, [func.json_type(column) == "array", each.c.type == "text"]),
    )


__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_INT",
    "MAX_TERMS",
    "MAX_VALUES",
    "check_contained",
    "check_text",
    "json_array_has",
    "json_contains",
    "json_has_keys",
]
