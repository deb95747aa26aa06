"""Spans recorded exactly once, whatever the delivery: duplicates, children first, split
traces, concurrent senders; failures, late spans, sessions and trace lookup.

Exporters retry, batch arbitrarily and send a span when it ends (children before
their parents). Every delivery of the same spans must leave the same record as one
request carrying them all. Runs on SQLite and PostgreSQL through the synchronous
Store (``store.traces.record`` is what ``POST /v1/traces`` calls).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flightlog import open_store_sync
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import AgentRunStatus, EventType, RunStatus
from flightlog.errors import NotFound
from flightlog.migrations.runner import Migrator
from flightlog.models import Artifact, Event, OtlpSpan, Task, TaskRun
from flightlog.models import MetricPoint as MetricPointRow
from flightlog.otlp.prices import load_price_table
from flightlog.otlp.readings import read_ahead
from flightlog.otlp.spans import MetricPoint
from flightlog.settings import Settings
from flightlog.store.sync import SyncStore
from otlp_spans import Team, agent, chat, failing, shape, team, with_new_ids


def _as(store: SyncStore, customer_id: object) -> SyncStore:
    """The same database, acting for another customer."""
    return SyncStore(store.engine, store.settings, customer_id, connection=store.connection)  # type: ignore[arg-type]


def _count(store: SyncStore, model: type[object], *where: object) -> int:
    with store.session() as db:
        return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_one_request_records_the_whole_trace(sync_store: SyncStore) -> None:
    trace = team()
    recorded = sync_store.traces.record(trace.in_end_order())
    assert (recorded.accepted, recorded.waiting, recorded.rejected) == (7, 0, [])
    got = shape(sync_store, trace.trace_id)
    assert got["status"] == RunStatus.COMPLETED.value
    assert got["tokens"] == trace.tokens
    assert [row[:2] for row in got["agent_runs"]] == [("coder", "planner"), ("planner", None)]
    kinds = sorted(event[0] for event in got["events"])
    assert kinds.count(EventType.MODEL_CALL.value) == 3
    assert kinds.count(EventType.TOOL_CALL.value) == 2
    # gpt-4o-mini has a shipped price: the cost was computed, and says so.
    assert got["cost"] != "0.000000"
    record = sync_store.traces.get(trace.trace_id)
    model_event = next(e for e in record.events if e.event_type is EventType.MODEL_CALL)
    assert model_event.data is not None
    assert model_event.data["cost_source"] == "computed"
    assert record.run is not None
    assert record.run.started_at is not None
    assert record.run.completed_at is not None
    assert (record.run.completed_at - record.run.started_at).total_seconds() == 10


def test_the_same_spans_delivered_again_change_nothing(sync_store: SyncStore) -> None:
    trace = team()
    sync_store.traces.record(trace.in_end_order())
    before = shape(sync_store, trace.trace_id)
    events = _count(sync_store, Event)
    again = sync_store.traces.record([*trace.in_end_order(), *trace.spans[:3]])
    assert (again.accepted, again.duplicates) == (0, 10)
    assert shape(sync_store, trace.trace_id) == before
    assert _count(sync_store, Event) == events
    assert _count(sync_store, TaskRun, TaskRun.trace_id == trace.trace_id) == 1


def _deliveries(trace: Team, seed: int) -> list[list[object]]:
    """A random split of the trace's spans (end order, shuffled a little) into requests."""
    chooser = random.Random(seed)
    spans = trace.in_end_order()
    if seed % 2:
        chooser.shuffle(spans)
    cuts = sorted(chooser.sample(range(1, len(spans)), chooser.randint(1, len(spans) - 1)))
    parts = [spans[a:b] for a, b in zip([0, *cuts], [*cuts, len(spans)], strict=True)]
    if seed % 3 == 0:  # an exporter's retry: one part sent twice
        parts.insert(chooser.randrange(len(parts)), list(parts[0]))
    return [list(part) for part in parts]


@pytest.mark.parametrize("seed", range(6))
def test_any_split_and_order_records_what_one_request_would(
    sync_store: SyncStore, seed: int
) -> None:
    reference = team()
    sync_store.traces.record(reference.in_end_order())
    expected = shape(sync_store, reference.trace_id)
    trace = with_new_ids(reference)
    for part in _deliveries(trace, seed):
        sync_store.traces.record(part)  # type: ignore[arg-type]
    assert shape(sync_store, trace.trace_id) == expected


def test_children_wait_for_their_parent_and_are_attached_when_it_comes(
    sync_store: SyncStore,
) -> None:
    trace = team()
    root, *rest = trace.spans
    first = sync_store.traces.record(rest)
    assert (first.accepted, first.waiting) == (6, 6)
    waiting = sync_store.traces.get(trace.trace_id)
    assert waiting.run is None
    assert waiting.waiting_spans == 6
    assert _count(sync_store, Event, Event.trace_id == trace.trace_id) == 0
    second = sync_store.traces.record([root])
    assert (second.accepted, second.waiting) == (1, 0)
    got = shape(sync_store, trace.trace_id)
    assert got["waiting"] == 0
    assert got["tokens"] == trace.tokens


def test_a_span_arriving_after_its_run_ended_is_attached_and_counted(
    sync_store: SyncStore,
) -> None:
    trace = team()
    late = chat(trace.trace_id, (7, 3), 9, 9.5, parent=trace.spans[2])  # under the coder
    sync_store.traces.record(trace.in_end_order())
    sync_store.traces.record([late])
    got = shape(sync_store, trace.trace_id)
    assert got["status"] == RunStatus.COMPLETED.value
    assert got["tokens"] == (trace.tokens[0] + 7, trace.tokens[1] + 3)
    coder = next(row for row in got["agent_runs"] if row[0] == "coder")
    assert coder[3:5] == (257, 53)


def test_a_failed_root_fails_the_run_and_failed_spans_are_error_events(
    sync_store: SyncStore,
) -> None:
    trace = team()
    spans = list(trace.spans)
    spans[0] = failing(spans[0], "planner gave up")
    spans[2] = failing(spans[2], "coder crashed")
    sync_store.traces.record(spans)
    record = sync_store.traces.get(trace.trace_id)
    assert record.run is not None
    assert record.run.status is RunStatus.FAILED
    assert record.run.error_message == "planner gave up"
    coder = next(step for step in record.agent_runs if step.agent_name == "coder")
    assert coder.status is AgentRunStatus.FAILED
    assert coder.error_message == "coder crashed"
    errors = [e for e in record.events if e.event_type is EventType.ERROR]
    assert sorted(e.content or "" for e in errors) == ["coder crashed", "planner gave up"]
    assert all(e.data and e.data["exception_type"] == "RuntimeError" for e in errors)
    task = sync_store.tasks.get(record.run.task_id)
    assert task.failed_runs == 1


def test_runs_of_one_workflow_share_a_task_and_a_conversation_is_a_session(
    sync_store: SyncStore,
) -> None:
    first, second, other = team("conv-a"), team("conv-a"), team("conv-b")
    for trace in (first, second, other):
        sync_store.traces.record(trace.in_end_order())
    runs = [sync_store.traces.get(t.trace_id).run for t in (first, second, other)]
    assert all(run is not None for run in runs)
    assert len({run.task_id for run in runs if run}) == 1
    assert sorted(run.run_number for run in runs if run) == [1, 2, 3]
    task = sync_store.tasks.get(runs[0].task_id if runs[0] else None)  # type: ignore[arg-type]
    assert task.title == "planner"
    assert task.total_runs == 3
    [conversation] = sync_store.sessions.list(external_id="conv-a")
    assert conversation.run_count == 2
    assert (conversation.tokens_in, conversation.tokens_out) == (700, 140)
    assert {run.id for run in sync_store.sessions.runs(conversation.id)} == {
        run.id for run in runs[:2] if run
    }
    assert {s.external_id for s in sync_store.sessions.list()} >= {"conv-a", "conv-b"}
    assert sync_store.sessions.get(conversation.id).external_id == "conv-a"


def test_a_named_task_and_an_explicit_task_id(sync_store: SyncStore) -> None:
    named = team(title="Nightly triage")
    sync_store.traces.record(named.spans)
    run = sync_store.traces.get(named.trace_id).run
    assert run is not None
    assert sync_store.tasks.get(run.task_id).title == "Nightly triage"
    mine = sync_store.tasks.create(title="Mine")
    explicit = team()
    root = replace(
        explicit.spans[0],
        attributes={**explicit.spans[0].attributes, "flightlog.task_id": str(mine.id)},
    )
    sync_store.traces.record([root, *explicit.spans[1:]])
    run = sync_store.traces.get(explicit.trace_id).run
    assert run is not None
    assert run.task_id == mine.id


def test_another_tenants_task_is_refused_like_a_missing_one_and_leaves_nothing(
    sync_store: SyncStore,
) -> None:
    other = sync_store.customers.create(name="Other", email="other@otlp.test")
    their_task = _as(sync_store, other.id).tasks.create(title="Theirs")
    trace, kept = team(), team()
    root = replace(
        trace.spans[0],
        attributes={**trace.spans[0].attributes, "flightlog.task_id": str(their_task.id)},
    )
    result = sync_store.traces.record([root, *trace.spans[1:], *kept.spans])
    assert result.accepted == len(kept.spans)
    assert len(result.rejected) == len(trace.spans)
    assert all("not found" in r.reason.lower() for r in result.rejected)
    assert str(their_task.id) in result.rejected[0].reason
    with pytest.raises(NotFound):
        sync_store.traces.get(trace.trace_id)
    assert _count(sync_store, TaskRun, TaskRun.task_id == their_task.id) == 0
    assert sync_store.traces.get(kept.trace_id).run is not None


def test_another_customers_trace_is_not_found(sync_store: SyncStore) -> None:
    trace = team()
    sync_store.traces.record(trace.spans)
    other = sync_store.customers.create(name="Else", email="else@otlp.test")
    theirs = _as(sync_store, other.id)
    with pytest.raises(NotFound):
        theirs.traces.get(trace.trace_id)
    # The other customer sending the same ids records its own, separate run.
    assert theirs.traces.record(trace.spans).accepted == len(trace.spans)
    theirs_run = theirs.traces.get(trace.trace_id).run
    mine = sync_store.traces.get(trace.trace_id).run
    assert theirs_run is not None
    assert mine is not None
    assert theirs_run.id != mine.id


def test_one_span_of_a_trace_and_content_too_large_for_an_event(sync_store: SyncStore) -> None:
    trace = team()
    huge = "x" * 40_000
    spans = list(trace.spans)
    spans[1] = replace(spans[1], attributes={**spans[1].attributes, "gen_ai.output.messages": huge})
    sync_store.traces.record(spans)
    one = sync_store.traces.get(trace.trace_id, span_id=spans[1].span_id)
    assert [e.span_id for e in one.events] == [spans[1].span_id]
    assert one.agent_runs == []
    data = one.events[0].data
    assert data is not None
    pointer = data["messages"]
    assert pointer["bytes"] > 40_000
    assert _count(sync_store, Artifact, Artifact.id == uuid.UUID(pointer["artifact_id"])) == 1


def test_concurrent_senders_of_one_trace_record_it_once(
    fresh_url: DatabaseUrl, test_settings: Settings, tmp_path: Path
) -> None:
    settings = test_settings.model_copy(
        update={"database_url": fresh_url.url, "blob_dir": tmp_path / "blobs"}
    )
    Migrator(settings, fresh_url).upgrade("head")
    url = fresh_url.url.render_as_string(hide_password=False)
    traces = [team(f"conv-{n % 3}") for n in range(12)]
    with open_store_sync(url, settings=settings) as store:
        reference = team("conv-reference")
        store.traces.record(reference.in_end_order())
        expected = shape(store, reference.trace_id)
        parts: list[list[object]] = []
        for n, trace in enumerate(traces):
            parts.extend(_deliveries(trace, n))
        random.Random(7).shuffle(parts)
        errors: list[BaseException] = []

        def send(worker: int) -> None:
            try:
                for part in parts[worker::6]:
                    store.traces.record(part)  # type: ignore[arg-type]
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        for trace in traces:
            got = shape(store, trace.trace_id)
            assert {k: v for k, v in got.items() if k not in ("started_at", "completed_at")} == {
                k: v for k, v in expected.items() if k not in ("started_at", "completed_at")
            } | {"agent_runs": got["agent_runs"], "events": got["events"]}
            assert len(got["agent_runs"]) == 2
            assert len(got["events"]) == 5
        assert _count(store, TaskRun) == len(traces) + 1
        assert _count(store, Task) == 1
        assert _count(store, OtlpSpan) == 7 * (len(traces) + 1)
        assert len(store.sessions.list()) == 4
        assert {s.run_count for s in store.sessions.list(external_id="conv-0")} == {4}


def test_a_root_that_starts_in_the_future_is_rejected(sync_store: SyncStore) -> None:
    trace = team()
    future = agent(trace.trace_id, "planner", 3600 * 2, 3600 * 2 + 5)  # 1 h past now
    result = sync_store.traces.record([future])
    assert result.accepted == 0
    assert "started_at" in result.rejected[0].reason
    with pytest.raises(NotFound):
        sync_store.traces.get(trace.trace_id)


def test_a_total_the_database_cannot_hold_rejects_only_its_trace(sync_store: SyncStore) -> None:
    """2.7 billion tokens in one agent run: past its 32-bit column. Refused by name on
    both dialects (PostgreSQL used to word it as its overflow, SQLite to keep it whole)."""
    kept, heavy = team(), team()
    root = heavy.spans[0]
    calls = [chat(heavy.trace_id, (900_000_000, 1), 1 + n, 1.5 + n, parent=root) for n in range(3)]
    result = sync_store.traces.record([*kept.spans, root, *calls])
    assert sync_store.traces.get(kept.trace_id).run is not None
    assert result.accepted == len(kept.spans)
    assert len(result.rejected) == 4
    assert all(
        "cannot be recorded (total tokens_in would pass 2,147,483,647" in r.reason
        for r in result.rejected
    )
    with pytest.raises(NotFound):
        sync_store.traces.get(heavy.trace_id)


@pytest.mark.parametrize("what", ["tokens", "cost"])
def test_a_trace_refused_for_its_totals_leaves_no_task_behind(
    sync_store: SyncStore, what: str
) -> None:
    """A new task's title named only by a refused trace: nothing of it is kept, the task
    included (it used to stay, PENDING, with no run)."""
    title = f"refused for its {what}"
    heavy = team(title=title)
    root = heavy.spans[0]
    usage = (
        {"gen_ai.usage.input_tokens": 999_999_999} if what == "tokens" else {"llm.cost.total": 9e7}
    )
    calls = [
        chat(heavy.trace_id, (1, 1), 1 + n, 1.5 + n, parent=root, attributes=usage)
        for n in range(3)
    ]
    tasks, events = _count(sync_store, Task), _count(sync_store, Event)
    result = sync_store.traces.record([root, *calls])
    assert result.accepted == 0
    assert len(result.rejected) == 4
    assert all("would" in r.reason for r in result.rejected), result.rejected
    assert (_count(sync_store, Task), _count(sync_store, Event)) == (tasks, events)
    assert [t for t in sync_store.tasks.list(limit=500).items if t.title == title] == []


def test_long_conversation_ids_stay_apart_and_a_blank_one_names_no_session(
    sync_store: SyncStore,
) -> None:
    """Ids past the column's 255 characters were cut, so two conversations sharing their
    first 255 characters became one session; a blank id made a session named blank."""
    shared = "c" * 300
    alice, bob, blank = team(f"{shared}-alice"), team(f"{shared}-bob"), team("   ")
    result = sync_store.traces.record([*alice.spans, *bob.spans, *blank.spans])
    assert result.rejected == []
    found = {
        who: sync_store.sessions.list(external_id=f"{shared}-{who}") for who in ("alice", "bob")
    }
    assert [len(sessions) for sessions in found.values()] == [1, 1]
    assert found["alice"][0].id != found["bob"][0].id
    assert all(len(s[0].external_id) <= 255 for s in found.values())
    alice_run = sync_store.traces.get(alice.trace_id).run
    assert alice_run is not None
    assert alice_run.session_id == found["alice"][0].id
    blank_run = sync_store.traces.get(blank.trace_id).run
    assert blank_run is not None
    assert blank_run.session_id is None
    assert sync_store.sessions.list(external_id="   ") == []


def test_long_task_titles_that_share_a_beginning_make_two_tasks(sync_store: SyncStore) -> None:
    """Titles were cut to the column's 500 characters, so two workflows whose names share
    their first 500 characters recorded their runs into one task."""
    shared = "w" * 600
    first, second = team(title=f"{shared}-ingest"), team(title=f"{shared}-report")
    again = team(title=f"{shared}-ingest")
    result = sync_store.traces.record([*first.spans, *second.spans, *again.spans])
    assert result.rejected == []
    runs = [sync_store.traces.get(t.trace_id).run for t in (first, second, again)]
    tasks = [run.task_id for run in runs if run is not None]
    assert len(tasks) == 3
    assert tasks[0] != tasks[1]
    assert tasks[0] == tasks[2]  # the same whole name: the same task
    assert all(len(sync_store.tasks.get(task).title) <= 500 for task in tasks)


def test_a_child_span_that_starts_in_the_future_rejects_its_trace(sync_store: SyncStore) -> None:
    """As a future root does: a model call dated decades ahead was recorded (and made its
    month's partition on PostgreSQL) inside a run that ended now."""
    trace = team(title="child from the future")
    root = trace.spans[0]
    ahead = 3600 * 24 * 365 * 70  # seventy years past now
    late = chat(trace.trace_id, (5, 5), ahead, ahead + 1, parent=root)
    tasks = _count(sync_store, Task)
    result = sync_store.traces.record([*trace.spans, late])
    assert result.accepted == 0
    assert all("is in the future" in r.reason for r in result.rejected)
    assert f"span {late.span_id}" in result.rejected[0].reason
    assert _count(sync_store, Task) == tasks
    with pytest.raises(NotFound):
        sync_store.traces.get(trace.trace_id)


def test_content_is_stored_as_sent_and_an_event_over_the_payload_limit_rejects_its_trace(
    sync_store: SyncStore,
) -> None:
    """Inline content is spliced into the event's stored JSON as read ahead (not encoded
    again under the lock): it reads back as sent, non-ASCII included. An event over
    FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES gets the batch path's own refusal, for its trace only."""
    limit = 2048
    settings = sync_store.settings.model_copy(update={"max_event_payload_bytes": limit})
    store = SyncStore(
        sync_store.engine, settings, sync_store.customer_id, connection=sync_store.connection
    )
    fits, over = team(), team()
    sent = [{"role": "assistant", "parts": [{"type": "text", "content": "héllo ✓ " * 80}]}]
    large = [{"role": "assistant", "parts": [{"type": "text", "content": "x" * (limit + 100)}]}]
    spans = list(fits.spans)
    spans[1] = replace(
        spans[1], attributes={**spans[1].attributes, "gen_ai.output.messages": json.dumps(sent)}
    )
    too_big = list(over.spans)
    too_big[1] = replace(
        too_big[1],
        attributes={**too_big[1].attributes, "gen_ai.output.messages": json.dumps(large)},
    )
    recorded = store.traces.record([*spans, *too_big])
    assert {r.what for r in recorded.rejected} == {f"span {s.span_id}" for s in too_big}
    assert all("payload" in r.reason for r in recorded.rejected), recorded.rejected
    one = store.traces.get(fits.trace_id, span_id=spans[1].span_id)
    [event] = one.events
    assert event.data is not None
    assert event.data["messages"]["output"] == sent
    assert event.data["messages"]["input"] == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    assert event.data["model"] == "gpt-4o-mini"
    with pytest.raises(NotFound):
        store.traces.get(over.trace_id)


def test_a_cost_read_ahead_with_an_older_price_table_is_worked_out_again(
    sync_store: SyncStore,
) -> None:
    """The receivers read spans ahead, costs included, with the last price table built;
    if the operator's prices changed before the ingest's transaction, the cost recorded
    is the one the table in force gives."""
    trace = team()
    spans = trace.in_end_order()
    with sync_store.session() as db:
        before = load_price_table(db)
    read_ahead(spans, before)
    sync_store.model_prices.set(
        model="gpt-4o-mini", input_usd_per_mtok=1000, output_usd_per_mtok=1000
    )
    sync_store.traces.record(spans)
    record = sync_store.traces.get(trace.trace_id)
    costs = {
        e.data["cost_usd"]
        for e in record.events
        if e.event_type is EventType.MODEL_CALL and e.data is not None
    }
    chats = [s for s in trace.spans if s.name.startswith("chat")]
    expected = {
        str(
            (Decimal(s.attributes["gen_ai.usage.input_tokens"]) * 1000 / 1_000_000)  # type: ignore[arg-type]
            + (Decimal(s.attributes["gen_ai.usage.output_tokens"]) * 1000 / 1_000_000)  # type: ignore[arg-type]
        )
        for s in chats
    }
    assert {Decimal(c) for c in costs} == {Decimal(c) for c in expected}


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"trace_id": "Z" * 32}, "trace id"),
        ({"trace_id": "0" * 32}, "trace id"),
        ({"span_id": "ABCDEF0123456789"}, "span id"),
        ({"parent_span_id": "short"}, "parent span id"),
        ({"start_time_unix_nano": 5}, "between the years 2000 and 2100"),
    ],
)
def test_spans_a_caller_built_with_unusable_ids_or_times_are_rejected_and_leave_nothing(
    sync_store: SyncStore, change: dict[str, object], reason: str
) -> None:
    """``store.traces.record`` takes Span objects from Python callers too; their rows are
    written without a second validation, so what the OTLP decoder refuses is refused here."""
    trace = team()
    spans = list(trace.spans)
    bad = replace(spans[1], **change)  # type: ignore[arg-type]
    recorded = sync_store.traces.record([bad])
    assert recorded.accepted == 0
    [rejected] = recorded.rejected
    assert reason in rejected.reason
    assert _count(sync_store, OtlpSpan) == 0
    assert _count(sync_store, Event) == 0
    # The rest of the trace is recorded as usual.
    good = sync_store.traces.record(spans)
    assert good.accepted == len(spans)
    assert good.rejected == []


def test_texts_a_span_carries_into_a_run_are_bounded(sync_store: SyncStore) -> None:
    """A resource's service.name of a megabyte was stored whole in every run's input context,
    and a root's exception.type of 100,000 characters whole in the run's error details."""
    trace = team(title="bounded texts")
    root = failing(trace.spans[0], "boom")
    events = list(root.events)
    events[-1] = replace(
        events[-1], attributes={**events[-1].attributes, "exception.type": "E" * 100_000}
    )
    root = replace(root, events=tuple(events), resource={"service.name": "s" * 1_000_000})
    result = sync_store.traces.record([root, *trace.spans[1:]])
    assert result.rejected == []
    run = sync_store.traces.get(trace.trace_id).run
    assert run is not None
    assert run.error_details is not None
    assert len(run.error_details["exception_type"]) == 500
    assert len(run.input_context["service"]) == 500


def test_a_metric_resources_service_name_is_bounded_in_labels_and_task(
    sync_store: SyncStore,
) -> None:
    """It was copied whole into every point's labels and into the task it made."""
    point = MetricPoint(
        name="gen_ai.client.token.usage",
        unit="{token}",
        kind="histogram",
        time_unix_nano=team().spans[0].start_time_unix_nano,
        value=10.0,
        count=1,
        attributes={},
        resource={"service.name": "s" * 1_000_000},
        scope_name="tests",
        temporality="cumulative",
    )
    result = sync_store.traces.record_metrics([point])
    assert (result.accepted, result.rejected) == (1, [])
    [task] = [t for t in sync_store.tasks.list(limit=500).items if t.title.startswith("sss")]
    assert len(task.title) <= 500
    assert len(task.context["service.name"]) <= 500
    [summary] = sync_store.metrics.summarize(task_id=task.id).values()
    assert summary is not None
    assert sync_store.connection is not None  # the test's own transaction
    labels = sync_store.connection.execute(select(MetricPointRow.labels)).scalars().all()
    assert [len(found["service.name"]) for found in labels] == [500]
    # A cumulative point repeats what came before it: its labels say so.
    assert [found["aggregation_temporality"] for found in labels] == ["cumulative"]
