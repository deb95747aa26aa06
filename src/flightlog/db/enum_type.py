"""Enum columns that take a value in any letter case, as the HTTP API does.

The stored value is always the enum's canonical upper-case spelling (see
docs/schema.md, "Enums"): one spelling per value keeps the CHECK constraints,
indexes, partial indexes (``status = 'PENDING'``) and raw SQL simple. What a
caller passes is another matter: the reference systems write ``'pending'`` and
``'draft'``, and HTTP already accepts any case. So every path into an enum
column converts through the enum class (``TaskStatus("pending")`` is
``TaskStatus.PENDING``, aliases included):

- bound parameters (``Task.status == "running"``, ``.in_([...])``,
  ``update(Task).values(status="failed")``): :class:`AnyCaseEnum`;
- attribute assignment on a model (``Task(status="pending")``,
  ``task.status = "completed"``): :func:`coerce_on_set`, which refuses a value
  the enum does not know with :class:`~flightlog.errors.ValidationError` at
  once, instead of a ``LookupError`` at the next flush.
"""

from __future__ import annotations

import contextlib
import enum
from typing import Any

from sqlalchemy import Enum, event
from sqlalchemy.orm import Mapper

from flightlog.errors import ValidationError


class AnyCaseEnum(Enum):
    """SQLAlchemy's non-native ``Enum`` that converts strings through the enum class first."""

    cache_ok = True

    def _db_value_for_elem(self, elem: Any) -> Any:
        enum_class = self.enum_class
        if isinstance(elem, str) and elem not in self._valid_lookup and enum_class is not None:
            # A value the enum does not know stays as it is: the parent refuses it.
            with contextlib.suppress(ValueError):
                elem = enum_class(elem)
        return super()._db_value_for_elem(elem)  # type: ignore[no-untyped-call]


def _converter(enum_class: type[enum.Enum], what: str) -> Any:
    choices = ", ".join(str(member.value) for member in enum_class)

    def on_set(target: Any, value: Any, oldvalue: Any, initiator: Any) -> Any:
        if value is None or isinstance(value, enum_class):
            return value
        try:
            return enum_class(value)
        except ValueError:
            raise ValidationError(f"{what} must be one of {choices}, got {value!r}") from None

    return on_set


def coerce_on_set(mapper: Mapper[Any], cls: type[Any]) -> None:
    """Convert what is assigned to each enum column attribute of ``cls`` (mapper_configured)."""
    for prop in mapper.column_attrs:
        for column in prop.columns:
            kind = getattr(column, "type", None)
            if isinstance(kind, AnyCaseEnum) and kind.enum_class is not None:
                what = f"{cls.__name__}.{prop.key}"
                event.listen(
                    getattr(cls, prop.key), "set", _converter(kind.enum_class, what), retval=True
                )
