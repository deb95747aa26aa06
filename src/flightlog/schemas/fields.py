"""Field types of the wire models that say, in the OpenAPI document, what the services enforce.

Lengths come from the columns the values are stored in; "not blank" is the
services' ``value.strip()`` rule, written as a pattern every regex engine
reads alike (Python's, pydantic's and a JSON Schema validator's): the string
must hold one character that Python does not count as whitespace.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BeforeValidator,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

#: Every character ``str.isspace()`` is true for (Python's ``re`` ``\\s`` is exactly this set).
_WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Matches a string with at least one character that is not whitespace.
NOT_BLANK = f"[^{_WHITESPACE}]"
#: The largest value of an INTEGER column on PostgreSQL.
MAX_INT = 2**31 - 1


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("Input should be a valid integer")
    return value


#: JSON's types, as the schema states them: no "5" or true for an integer, no "yes" for a
#: boolean (pydantic's lax mode would take them), while an integer may be written 5 or 5.0.
#: Put bounds before ``JsonInteger`` (``Annotated[int, Field(ge=0), JsonInteger]``), or the
#: JSON schema loses them.
JsonInteger = BeforeValidator(_json_integer)
Number = Annotated[float, Strict()]
Boolean = Annotated[bool, Strict()]

NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=NOT_BLANK)]
NonBlank32 = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=NOT_BLANK)]
NonBlank64 = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK)]
NonBlank100 = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NOT_BLANK)]
NonBlank255 = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NOT_BLANK)]
NonBlank500 = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=NOT_BLANK)]
Text32 = Annotated[str, StringConstraints(max_length=32)]
Text64 = Annotated[str, StringConstraints(max_length=64)]
Text100 = Annotated[str, StringConstraints(max_length=100)]
Text255 = Annotated[str, StringConstraints(max_length=255)]
Text500 = Annotated[str, StringConstraints(max_length=500)]

#: Who did it, as kept in the audit log (the column holds 255 characters).
Actor = Annotated[str | None, Field(max_length=255)]
#: Most rows one POST may carry; larger streams belong to the Python ingest path.
MAX_BATCH = 10_000

#: Years whose every time stays within 1000-01-01 and 9000-01-01 UTC whatever its offset
#: (the services' range); a time without an offset is not RFC 3339 and is refused too.
TIME_PATTERN = (
    r"^(?:1(?:00[1-9]|0[1-9][0-9]|[1-9][0-9]{2})"  # 1001-1999
    r"|[2-7][0-9]{3}"  # 2000-7999
    r"|8(?:[0-8][0-9]{2}|9(?:[0-8][0-9]|9[0-8])))-"  # 8000-8998
)
#: A time as the services take it: with a UTC offset, between the years 1000 and 9000.
Time = Annotated[
    AwareDatetime,
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": TIME_PATTERN}),
]


def _time_text(value: object) -> object:
    """A query time is RFC 3339 text, as the schema says: a number is refused rather than
    read as a Unix timestamp (pydantic alone would take ``?since=0.5``)."""
    if not isinstance(value, str) or not re.match(TIME_PATTERN, value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-01T00:00:00Z")
    return value


#: A :data:`Time` in a query string (always text there, so only the text form is a time).
QueryTime = Annotated[Time, BeforeValidator(_time_text)]


def optional(*, schema: dict[str, Any] | None = None, **constraints: Any) -> Any:
    """A field that may be left out but, when sent, may not be null (no ``default: null``).

    ``schema`` adds keywords to the field's JSON schema.
    """

    def adjust(field_schema: dict[str, Any]) -> None:
        field_schema.pop("default", None)
        field_schema.update(schema or {})

    return Field(default=None, json_schema_extra=adjust, **constraints)


def decimal_schema(*, digits: int, places: int | None, maximum: Decimal) -> dict[str, Any]:
    """A decimal amount >= 0: a JSON number, or a string of digits (as the services read both).

    ``digits`` before the point; ``places`` after it at most (None: any number of places, the
    column rounds them). With ``places``, ``maximum`` is inclusive, else exclusive.
    """
    number: dict[str, Any] = {"type": "number", "minimum": 0}
    if places is None:
        number["exclusiveMaximum"] = float(maximum)
        fraction = r"(?:\.[0-9]+)?"
    else:
        number["maximum"] = float(maximum)
        number["multipleOf"] = float(Decimal(1).scaleb(-places))
        fraction = rf"(?:\.[0-9]{{1,{places}}})?"
    string = {"type": "string", "pattern": f"^[0-9]{{1,{digits}}}{fraction}$"}
    return {"anyOf": [number, string]}


#: A count in an INTEGER column.
Count = Annotated[int, Field(ge=0, le=MAX_INT), JsonInteger]

#: NUMERIC(14, 2) amounts of money: at most 999,999,999,999.99, two decimal places.
MAX_MONEY = Decimal("999999999999.99")
Money = Annotated[
    Decimal,
    Field(ge=0, le=MAX_MONEY, multiple_of=Decimal("0.01"), allow_inf_nan=False),
    WithJsonSchema(decimal_schema(digits=12, places=2, maximum=MAX_MONEY)),
]
