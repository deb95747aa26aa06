"""The tail loop: copy committed rows from the primary into the sink, exactly once.

How each table is followed (docs/decisions/0018-columnar-sink.md):

* **events, metric points** (append-only, integer ids): by id, never past the
  commit watermark (:class:`flightlog.services.event_feed.Watermark`, one per
  table). On PostgreSQL ids commit out of order; the watermark is the highest id
  below which nothing can still appear, so a position never skips a row that
  commits late. On SQLite writers are serialised and every visible id is final.
* **agent runs, task runs** (updated after insert: status, tokens, cost; no
  change column to follow): re-read by id, at their current state, when
  (a) a copied event names them (every service path that starts or ends one
  writes an event in the same transaction), (b) the sink holds them in a status
  that may still change (usage is added to running agent runs without an
  event), and (c) a sweep reaches them: each cycle compares the next slice of
  the table, by id, with the sink's fingerprints and copies what differs or is
  missing (rows written by bulk paths: import, seeding, OTLP late usage) and
  removes what the primary no longer has. A re-read row gets the cycle number as
  its version, so the newest read wins; reading one too often is harmless.

Each cycle inserts the rows, then saves the positions (:mod:`flightlog.sink.progress`).
A ``kill -9`` anywhere in between leaves positions behind the rows: the next run
copies those rows again, and the tables keep one copy (ReplacingMergeTree by id).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from flightlog.services.event_feed import Watermark
from flightlog.sink import rows as source
from flightlog.sink.backend import SinkBackend, ensure_schema
from flightlog.sink.progress import REREAD, SWEPT, TAILED, Progress, load, save
from flightlog.sink.schema import BY_NAME, EVENTS, METRIC_FLOOR, METRIC_POINTS, SinkTable
from flightlog.sink.statements import (
    fingerprints,
    fingerprints_of,
    insert,
    metric_floors,
    open_ids,
    time_text,
    tombstones,
)

#: An id-only sweep of an append-only table reads this many batches' worth of ids per cycle.
ID_SWEEP = 10
#: While the tail has more to copy, the sweeps run every this many cycles only.
SWEEP_EVERY = 10
#: Ids per fingerprint lookup in the sink.
LOOKUP_CHUNK = 2000
#: Events name the agent runs and runs they are about in these payload columns.
_TOUCHES = {"agent_runs": "agent_run_id", "task_runs": "run_id"}


@dataclass
class CycleReport:
    """What one cycle did: rows written per table, rows removed, whether it caught up."""

    cycle: int
    started: datetime
    copied: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    safe: dict[str, int | None] = field(default_factory=dict)
    caught_up: bool = False
    wrapped: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.copied.values()) + sum(self.removed.values())


class SinkWorker:
    """One owner's tail loop over one primary (``engine``) and one sink (``backend``)."""

    def __init__(
        self,
        backend: SinkBackend,
        engine: Engine,
        *,
        batch_rows: int,
        retention_days: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.backend = backend
        self.engine = source.reading(engine)
        self.batch_rows = batch_rows
        self.retention_days = retention_days
        self.clock = clock
        self.database = backend.url.database
        self.progress = Progress()
        self._watermarks = {name: Watermark(name) for name in TAILED}
        self._caught_up = True
        #: Each customer's oldest metric point time copied (sink text), as the sink holds it.
        self._floors: dict[str, str] = {}

    def start(self) -> Progress:
        """Create the schema if needed and load the saved positions.

        A tailed table rebuilt with a new sorting key (:mod:`flightlog.sink.relayout`) is
        tailed again from the highest id it held when its copy began: whatever another
        writer added to the old table meanwhile is read again, not lost with it.
        """
        rebuilt = ensure_schema(self.backend, self.retention_days)
        self.progress = load(self.backend)
        for name, highest in rebuilt.items():
            if name in self.progress.tailed and highest is not None:
                self.progress.tailed[name] = min(self.progress.tailed[name], highest)
        self._floors = {
            str(customer): str(oldest)
            for customer, oldest in self.backend.select(metric_floors(self.database))
        }
        copied = self.progress.tailed[METRIC_POINTS.name]
        if not self._floors and copied:
            # A sink whose points were copied before the floor was kept: take it from the
            # primary, for the points the sink has been given.
            with Session(self.engine) as session, session.begin():
                found = source.oldest_by_customer(session, METRIC_POINTS, copied)
            self._lower_floors(found)
        return self.progress

    def _lower_floors(self, oldest: dict[str, str]) -> None:
        """Record the customers' floors that ``oldest`` lowers (before their points go in)."""
        lower = {
            customer: time
            for customer, time in oldest.items()
            if customer not in self._floors or time < self._floors[customer]
        }
        if lower:
            rows = [[customer, time] for customer, time in sorted(lower.items())]
            columns = ("customer_id", "oldest")
            self.backend.insert(insert(self.database, METRIC_FLOOR, columns, rows))
            self._floors.update(lower)

    # --- one cycle -------------------------------------------------------------------------------

    def cycle(self, *, sweep: bool | None = None) -> CycleReport:
        """Copy what is new, re-read what may have changed, sweep, save the positions.

        ``sweep``: None sweeps when the last cycle had caught up, else every
        :data:`SWEEP_EVERY` cycles (copying comes first while there is a backlog);
        False leaves the sweeps where they are (a catch-up sweeps at its end).
        """
        state = self.progress
        report = CycleReport(state.cycle + 1, self.clock())
        if sweep is None:
            sweep = self._caught_up or report.cycle % SWEEP_EVERY == 0
        for watermark in self._watermarks.values():
            # One short transaction per sample: a sample takes its transaction's id, and a
            # transaction holding an id is a writer, which the next sample would refuse.
            with Session(self.engine) as session, session.begin():
                watermark.sample(session)
        touched: dict[str, set[uuid.UUID]] = {name: set() for name in REREAD}
        full = False
        with Session(self.engine) as session, session.begin():
            for name in TAILED:
                table = BY_NAME[name]
                safe = self._watermarks[name].safe_id(session)
                report.safe[name] = safe
                found = source.rows_after(session, table, state.tailed[name], safe, self.batch_rows)
                full = full or len(found) == self.batch_rows
                cells = [source.encode(table, row) for row in found]
                if table is METRIC_POINTS:
                    self._lower_floors(_oldest_cells(cells))
                self._write(table, [source.appended_row(c) for c in cells], report)
                if table is EVENTS:
                    self._note_touched(cells, touched)
                if cells:
                    state.tailed[name] = int(cells[-1][0])
        version = report.cycle
        for name in REREAD:
            self._refresh(BY_NAME[name], touched[name], version, report)
            if sweep:
                self._sweep(BY_NAME[name], version, self.batch_rows, report)
        for name in TAILED:
            if sweep:
                self._sweep_ids(BY_NAME[name], version, ID_SWEEP * self.batch_rows, report)
        report.caught_up = self._caught_up = not full
        if report.caught_up:
            state.caught_up_at = report.started
        state.cycle = report.cycle
        self.backend.insert(save(self.database, state, self.clock()))
        return report

    def _write(self, table: SinkTable, rows: Sequence[list[Any]], report: CycleReport) -> None:
        if rows:
            self.backend.insert(insert(self.database, table.name, table.all_columns, rows))
        report.copied[table.name] = report.copied.get(table.name, 0) + len(rows)

    def _note_touched(self, cells: list[list[Any]], touched: dict[str, set[uuid.UUID]]) -> None:
        names = [column.name for column in EVENTS.payload]
        for table, column in _TOUCHES.items():
            index = names.index(column)
            touched[table].update(uuid.UUID(row[index]) for row in cells if row[index])

    def _refresh(
        self, table: SinkTable, touched: set[uuid.UUID], version: int, report: CycleReport
    ) -> None:
        """Re-read the rows events named and the rows the sink holds as still open; write
        those that are new or changed (a run named by every batch of its events is read
        again each time, but written only when it differs)."""
        held = {
            uuid.UUID(row[0]): int(row[1])
            for row in self.backend.select(open_ids(self.database, table))
        }
        unknown = sorted(str(key) for key in touched - set(held))
        for start in range(0, len(unknown), LOOKUP_CHUNK):
            part = unknown[start : start + LOOKUP_CHUNK]
            for row in self.backend.select(fingerprints_of(self.database, table, part)):
                held[uuid.UUID(row[0])] = int(row[1])
        ids = touched | set(held)
        if not ids:
            return
        with Session(self.engine) as session, session.begin():
            found = source.rows_by_id(session, table, ids)
        changed: list[list[Any]] = []
        for values in found:
            cells = source.encode(table, values)
            mark = source.fingerprint(cells)
            if held.get(uuid.UUID(cells[0])) != mark:
                changed.append([*cells, mark, version, 0])
        self._write(table, changed, report)

    def _sweep(self, table: SinkTable, version: int, limit: int, report: CycleReport) -> None:
        """Compare the next ``limit`` rows of the primary (by id) with the sink's; fix the sink."""
        cursor = self.progress.sweeps[table.name]
        with Session(self.engine) as session, session.begin():
            found = source.rows_after(session, table, cursor, None, limit)
        cells = [source.encode(table, row) for row in found]
        last = str(cells[-1][0]) if len(cells) == limit else None
        held = {
            str(row[0]): (list(row[:-1]), int(row[-1]))
            for row in self.backend.select(fingerprints(self.database, table, cursor, last))
        }
        names = [column.name for column in table.payload]
        key_at = [names.index(column) for column in table.key]
        horizon = time_text(self.clock() - timedelta(days=self.retention_days))
        upserts: list[list[Any]] = []
        gone: list[list[Any]] = []
        seen: set[str] = set()
        for row in cells:
            key = str(row[0])
            seen.add(key)
            if row[2] < horizon:
                continue  # past the retention: the TTL has dropped it, or will
            mark = source.fingerprint(row)
            had = held.get(key)
            if had is not None and had[1] == mark:
                continue
            if had is not None and had[0][1:] != [row[i] for i in key_at]:
                gone.append(had[0])  # copied at another key: hide that copy
            upserts.append([*row, mark, version, 0])
        gone += [cells_held for key, (cells_held, _) in held.items() if key not in seen]
        self._write(table, upserts, report)
        self._remove(table, gone, version, report)
        self.progress.sweeps[table.name] = last or ""
        if last is None:
            report.wrapped.add(table.name)

    def _sweep_ids(self, table: SinkTable, version: int, limit: int, report: CycleReport) -> None:
        """Remove from the sink the copied rows of an append-only table that the primary no
        longer has (a deleted task's events, a purge): ids only, up to the tail's position."""
        cursor = int(self.progress.sweeps[table.name] or 0)
        upto = self.progress.tailed[table.name]
        with Session(self.engine) as session, session.begin():
            kept = set(source.ids_after(session, table, cursor, upto, limit))
        last = max(kept) if len(kept) == limit else upto
        held = self.backend.select(fingerprints(self.database, table, cursor, last))
        gone = [[int(row[0]), *row[1:-1]] for row in held if int(row[0]) not in kept]
        self._remove(table, gone, version, report)
        wrapped = len(kept) < limit
        self.progress.sweeps[table.name] = "" if wrapped else str(last)
        if wrapped:
            report.wrapped.add(table.name)

    def _remove(
        self, table: SinkTable, gone: list[list[Any]], version: int, report: CycleReport
    ) -> None:
        """Tombstones for ``gone`` (each ``[id, *key values]`` as the sink holds the row)."""
        if gone:
            self.backend.insert(tombstones(self.database, table, gone, version))
        report.removed[table.name] = len(gone)

    # --- loops -----------------------------------------------------------------------------------

    def committed_ids(self) -> dict[str, int]:
        """The highest id of each tailed table that is visible now."""
        with Session(self.engine) as session:
            return {
                name: int(session.scalar(select(func.max(source.id_column(BY_NAME[name])))) or 0)
                for name in TAILED
            }

    def catch_up(self) -> Iterator[CycleReport]:
        """Cycles until everything committed before the call is in, then one whole sweep of
        every table that starts after that (``flightlog sink run --once``)."""
        target = self.committed_ids()
        unswept: set[str] | None = None  # counted once the tail has reached the target
        while True:
            report = self.cycle(sweep=unswept is not None)
            yield report
            if unswept is None:
                reached = all(
                    report.safe[name] is None or (report.safe[name] or 0) >= target[name]
                    for name in TAILED
                )
                if report.caught_up and reached:
                    self.progress.sweeps = dict.fromkeys(SWEPT, "")
                    unswept = set(SWEPT)
                continue
            unswept -= report.wrapped
            if not unswept:
                return


def _oldest_cells(cells: list[list[Any]]) -> dict[str, str]:
    """Each customer's oldest time among encoded rows (``[id, customer, time, …]``)."""
    oldest: dict[str, str] = {}
    for row in cells:
        customer, time = str(row[1]), str(row[2])
        if customer not in oldest or time < oldest[customer]:
            oldest[customer] = time
    return oldest
