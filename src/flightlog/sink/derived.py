"""Narrow columns the sink computes from a task run, so that the run charts read bytes, not text.

Run outcomes and durations read every finished run of a customer's month: their window
is on ``completed_at``, which changes, so it cannot lead the sorting key. What they cost
in ClickHouse is reading and comparing a 16-byte ``customer_id``, a
``Nullable(DateTime64)`` end, a ``LowCardinality(String)`` status and a
``Nullable(Float64)`` duration sorted into bins by ``multiIf``. ClickHouse computes four
narrow columns from those when a row is written (``MATERIALIZED``: a row copied again
gets them afresh, and the worker never writes them), and the charts group one small
integer key made of them (benchmarks/README.md, decision 0018).

The end is kept in whole seconds. That is exact for the charts: their windows start
and end on whole seconds (``insights._window``, ``insights._start``), and for a whole
second ``S``, ``t >= S`` exactly when ``floor(t) >= S``, and a window index
``floor((t - origin) / width)`` is the same for ``t`` and ``floor(t)``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from flightlog.services import insights

#: The last second ``completed_second`` (a UInt32) can hold: 2106-02-07 06:28:15 UTC.
SECOND_LIMIT = 2**32 - 1
#: What ``duration_bin`` holds for a run without a measured duration.
NO_DURATION = 255


@dataclass(frozen=True)
class Derived:
    """A column ClickHouse computes from the row's copied columns when it is written."""

    name: str
    type: str
    expression: str

    @property
    def ddl(self) -> str:
        return f"{self.name} {self.type} MATERIALIZED {self.expression}"


def _outcome_expression() -> str:
    listed = ", ".join(f"'{status}'" for status in insights.OUTCOMES)
    return f"toUInt8(indexOf([{listed}], status))"


def outcome_of(status: str) -> int:
    """What ``outcome`` holds for a finished run's status: its place in
    ``insights.OUTCOMES``, from 1 (ClickHouse's ``indexOf``)."""
    return insights.OUTCOMES.index(status) + 1


def duration_bin(column: str) -> str:
    """The bin of ``insights.DURATION_EDGES`` a duration falls in, as the database's
    ``CASE`` puts it (a NaN or an hour and more in the last)."""
    edges = insights.DURATION_EDGES
    bins = ", ".join(f"{column} < {high}, {i}" for i, high in enumerate(edges[1:]))
    return f"multiIf({bins}, {len(edges) - 1})"


#: Task runs' derived columns:
#:
#: * ``customer_key``: ``customer_id`` as text, a dictionary of a few values per part, so
#:   the month's customer filter compares a small index, not 16 bytes, per run;
#: * ``completed_second``: ``completed_at`` in whole seconds since 1970; NULL and ends
#:   before 1970 are 0, ends after 2106-02-07 are :data:`SECOND_LIMIT` (see :func:`fits`);
#: * ``outcome``: 1 + the status's place in ``insights.OUTCOMES``, 0 for a run still open;
#: * ``duration_bin``: the run's bin of ``insights.DURATION_EDGES``, as the database's
#:   ``CASE`` puts it, or :data:`NO_DURATION`.
TASK_RUN_COLUMNS: tuple[Derived, ...] = (
    Derived("customer_key", "LowCardinality(String)", "toString(customer_id)"),
    Derived(
        "completed_second",
        "UInt32",
        "toUInt32(greatest(0, least("
        f"{SECOND_LIMIT}, ifNull(toUnixTimestamp64Second(completed_at), 0))))",
    ),
    Derived("outcome", "UInt8", _outcome_expression()),
    Derived(
        "duration_bin",
        "UInt8",
        f"if(isNull(duration_seconds), {NO_DURATION}, "
        f"toUInt8({duration_bin('assumeNotNull(duration_seconds)')}))",
    ),
)


def layout(columns: tuple[Derived, ...]) -> str:
    """The table comment that names these derived columns: a sink table whose comment
    differs was made by another version and is rebuilt (:mod:`flightlog.sink.relayout`)."""
    if not columns:
        return ""
    digest = hashlib.sha256("\n".join(c.ddl for c in columns).encode()).hexdigest()
    return f"flightlog layout {digest[:16]}"


def fits(start: datetime, end: datetime | None) -> bool:
    """Whether ``completed_second`` answers ``start <= completed_at < end`` exactly.

    It does when the window lies within 1970-01-01 00:00:01 .. 2106-02-07 06:28:15 UTC:
    the ends stored at 0 (NULL, before 1970) are then before ``start``, those stored at
    :data:`SECOND_LIMIT` at or after ``end``. Any other window is asked of
    ``completed_at`` itself.
    """
    return start.timestamp() >= 1 and (end is None or end.timestamp() <= SECOND_LIMIT)


def second(moment: datetime) -> int:
    """A whole-second window edge as ``completed_second`` counts it."""
    return int(moment.timestamp())
