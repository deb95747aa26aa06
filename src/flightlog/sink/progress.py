"""Where the worker is: positions kept in the sink itself, next to the rows they describe.

One row per stream in ``sink_progress`` (a ReplacingMergeTree on the cycle
number): the last event and metric point id copied, and each table's sweep
cursor. The worker saves them *after* the rows of a cycle are in, so a
``kill -9`` between the two only makes the next run copy some rows again,
which the tables collapse (same id, same sorting key). Nothing is kept in the
primary: the sink needs no migration, and one directory (or server database)
holds all of its state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from flightlog.sink.backend import SinkBackend
from flightlog.sink.schema import PROGRESS
from flightlog.sink.statements import PROGRESS_COLUMNS, Insert, insert, progress, time_text

#: Append-only tables, copied by id up to the commit watermark.
TAILED = ("events", "metric_points")
#: Tables whose rows change after insert, re-read by id.
REREAD = ("agent_runs", "task_runs")
#: Every table is swept: mutable ones for changes and rows no event announced, all of them
#: for rows the primary deleted.
SWEPT = TAILED + REREAD
#: ``caught_up_at`` of a worker that has never caught up.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Progress:
    """Positions of every stream, the last cycle's number and when the worker last caught up."""

    tailed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TAILED, 0))
    sweeps: dict[str, str] = field(default_factory=lambda: dict.fromkeys(SWEPT, ""))
    cycle: int = 0
    caught_up_at: datetime = NEVER


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def load(backend: SinkBackend) -> Progress:
    """The saved progress (a fresh one on an empty sink)."""
    found = Progress()
    for stream, position, cycle, caught_up_at in backend.select(progress(backend.url.database)):
        kind, _, name = str(stream).partition(":")
        if kind == "tail" and name in found.tailed:
            found.tailed[name] = int(position or 0)
        elif kind == "sweep" and name in found.sweeps:
            found.sweeps[name] = str(position)
        found.cycle = max(found.cycle, int(cycle))
        found.caught_up_at = max(found.caught_up_at, _parse_time(str(caught_up_at)))
    return found


def save(database: str, state: Progress, now: datetime) -> Insert:
    """The INSERT that records ``state`` (the newest cycle's rows win)."""
    caught, stamped = time_text(state.caught_up_at), time_text(now)
    rows = [
        [f"tail:{name}", str(pos), state.cycle, caught, stamped]
        for name, pos in state.tailed.items()
    ]
    rows += [
        [f"sweep:{name}", cur, state.cycle, caught, stamped] for name, cur in state.sweeps.items()
    ]
    return insert(database, PROGRESS, PROGRESS_COLUMNS, rows)
