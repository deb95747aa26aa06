"""Which partition holds a time: the layout of ``events`` and ``metric_points`` on PostgreSQL.

Pure arithmetic, no database (decision 0016). A partition covers one calendar
month in UTC, ``[first instant of the month, first instant of the next)``, and
is named after it: ``events_p2026_11``. Two partitions stand for the far edges,
so that a wild timestamp costs one partition rather than one per month:
``<table>_before_2000`` holds everything before 2000-01-01 and
``<table>_from_2100`` everything from 2100-01-01 on. Real telemetry never
lands there; a skewed clock, a test or a replay of odd data may, and is kept
rather than refused (times Flightlog accepts at all run from 1000 to 9000).

A slot is the month's index ``year * 12 + month - 1``; the two edge slots are
the index just below 2000-01 and the index of 2100-01.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: The partitioned tables and their partition key (the time column).
PARTITION_KEYS = {"events": "created_at", "metric_points": "recorded_at"}
#: ``Table.info`` key under which a model names its partition key (see the models).
PARTITION_KEY_INFO = "flightlog_partition_key"

FLOOR_YEAR = 2000
CEILING_YEAR = 2100
#: Everything before 2000-01-01 UTC.
FLOOR_SLOT = FLOOR_YEAR * 12 - 1
#: Everything from 2100-01-01 UTC on.
CEILING_SLOT = CEILING_YEAR * 12
#: Months kept ready beyond the current one (created before anything is written there).
AHEAD_MONTHS = 2
#: How far the database clock may be from this process's, around a month's turn.
CLOCK_MARGIN = timedelta(minutes=5)

_NAME = re.compile(
    r"^(?P<table>[a-z_]+?)_(?:p(?P<year>\d{4})_(?P<month>\d{2})|before_2000|from_2100)$"
)


def slot_of(at: datetime) -> int:
    """The slot of an aware time (converted to UTC first)."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    month = at.year * 12 + at.month - 1
    if month <= FLOOR_SLOT:
        return FLOOR_SLOT
    return min(month, CEILING_SLOT)


def slots_of(times: Iterable[datetime]) -> set[int]:
    """The slots a batch of aware times needs; cheap when they share one month (the rule)."""
    listed = times if isinstance(times, list) else list(times)
    if not listed:
        return set()
    low, high = slot_of(min(listed)), slot_of(max(listed))
    if low == high:
        return {low}
    return {slot_of(at) for at in listed}


def clock_slots(now: datetime) -> set[int]:
    """The slots a row stamped by the database clock may need now (both near a month's turn)."""
    return {slot_of(now - CLOCK_MARGIN), slot_of(now + CLOCK_MARGIN)}


def ahead_slots(now: datetime) -> set[int]:
    """The current month and the next :data:`AHEAD_MONTHS`, which should exist before use."""
    current = slot_of(now)
    return {min(current + step, CEILING_SLOT) for step in range(AHEAD_MONTHS + 1)}


def _start(slot: int) -> datetime:
    return datetime(slot // 12, slot % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Bounds:
    """A partition's range: ``lower`` None is MINVALUE, ``upper`` None is MAXVALUE."""

    lower: datetime | None
    upper: datetime | None

    def sql(self) -> str:
        """The ``FOR VALUES`` clause, with explicit UTC offsets (the session's zone is moot)."""
        low = "MINVALUE" if self.lower is None else f"'{self.lower.isoformat()}'"
        high = "MAXVALUE" if self.upper is None else f"'{self.upper.isoformat()}'"
        return f"FOR VALUES FROM ({low}) TO ({high})"

    def before(self, cutoff: datetime) -> bool:
        """Whether every time this range admits lies before ``cutoff``."""
        return self.upper is not None and self.upper <= cutoff


def bounds(slot: int) -> Bounds:
    if slot == FLOOR_SLOT:
        return Bounds(None, _start(FLOOR_SLOT + 1))
    if slot == CEILING_SLOT:
        return Bounds(_start(CEILING_SLOT), None)
    return Bounds(_start(slot), _start(slot + 1))


def partition_name(table: str, slot: int) -> str:
    if slot == FLOOR_SLOT:
        return f"{table}_before_{FLOOR_YEAR}"
    if slot == CEILING_SLOT:
        return f"{table}_from_{CEILING_YEAR}"
    return f"{table}_p{slot // 12:04d}_{slot % 12 + 1:02d}"


def slot_from_name(table: str, name: str) -> int | None:
    """The slot of one of Flightlog's partitions of ``table``, None for any other name."""
    match = _NAME.match(name)
    if match is None or match.group("table") != table:
        return None
    if match.group("year") is None:
        return FLOOR_SLOT if name.endswith(f"before_{FLOOR_YEAR}") else CEILING_SLOT
    month = int(match.group("month"))
    if not 1 <= month <= 12:
        return None
    slot = int(match.group("year")) * 12 + month - 1
    return slot if FLOOR_SLOT < slot < CEILING_SLOT else None


def is_partition_name(name: str) -> bool:
    """Whether ``name`` is one of Flightlog's partitions (of either table)."""
    return any(slot_from_name(table, name) is not None for table in PARTITION_KEYS)
