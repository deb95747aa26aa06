"""Where a run page's agent steps and events sit on one time axis (the waterfall).

Pure layout, no I/O: it takes a page of :func:`flightlog.services.timeline.run_timeline`
and answers rows in percent of the axis, which ``run_waterfall.html`` draws as SVG
attributes (``x="12.5%"``) rather than inline styles, so a strict Content-Security-Policy
can forbid ``style`` attributes without breaking the page.

The axis spans what the page shows: from the run's start (on the first page) or the
page's first entry, to the run's end, now (while it runs) or the page's last entry
(when a later page follows). Steps reaching beyond it are clipped and say so.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flightlog.enums import AgentRunStatus, EventSeverity, EventType
from flightlog.models import AgentRun, Event, TaskRun
from flightlog.services.lifecycle import ACTIVE_RUN_STATUSES as ACTIVE_RUN
from flightlog.services.timeline import Timeline
from flightlog.web.format import duration, offset

#: A step's own start and end are its bar; as markers they would only repeat it.
_BAR_EVENTS = {EventType.AGENT_START, EventType.AGENT_COMPLETE}
_BAD = {EventSeverity.ERROR, EventSeverity.CRITICAL}
#: Tick spacings, in seconds, from a second to a week: 4 to 8 ticks fit any span.
_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200]
_STEPS += [86400, 172800, 604800]
#: The narrowest bar drawn, in percent, so an instant step is still visible.
MIN_WIDTH = 0.4


@dataclass(frozen=True)
class Tick:
    left: float
    label: str
    #: SVG text-anchor, so labels at the edges stay inside the track.
    anchor: str


@dataclass(frozen=True)
class Marker:
    """An event at its time in its step's row (or the run's own row)."""

    event: Event
    left: float
    kind: str

    @property
    def label(self) -> str:
        what = f"{self.event.event_type.value} ({self.event.severity.value})"
        content = (self.event.content or "").strip()
        return f"{what}: {content[:120]}" if content else what


@dataclass
class Row:
    """One agent step, or the run itself (``step`` None) for events outside every step."""

    step: AgentRun | None
    depth: int
    left: float = 0.0
    width: float = 0.0
    seconds: float | None = None
    running: bool = False
    unfinished: bool = False
    clipped_start: bool = False
    clipped_end: bool = False
    #: False for a step that began on another page and is shown for its nesting.
    on_page: bool = True
    markers: list[Marker] = field(default_factory=list)
    errors: list[Event] = field(default_factory=list)

    @property
    def key(self) -> str:
        return str(self.step.id) if self.step is not None else "run"

    @property
    def bar_label(self) -> str:
        """What the bar says to a screen reader and in its tooltip."""
        if self.step is None:
            return f"Run-level events: {len(self.markers)}"
        state = "running" if self.running else self.step.status.value.lower()
        spent = duration(self.seconds)
        text = f"{self.step.agent_name}, {state}, {spent}"
        if self.clipped_start:
            text += ", began before this page"
        if self.clipped_end:
            text += ", continues after this page"
        if self.markers:
            text += f", {len(self.markers)} event{'s' if len(self.markers) != 1 else ''}"
        if self.step.output_summary:
            text += f": {self.step.output_summary[:200]}"
        return text


@dataclass(frozen=True)
class Axis:
    start: datetime
    end: datetime
    #: Offsets on the axis count from here: the run's start.
    origin: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def left(self, at: datetime) -> float:
        """``at`` in percent of the axis, clamped to it."""
        share = (at - self.start).total_seconds() / self.seconds
        return round(min(100.0, max(0.0, share * 100.0)), 3)

    def ticks(self) -> list[Tick]:
        step = next((s for s in _STEPS if self.seconds / s <= 6), _STEPS[-1])
        since_origin = (self.start - self.origin).total_seconds()
        first = math.ceil(since_origin / step) * step
        ticks = []
        value = first
        while value <= since_origin + self.seconds + 1e-9:
            left = self.left(self.origin + timedelta(seconds=value))
            anchor = "start" if left < 6 else "end" if left > 94 else "middle"
            ticks.append(Tick(left=left, label=offset(value), anchor=anchor))
            value += step
        return ticks


@dataclass
class Waterfall:
    axis: Axis
    ticks: list[Tick]
    rows: list[Row]
    run_row: Row
    names: dict[uuid.UUID, str] = field(default_factory=dict)

    def step_name(self, agent_run_id: uuid.UUID | None) -> str | None:
        """The agent name of a step on this page (or enclosing it), for events that lack one."""
        return self.names.get(agent_run_id) if agent_run_id is not None else None


def _marker_kind(event: Event) -> str:
    if event.event_type is EventType.ERROR or event.severity in _BAD:
        return "error"
    if event.severity is EventSeverity.WARNING:
        return "warning"
    if event.event_type is EventType.TOOL_CALL:
        return "tool"
    if event.event_type is EventType.MODEL_CALL:
        return "model"
    return "event"


def is_error(event: Event) -> bool:
    return event.event_type is EventType.ERROR or event.severity in _BAD


def _axis(timeline: Timeline, now: datetime, ends: dict[uuid.UUID, datetime]) -> Axis:
    run = timeline.run
    times = [entry.at for entry in timeline.entries]
    origin = run.started_at or (min(times) if times else now)
    starts = list(times)
    if timeline.previous_cursor is None and run.started_at is not None:
        starts.append(run.started_at)
    stops = list(times)
    if timeline.next_cursor is None:
        stops += [ends[e.item.id] for e in timeline.entries if isinstance(e.item, AgentRun)]
        stops.append(run.completed_at or (now if run.status in ACTIVE_RUN else origin))
    start = min(starts, default=origin)
    end = max(stops, default=start)
    if (end - start).total_seconds() < 1:
        end = start + timedelta(seconds=1)
    return Axis(start=start, end=end, origin=origin)


def _tree(steps: dict[uuid.UUID, AgentRun]) -> list[tuple[AgentRun, int]]:
    """Steps depth first, each level in start order: children right under their parent."""
    children: dict[uuid.UUID | None, list[AgentRun]] = defaultdict(list)
    for step in steps.values():
        parent = step.parent_id if step.parent_id in steps else None
        children[parent].append(step)
    for level in children.values():
        level.sort(key=lambda s: (s.started_at, s.id))
    ordered: list[tuple[AgentRun, int]] = []
    stack = [(step, 0) for step in reversed(children[None])]
    while stack:
        step, depth = stack.pop()
        ordered.append((step, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(step.id, [])))
    return ordered


def _place(row: Row, axis: Axis, start: datetime, end: datetime) -> None:
    left = axis.left(start)
    width = max(MIN_WIDTH, axis.left(end) - left)
    row.left = min(left, 100.0 - MIN_WIDTH)
    row.width = round(min(width, 100.0 - row.left), 3)
    row.clipped_start = start < axis.start
    row.clipped_end = end > axis.end


def build(timeline: Timeline, now: datetime) -> Waterfall:
    """The waterfall of one page of a run's timeline, as of ``now``."""
    run: TaskRun = timeline.run
    active = run.status in ACTIVE_RUN
    steps: dict[uuid.UUID, AgentRun] = {a.id: a for a in timeline.enclosing}
    on_page: set[uuid.UUID] = set()
    events: list[Event] = []
    for entry in timeline.entries:
        if isinstance(entry.item, AgentRun):
            steps[entry.item.id] = entry.item
            on_page.add(entry.item.id)
        else:
            events.append(entry.item)
    ends: dict[uuid.UUID, datetime] = {}
    for step in steps.values():
        fallback = now if active else (run.completed_at or step.started_at)
        ends[step.id] = step.finished_at or max(fallback, step.started_at)
    axis = _axis(timeline, now, ends)
    rows: dict[uuid.UUID, Row] = {}
    for step, depth in _tree(steps):
        row = Row(step=step, depth=depth, on_page=step.id in on_page)
        row.running = step.finished_at is None and active
        row.unfinished = step.finished_at is None and not active
        row.seconds = step.duration_seconds
        if row.seconds is None:
            row.seconds = (ends[step.id] - step.started_at).total_seconds()
        _place(row, axis, step.started_at, ends[step.id])
        rows[step.id] = row
    run_row = Row(step=None, depth=0, left=0.0, width=100.0)
    for event in events:
        found = rows.get(event.agent_run_id) if event.agent_run_id is not None else None
        target = found if found is not None else run_row
        if is_error(event):
            target.errors.append(event)
        if event.event_type not in _BAR_EVENTS:
            left = axis.left(event.created_at)
            target.markers.append(Marker(event=event, left=left, kind=_marker_kind(event)))
    names = {step.id: step.agent_name for step in steps.values()}
    return Waterfall(axis, axis.ticks(), list(rows.values()), run_row, names)


def failed(step: AgentRun) -> bool:
    return step.status is AgentRunStatus.FAILED or bool(step.error_message)
