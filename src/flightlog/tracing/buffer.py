"""The hand-over between agent code and the worker: a bounded, thread-safe FIFO.

Agent code only appends here (a lock, a deque append, a few counters), so a
recording call costs microseconds whether Flightlog is up or down. The worker
takes everything queued at once and settles it as it is delivered.

The bound. Events, metric points and artifacts *held* (queued or being sent)
are at most ``max_buffered`` (and artifact bytes at most
``max_buffered_bytes``); one more is **dropped on arrival**: counted in
``stats.dropped``, its call returns False, and nothing already accepted is
ever given up for it. A run or step start past the same count is dropped
likewise, and then everything of that run or step is dropped with it.
Finishes and usage of accepted runs and steps are always accepted, so held
lifecycle records stay under twice ``max_buffered``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from flightlog.tracing.config import TracerConfig
from flightlog.tracing.records import (
    ArtifactRecord,
    Data,
    EventRecord,
    FinishRun,
    FinishStep,
    MetricRecord,
    Record,
    SendUsage,
    StartRun,
    StartStep,
    StepRecord,
)

log = logging.getLogger("flightlog.tracing")

Queued = tuple[int, Record]


@dataclass(frozen=True)
class TracerStats:
    """Counts of records (runs, steps, usage reports, events, metric points, artifacts).

    ``sent``: written by Flightlog. ``pending``: accepted, not yet written.
    ``dropped``: offered past the buffer's bound or after ``close()``, never
    accepted. ``refused``: accepted, then refused by Flightlog (invalid, or of a
    run it refused); each is logged. ``failed_attempts``: sends that failed and
    were retried; ``last_error`` is the latest such failure.
    """

    sent: int
    pending: int
    dropped: int
    refused: int
    failed_attempts: int
    last_error: str | None


def _ignore(urgent: bool) -> None:
    """Before the worker runs there is no one to tell; it looks at the queue when it starts."""


class Buffer:
    """Records waiting for the worker, in the order agent code made them."""

    def __init__(self, config: TracerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._queue: deque[Queued] = deque()
        #: Sequence numbers taken or queued and not yet settled (settling twice is harmless).
        self._unsettled: set[int] = set()
        self._seq = 0
        self._done_seq = 0
        self._flush_target = 0
        self._queued_data = 0
        self._queued_lifecycle = 0
        self._oldest_data_at = 0.0
        self._held_data = 0
        self._held_bytes = 0
        self._held_starts = 0
        self._held = 0
        self._closed = False
        #: Runs started and not finished; a retiring buffer closes when it drops to zero.
        self._open_runs = 0
        self._retiring = False
        self._sent = 0
        self._dropped = 0
        self._refused = 0
        self._failed_attempts = 0
        self._last_error: str | None = None
        #: Set by the worker: wakes it (``urgent``: also cut a retry back-off short).
        self.notify: Callable[[bool], None] = _ignore

    # --- Agent code's side ---------------------------------------------------------------------

    def offer(self, record: Data | StartRun | StartStep) -> bool:
        """Accept ``record`` unless the bound is reached or the tracer closed; say which."""
        size = len(record.content) if isinstance(record, ArtifactRecord) else 0
        is_data = not isinstance(record, StartRun | StartStep)
        with self._lock:
            full = (
                self._held_data >= self.config.max_buffered
                or self._held_bytes + size > self.config.max_buffered_bytes
                if is_data
                else self._held_starts >= self.config.max_buffered
            )
            closed = self._closed or (self._retiring and isinstance(record, StartRun))
            never_fits = is_data and size > self.config.max_buffered_bytes
            if full or closed:
                self._dropped += 1
                dropped = self._dropped
            else:
                dropped = 0
                self._append(record)
                if is_data:
                    self._held_data += 1
                    self._held_bytes += size
                    self._queued_data += 1
                    wake = self._queued_data in (1, self.config.max_batch)
                    if self._queued_data == 1:
                        self._oldest_data_at = time.monotonic()
                else:
                    self._held_starts += 1
                    self._queued_lifecycle += 1
                    self._open_runs += isinstance(record, StartRun)
                    wake = True
        if dropped:
            if never_fits and not closed:
                log.warning(
                    "Flightlog tracing: artifact %r is dropped: its %d bytes can never fit in "
                    "the buffer (max_buffered_bytes=%d); raise max_buffered_bytes or store it "
                    "elsewhere",
                    getattr(record, "name", "?"),
                    size,
                    self.config.max_buffered_bytes,
                )
            else:
                _report_drop(dropped, closed=closed)
            return False
        if wake:
            self.notify(False)
        return True

    def put(self, record: FinishRun | FinishStep) -> None:
        """Queue the end of an accepted run or step: past the bound too, never dropped."""
        with self._lock:
            if self._closed:
                self._dropped += 1
                return
            if isinstance(record, FinishStep):
                record.step.finished = True
            self._append(record)
            self._queued_lifecycle += 1
            if isinstance(record, FinishRun):
                self._open_runs -= 1
                if self._retiring and self._open_runs <= 0:
                    self._closed = True  # the last open run of a replaced tracer has ended
        self.notify(self._closed)

    def add_usage(self, step: StepRecord, tokens_in: int, tokens_out: int, cost: Decimal) -> bool:
        """Add usage to the step; one report is queued however many calls come before it is sent."""
        with self._lock:
            if step.finished or step.dropped or self._closed:
                return False
            step.tokens_in += tokens_in
            step.tokens_out += tokens_out
            step.cost += cost
            if step.usage_queued:
                return True
            step.usage_queued = True
            self._append(SendUsage(step))
            self._queued_lifecycle += 1
        self.notify(False)
        return True

    def drop(self) -> None:
        """Count a record of a run or step that was itself dropped (said when that happened)."""
        with self._lock:
            self._dropped += 1

    def reject(self, what: str, reason: str) -> None:
        """Count a record refused on arrival because it cannot be valid, and say why."""
        with self._lock:
            self._refused += 1
        log.warning("Flightlog tracing: %s refused: %s", what, reason)

    def _append(self, record: Record) -> None:
        self._seq += 1
        self._held += 1
        self._unsettled.add(self._seq)
        self._queue.append((self._seq, record))

    # --- The worker's side ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def due(self) -> float | None:
        """0: take the queue now; else seconds until the oldest data is due, or None: idle."""
        with self._lock:
            if not self._queue:
                return 0.0 if self._closed else None
            if (
                self._closed
                or self._queued_lifecycle
                or self._queued_data >= self.config.max_batch
                or self._flush_target > self._done_seq
            ):
                return 0.0
            waited = time.monotonic() - self._oldest_data_at
            return max(0.0, self.config.flush_interval - waited)

    def take(self) -> list[Queued]:
        """Everything queued, in order; it stays held (and counted pending) until settled."""
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
            self._queued_data = self._queued_lifecycle = 0
            return items

    def unsettled(self, items: Sequence[Queued]) -> list[Queued]:
        """Those of ``items`` not settled yet."""
        with self._lock:
            return [item for item in items if item[0] in self._unsettled]

    def take_usage(self, step: StepRecord) -> tuple[int, int, Decimal]:
        """The usage gathered on ``step`` since the last report, and reset it."""
        with self._lock:
            usage = (step.tokens_in, step.tokens_out, step.cost)
            step.tokens_in = step.tokens_out = 0
            step.cost = Decimal(0)
            step.usage_queued = False
            return usage

    def settle(self, items: Sequence[Queued], *, refused: int = 0) -> None:
        """``items`` are done: written, except ``refused`` of them.

        An item settled already is skipped, so that a worker recovering from an
        unexpected error can settle a whole batch without counting any twice.
        """
        with self._lock:
            fresh = [item for item in items if item[0] in self._unsettled]
            refused = min(refused, len(fresh))
            for seq, record in fresh:
                self._unsettled.discard(seq)
                if isinstance(record, EventRecord | MetricRecord | ArtifactRecord):
                    self._held_data -= 1
                    if isinstance(record, ArtifactRecord):
                        self._held_bytes -= len(record.content)
                elif isinstance(record, StartRun | StartStep):
                    self._held_starts -= 1
            self._held -= len(fresh)
            self._sent += len(fresh) - refused
            self._refused += refused

    def advance(self, seq: int) -> None:
        """Everything up to ``seq`` is settled: wake flushes waiting for it."""
        with self._lock:
            self._done_seq = max(self._done_seq, seq)
            self._settled.notify_all()

    def note_failure(self, error: str) -> None:
        with self._lock:
            self._failed_attempts += 1
            self._last_error = error

    # --- Flush and close ----------------------------------------------------------------------

    def request_flush(self) -> int:
        """Ask for everything queued so far to be sent now; the sequence number to wait for."""
        with self._lock:
            target = self._seq
            self._flush_target = max(self._flush_target, target)
        self.notify(True)
        return target

    def wait_settled(self, target: int, timeout: float | None) -> bool:
        """Whether everything up to ``target`` was settled within ``timeout`` seconds."""
        with self._settled:
            return self._settled.wait_for(lambda: self._done_seq >= target, timeout)

    def retire(self) -> bool:
        """Close once the runs open now have finished (no new run starts); True if closed now.

        For a tracer replaced by ``configure()``: what its open runs still
        record, their finishes above all, is accepted and delivered.
        """
        with self._lock:
            if self._open_runs <= 0:
                self._closed = True
            else:
                self._retiring = True
            closed = self._closed
        self.notify(True)
        return closed

    def close(self) -> None:
        """Refuse new records from now on (they count as dropped); the worker drains the rest."""
        with self._lock:
            self._closed = True
        self.notify(True)

    def forget_after_fork(self) -> list[Queued]:
        """In a forked child: start empty, with new locks; return what the parent held.

        Those records are the parent's to send (it still holds them), so the
        child never sends them; a lock a parent thread held at the fork would
        never be released here, hence new ones.
        """
        inherited = list(self._queue)
        self.__init__(self.config)  # type: ignore[misc]  # the same buffer, made anew
        return inherited

    def wake_waiters(self) -> None:
        with self._settled:
            self._settled.notify_all()

    def stats(self) -> TracerStats:
        with self._lock:
            return TracerStats(
                sent=self._sent,
                pending=self._held,
                dropped=self._dropped,
                refused=self._refused,
                failed_attempts=self._failed_attempts,
                last_error=self._last_error,
            )


def _report_drop(count: int, *, closed: bool) -> None:
    """Warn on the first drop and then at every power of ten, not on each one."""
    if str(count).rstrip("0") != "1":
        return
    if closed:
        log.warning("Flightlog tracing: a record came after the tracer closed (%d so far)", count)
    else:
        log.warning(
            "Flightlog tracing: the buffer is full (Flightlog unreachable or too slow); "
            "new records are dropped (%d so far, see tracer.stats.dropped)",
            count,
        )
