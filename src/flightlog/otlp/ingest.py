"""Recording a batch of spans: dedupe, wait for parents, build the record, write it in bulk.

:func:`record_spans` is the service behind ``POST /v1/traces`` (and
``store.traces.record``), in the caller's transaction:

1. The request's traces are locked (see :func:`ledger.lock_traces`) and their
   ledger rows read in one query. A span already there is a duplicate and
   changes nothing.
2. Each trace whose root is here (and has no run yet) gets its task by the
   rule of :mod:`flightlog.otlp.task_rule`; a trace whose task cannot take the
   run (another tenant's, cancelled) or whose root starts in the future is
   rejected whole, with the reason, before anything is written.
3. Every span whose parent is placed is placed, its children after it,
   however the exporter split and ordered them (:class:`RecordBuilder`);
   spans whose parent has not arrived wait in the ledger.
4. The rows are written, each kind in one statement, and the ledger records
   what became of every span; on PostgreSQL the runs come last, numbered in a
   short tail under their tasks' locks (:mod:`flightlog.otlp.writer`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from flightlog.db.failures import database_unreachable
from flightlog.errors import Conflict, FlightlogError, NotFound, ValidationError
from flightlog.otlp import ledger, mapping, writer
from flightlog.otlp.ledger import Placement, TraceState
from flightlog.otlp.prices import PriceTable, load_price_table
from flightlog.otlp.readings import span_time
from flightlog.otlp.records import Limits, RecordBuilder
from flightlog.otlp.spans import Rejected, Span, time_refusal
from flightlog.otlp.task_rule import TaskRef, resolve_tasks
from flightlog.services._common import MAX_CLOCK_SKEW, utc_now
from flightlog.services.agent_runs import refuse_total_past_columns
from flightlog.services.events import SPAN_ID_PATTERN, TRACE_ID_PATTERN

log = logging.getLogger(__name__)

#: More tokens than any model takes in one call: a count beyond this is a broken producer.
MAX_TOKENS_PER_CALL = 1_000_000_000


@dataclass(slots=True)
class SpansRecorded:
    """What became of a batch: spans accepted (recorded or waiting), and those rejected."""

    accepted: int = 0
    duplicates: int = 0
    waiting: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(slots=True)
class _Trace:
    """One trace of the request: the spans new to the ledger, and its root if it brings one."""

    state: TraceState
    fresh: dict[str, Span]
    root: Span | None = None
    task: TaskRef | None = None
    task_id: uuid.UUID | None = None


def record_spans(
    session: Session,
    customer_id: uuid.UUID,
    limits: Limits,
    /,
    spans: Sequence[Span],
) -> SpansRecorded:
    """Record OpenTelemetry spans as runs, agent runs and events (see the module docstring)."""
    result = SpansRecorded()
    if not spans:
        return result
    usable: list[Span] = []
    for span in spans:
        problem = unusable(span)
        if problem is None:
            usable.append(span)
        else:
            result.rejected.append(Rejected(f"span {span.span_id[:32]!r}", problem))
    by_trace: dict[str, dict[str, Span]] = defaultdict(dict)
    for span in usable:
        if span.span_id in by_trace[span.trace_id]:
            result.duplicates += 1
        else:
            by_trace[span.trace_id][span.span_id] = span
    ledger.lock_traces(session, customer_id, by_trace)
    states = ledger.load(session, customer_id, by_trace)
    traces: dict[str, _Trace] = {}
    for trace_id in sorted(by_trace):
        state = states[trace_id]
        fresh = {
            span_id: span
            for span_id, span in by_trace[trace_id].items()
            if span_id not in state.recorded and span_id not in state.pending
        }
        result.duplicates += len(by_trace[trace_id]) - len(fresh)
        if fresh:
            traces[trace_id] = _Trace(state, fresh, root=_new_root(state, fresh))
    refused = _refusals(session, customer_id, traces)
    for trace_id in sorted(refused):
        reason = f"trace {trace_id}: {refused[trace_id]}"
        result.rejected.extend(Rejected(f"span {s}", reason) for s in traces.pop(trace_id).fresh)
    prices = load_price_table(session)
    try:
        with session.begin_nested():
            outcome = _record(session, customer_id, limits, prices, traces)
    except Exception as exc:
        if not _refused_content(exc):
            raise
        # A value the database refuses (a total past a column's range) fails the batch
        # statement; record trace by trace, so only the trace that holds it is rejected.
        writer.hold_tail_locks(
            session,
            customer_id,
            {trace.task_id for trace in traces.values() if trace.task_id is not None},
            {name for trace in traces.values() if (name := _session_of(trace)) is not None},
        )
        outcome = (0, 0)
        for trace_id in sorted(traces):
            try:
                with session.begin_nested():
                    one = _record(
                        session, customer_id, limits, prices, {trace_id: traces[trace_id]}
                    )
            except Exception as exc:
                if not _refused_content(exc):
                    raise
                if not isinstance(exc, DBAPIError | FlightlogError):
                    # Content no rule foresaw: the exporter hears why; the operator gets the trace.
                    log.warning("OTLP trace %s rejected", trace_id, exc_info=exc)
                reason = f"trace {trace_id}: cannot be recorded ({_first_line(exc)})"
                result.rejected.extend(
                    Rejected(f"span {s}", reason) for s in traces[trace_id].fresh
                )
                continue
            outcome = (outcome[0] + one[0], outcome[1] + one[1])
    result.accepted += outcome[0]
    result.waiting += outcome[1]
    return result


def _record(
    session: Session,
    customer_id: uuid.UUID,
    limits: Limits,
    prices: PriceTable,
    traces: dict[str, _Trace],
) -> tuple[int, int]:
    """Build and write the record of these traces; (spans accepted, spans still waiting)."""
    records = RecordBuilder(limits, prices)
    new_rows: list[tuple[Span, Placement | None]] = []
    settled: list[tuple[Span, Placement]] = []
    accepted = waiting = 0
    for trace in traces.values():
        placed = _place(records, trace)
        new_rows.extend((span, placed.get(span.span_id)) for span in trace.fresh.values())
        settled.extend(
            (span, placed[span.span_id])
            for span in trace.state.pending.values()
            if span.span_id in placed
        )
        accepted += len(trace.fresh)
        candidates = trace.state.pending.keys() | trace.fresh.keys()
        waiting += sum(1 for span_id in candidates if span_id not in placed)
    writer.write(
        session,
        customer_id,
        records,
        ledger_rows=lambda: ledger.write(
            session, customer_id, new=new_rows, resolved_pending=settled
        ),
    )
    return accepted, waiting


_TRACE_ID = re.compile(TRACE_ID_PATTERN)
_SPAN_ID = re.compile(SPAN_ID_PATTERN)


def unusable(span: Span) -> str | None:
    """Why a span cannot be recorded as given, if it cannot: ids and times.

    The OTLP decoder refuses such spans already (:mod:`flightlog.otlp.convert`);
    this holds spans a Python caller built to the same rules, because the rows
    made from them are written without a second validation
    (:mod:`flightlog.ingest.own_rows`).
    """
    if not _TRACE_ID.fullmatch(span.trace_id) or not span.trace_id.strip("0"):
        return "the trace id must be 32 lowercase hexadecimal characters, not all zeros"
    if not _SPAN_ID.fullmatch(span.span_id) or not span.span_id.strip("0"):
        return "the span id must be 16 lowercase hexadecimal characters, not all zeros"
    parent = span.parent_span_id
    if parent is not None and not _SPAN_ID.fullmatch(parent):
        return "the parent span id must be 16 lowercase hexadecimal characters"
    for value, what in (
        (span.start_time_unix_nano, "start time"),
        (span.end_time_unix_nano, "end time"),
    ):
        refusal = time_refusal(value, what)
        if refusal is not None:
            return refusal
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "the span ends before it starts"
    return None


def _refused_content(exc: Exception) -> bool:
    """Whether an error is about what a trace holds (so only it is rejected), not an outage.

    The database refusing a value comes as ``IntegrityError`` / ``DataError`` from
    psycopg and sqlite3 but as a plain ``DBAPIError`` from asyncpg, and as a
    ``ValidationError`` from the batch path; content no rule foresaw (a value the
    mapping cannot read) as any other exception. An unreachable or locked database is
    none of these: it is raised, and the exporter is told to retry.
    """
    if isinstance(exc, OperationalError) or database_unreachable(exc):
        return False
    if isinstance(exc, FlightlogError):
        # The writers word a broken constraint as Conflict or NotFound (a run deleted
        # since the ledger was read): about one trace's rows, like a refused value.
        return isinstance(exc, ValidationError | Conflict | NotFound)
    return True


def _first_line(exc: Exception) -> str:
    """The driver's own words, first line only, without the SQL or the parameters."""
    original = getattr(exc, "orig", None) or exc
    return (
        str(original).strip().splitlines()[0][:200] if str(original).strip() else type(exc).__name__
    )


def _new_root(state: TraceState, fresh: dict[str, Span]) -> Span | None:
    """The root that makes the trace's run: the earliest root, if the trace has no run yet."""
    if state.run is not None:
        return None
    roots = [s for s in (*state.pending.values(), *fresh.values()) if s.parent_span_id is None]
    return min(roots, key=lambda s: (s.start_time_unix_nano, s.span_id)) if roots else None


def _refusals(
    session: Session, customer_id: uuid.UUID, traces: dict[str, _Trace]
) -> dict[str, str]:
    """Why a trace cannot be recorded, for those that cannot; their tasks resolved for the rest."""
    refused: dict[str, str] = {}
    latest = utc_now() + MAX_CLOCK_SKEW
    for trace_id, trace in traces.items():
        ahead = next(
            (
                span
                for span in trace.fresh.values()
                if span_time(span.start_time_unix_nano) > latest
            ),
            None,
        )
        if ahead is not None:
            started = span_time(ahead.start_time_unix_nano)
            refused[trace_id] = (
                f"span {ahead.span_id} started_at ({started.isoformat()}) is in the future; "
                "give the time it happened"
            )
            continue
        excess = _excess_usage(trace.fresh.values())
        if excess is None and trace.state.run is None:
            excess = _excess_total({**trace.state.pending, **trace.fresh}.values())
        if excess is not None:
            refused[trace_id] = excess
            continue
        if trace.root is None:
            continue
        started = span_time(trace.root.start_time_unix_nano)
        if started > latest:
            refused[trace_id] = (
                f"started_at ({started.isoformat()}) is in the future; give the time it happened"
            )
            continue
        explicit, title = mapping.task_reference(trace.root)
        service = mapping.text(trace.root.resource.get("service.name"))
        trace.task = (explicit, title, None if service is None else service[:500])
    wanted = [trace.task for trace in traces.values() if trace.task is not None]
    tasks = resolve_tasks(session, customer_id, wanted) if wanted else {}
    for trace_id, trace in traces.items():
        if trace.task is not None and isinstance(tasks[trace.task], str):
            refused[trace_id] = str(tasks[trace.task])
        elif trace.task is not None:
            found = tasks[trace.task]
            assert isinstance(found, uuid.UUID)
            trace.task_id = found
    return refused


def _excess_usage(spans: Iterable[Span]) -> str | None:
    """Why a span's token counts cannot be recorded (beyond any model call), if they cannot."""
    for span in spans:
        if mapping.role(span) is not mapping.Role.MODEL:
            continue
        usage = mapping.usage(span)
        for name, count in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cached input", usage.cached_input_tokens),
        ):
            if count > MAX_TOKENS_PER_CALL:
                return (
                    f"span {span.span_id} claims {count:,} {name} tokens for one call; "
                    f"at most {MAX_TOKENS_PER_CALL:,} are recorded"
                )
    return None


def _excess_total(spans: Iterable[Span]) -> str | None:
    """Why a new run's token or reported cost totals cannot be recorded, if they cannot.

    Asked before the trace's task is found or created, so that a trace refused for its
    totals leaves nothing behind, a new task included (the writer's own check, after
    the task, still guards what only the database knows: a run recorded earlier)."""
    tokens_in, tokens_out, cost = 0, 0, Decimal(0)
    for span in spans:
        if mapping.role(span) is mapping.Role.MODEL:
            usage = mapping.usage(span)
            tokens_in += usage.input_tokens
            tokens_out += usage.output_tokens
            cost += usage.reported_cost_usd or 0
    try:
        refuse_total_past_columns("run", (0, 0, Decimal(0)), (tokens_in, tokens_out, cost))
    except ValidationError as exc:
        return f"cannot be recorded ({exc.message})"  # as the writer's own check words it
    return None


def _place(records: RecordBuilder, trace: _Trace) -> dict[str, Placement]:
    """Place every span of the trace whose parent is placed, parents before children."""
    state = trace.state
    candidates = {**state.pending, **trace.fresh}
    children: dict[str | None, list[Span]] = defaultdict(list)
    for span in candidates.values():
        parent_id = span.parent_span_id
        if (
            parent_id is not None
            and parent_id not in candidates
            and parent_id not in state.recorded
        ):
            continue  # its parent has not arrived: it waits
        children[parent_id].append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_time_unix_nano, s.span_id))
    placed: dict[str, Placement] = {}
    queue: deque[tuple[Span, Placement]] = deque()
    run = state.run
    if trace.root is not None and trace.task_id is not None:
        run = records.new_run(trace.root, trace.task_id, _conversation(trace.root, candidates))
        placed[trace.root.span_id] = run
    for root in children.pop(None, []):
        if root.span_id not in placed:
            if run is None:
                continue  # a second root of a trace whose run is not made: cannot happen
            placed[root.span_id] = records.place(root, run)
        queue.extend((child, placed[root.span_id]) for child in children.pop(root.span_id, []))
    for span_id, placement in state.recorded.items():
        if placement is not None:
            queue.extend((child, placement) for child in children.pop(span_id, []))
    while queue:
        span, parent = queue.popleft()
        placed[span.span_id] = records.place(span, parent)
        queue.extend((child, placed[span.span_id]) for child in children.pop(span.span_id, []))
    return placed


def _session_of(trace: _Trace) -> str | None:
    """The session a trace's new run would belong to, if it makes a run and names one."""
    if trace.root is None or trace.task_id is None:
        return None
    conversation = _conversation(trace.root, {**trace.state.pending, **trace.fresh})
    return writer.session_name(conversation) if conversation else None


def _conversation(root: Span, candidates: dict[str, Span]) -> str | None:
    """The root's conversation, else the earliest span's that names one."""
    found = mapping.conversation(root)
    if found:
        return found
    for span in sorted(candidates.values(), key=lambda s: (s.start_time_unix_nano, s.span_id)):
        found = mapping.conversation(span)
        if found:
            return found
    return None
