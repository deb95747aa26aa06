"""What a review of OTLP ingest found, held fixed (both dialects).

Odd span content never becomes a 500, a value the database refuses rejects only its
trace through the async Store too (asyncpg words refusals differently), a cancelled
task does not swallow its workflow's runs, a task's status follows its latest run
whatever order traces arrive in, spans attached to an earlier request's run keep
their agent and usage, thousands of traces fit in one request, and SQLite keeps
AUTOINCREMENT on events when migration 0006 is undone.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from flightlog import Store
from flightlog.db.engine import create_sync_engine
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import EventType, TaskStatus
from flightlog.migrations.runner import Migrator
from flightlog.otlp.spans import MetricPoint
from flightlog.settings import Settings
from flightlog.store.sync import SyncStore
from otlp_spans import agent, chat, failing, make_span, new_trace_id, team


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.operation.name": {"not": "a name"}},
        {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "²"},
        {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": "9" * 5000},
        {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": math.inf},
        {
            "gen_ai.operation.name": "chat",
            "llm.input_messages." + "1" * 5000 + ".message.role": "x",
        },
        {"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[" * 100_000},
        {"openinference.span.kind": "CHAIN", "metadata": "{" + '"a":{' * 50_000},
        {"gen_ai.operation.name": "chat", "llm.cost.total": "NaN"},
    ],
)
def test_odd_span_content_is_recorded_or_rejected_never_raised(
    sync_store: SyncStore, attributes: dict[str, object]
) -> None:
    trace = team()
    odd = make_span(trace.trace_id, "odd", attributes, 1, 2, parent=trace.root)  # type: ignore[arg-type]
    result = sync_store.traces.record([*trace.spans, odd])
    assert result.accepted + len(result.rejected) == len(trace.spans) + 1


async def test_the_async_store_rejects_only_the_trace_past_a_column(store: Store) -> None:
    kept, heavy = team(), team()
    calls = [
        chat(heavy.trace_id, (900_000_000, 1), 1 + n, 1.5 + n, parent=heavy.root) for n in range(3)
    ]
    result = await store.traces.record([*kept.spans, heavy.root, *calls])
    assert (await store.traces.get(kept.trace_id)).run is not None
    # Past the agent run's 32-bit token column: refused by name on both dialects
    # (tests/test_otlp_usage_totals.py), where PostgreSQL's overflow used to word it.
    assert result.accepted == len(kept.spans)
    assert {r.reason.split(":")[0] for r in result.rejected} == {f"trace {heavy.trace_id}"}
    assert all("total tokens_in would pass" in r.reason for r in result.rejected)


def test_a_cancelled_task_does_not_swallow_its_workflows_runs(sync_store: SyncStore) -> None:
    cancelled = sync_store.tasks.create(title="planner")
    sync_store.tasks.cancel(cancelled.id)
    trace = team()
    result = sync_store.traces.record(trace.spans)
    assert result.rejected == []
    run = sync_store.traces.get(trace.trace_id).run
    assert run is not None
    assert run.task_id != cancelled.id
    assert sync_store.tasks.get(run.task_id).title == "planner"


def test_a_tasks_status_follows_its_latest_run_whatever_arrives_last(
    sync_store: SyncStore,
) -> None:
    early, late = team(), team()
    # The later-starting run succeeded; the earlier one failed but is sent last.
    late_spans = [
        replace(
            s,
            start_time_unix_nano=s.start_time_unix_nano + 60_000_000_000,
            end_time_unix_nano=s.end_time_unix_nano + 60_000_000_000,
        )
        for s in late.spans
    ]
    sync_store.traces.record(late_spans)
    sync_store.traces.record([failing(early.root, "gave up"), *early.spans[1:]])
    run = sync_store.traces.get(early.trace_id).run
    assert run is not None
    assert sync_store.tasks.get(run.task_id).status is TaskStatus.COMPLETED


def test_spans_attached_to_an_earlier_run_keep_their_agent_and_usage(
    sync_store: SyncStore,
) -> None:
    trace = team()
    sync_store.traces.record(trace.spans)
    late_call = chat(trace.trace_id, (5, 5), 9, 9.5, parent=trace.spans[2])
    second_root = agent(trace.trace_id, "auditor", 11, 12)
    late_root_call = chat(trace.trace_id, (7, 1), 11.2, 11.5, parent=second_root)
    sync_store.traces.record([late_call, second_root, late_root_call])
    record = sync_store.traces.get(trace.trace_id)
    assert record.run is not None
    assert (record.run.tokens_in, record.run.tokens_out) == (350 + 5 + 7, 70 + 5 + 1)
    by_span = {e.span_id: e for e in record.events if e.event_type is EventType.MODEL_CALL}
    assert by_span[late_call.span_id].agent_role == "coder"
    assert by_span[late_root_call.span_id].agent_role == "auditor"
    auditor = next(s for s in record.agent_runs if s.agent_name == "auditor")
    assert auditor.parent_id is not None  # under the run's top step


def test_thousands_of_traces_in_one_request(sync_store: SyncStore) -> None:
    roots = [agent(new_trace_id(), "tiny", 0, 1) for _ in range(2_500)]
    result = sync_store.traces.record(roots)
    assert (result.accepted, result.rejected) == (2_500, [])
    again = sync_store.traces.record(roots)
    assert (again.accepted, again.duplicates) == (0, 2_500)


def test_a_metric_label_json_cannot_hold_does_not_lose_the_request(
    sync_store: SyncStore,
) -> None:
    point = MetricPoint(
        name="gen_ai.client.operation.duration",
        unit="s",
        kind="histogram",
        time_unix_nano=team().root.start_time_unix_nano,
        value=1.5,
        count=3,
        attributes={"weird": math.nan, "fine": "x"},
        resource={"service.name": "labels"},
        scope_name="tests",
    )
    result = sync_store.traces.record_metrics([point])
    assert (result.accepted, result.rejected) == (1, [])


def test_undoing_0006_keeps_autoincrement_on_sqlite_events(
    tmp_path: Path, test_settings: Settings
) -> None:
    """SQLite only: PostgreSQL's identity columns are not rebuilt by a migration."""
    url = DatabaseUrl.parse(f"sqlite:///{tmp_path / 'undo.db'}")
    migrator = Migrator(test_settings.model_copy(update={"database_url": url.url}), url)
    migrator.upgrade("head")
    migrator.downgrade("0005")
    engine = create_sync_engine(test_settings, url=url)
    with engine.connect() as connection:
        sql = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE name = 'events'")
        ).scalar_one()
    engine.dispose()
    assert "AUTOINCREMENT" in sql


def test_sessions_list_newest_first_and_page_by_cursor(sync_store: SyncStore) -> None:
    names = [f"conv-order-{n}" for n in range(5)]
    for name in names:  # one request each: each session is newer than the one before
        sync_store.traces.record(team(name).spans)
    listed = [s.external_id for s in sync_store.sessions.list(limit=3)]
    assert listed == names[::-1][:3]
    last = sync_store.sessions.list(limit=3)[-1].id
    rest = [s.external_id for s in sync_store.sessions.list(limit=3, before_id=last)]
    assert rest == names[::-1][3:]
