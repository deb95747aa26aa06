"""Usage totals that would pass their columns reject the trace that holds them, on both dialects.

An agent run's and a run's token totals are INTEGER and their costs NUMERIC(14, 6).
One model call may claim up to a billion tokens (``MAX_TOKENS_PER_CALL``), so a few
calls of one agent run can sum past 2,147,483,647. PostgreSQL refused that sum with
its own overflow error, SQLite (whose integers are wider) stored it. Now span
ingest refuses it by name, as ``agent_runs.usage`` does, before anything is written:
only the trace that holds it is rejected, the rest of the request is recorded.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from flightlog.models import AgentRun, Event, OtlpSpan, TaskRun
from flightlog.otlp.spans import Span
from flightlog.services.agent_runs import MAX_TOKEN_TOTAL
from flightlog.store.sync import SyncStore
from otlp_spans import agent, chat, new_trace_id, team

BILLION = 1_000_000_000


def _rows(store: SyncStore, trace_id: str) -> dict[str, int]:
    """How many rows of each kind a trace left behind."""
    with store.session() as session:
        return {
            model.__name__: int(
                session.scalar(
                    select(func.count()).select_from(model).where(model.trace_id == trace_id)
                )
                or 0
            )
            for model in (TaskRun, AgentRun, Event, OtlpSpan)
        }


def _usage(store: SyncStore, trace_id: str) -> tuple[Any, ...]:
    """(agent run tokens in, run tokens in, agent run cost) of a one-agent trace."""
    with store.session() as session:
        agent_run = session.scalars(select(AgentRun).where(AgentRun.trace_id == trace_id)).one()
        run = session.scalars(select(TaskRun).where(TaskRun.trace_id == trace_id)).one()
        return agent_run.tokens_in, run.tokens_in, Decimal(agent_run.cost_usd)


def _planner_calling(calls: int, tokens_in: int, **more: Any) -> tuple[str, Span, list[Span]]:
    """A new trace: a planner agent span and ``calls`` model calls under it, one a second."""
    trace_id = new_trace_id()
    root = agent(trace_id, "planner", 0, 10)
    made = [chat(trace_id, (tokens_in, 5), 1 + i, 2 + i, parent=root, **more) for i in range(calls)]
    return trace_id, root, made


def test_calls_summing_past_the_token_column_reject_only_their_trace(
    sync_store: SyncStore,
) -> None:
    big, root, calls = _planner_calling(3, BILLION)
    fine = team()

    recorded = sync_store.traces.record([*calls, root, *fine.in_end_order()])

    assert recorded.accepted == 7  # the other trace, whole
    assert {r.what for r in recorded.rejected} == {f"span {s.span_id}" for s in [*calls, root]}
    reasons = {r.reason for r in recorded.rejected}
    assert len(reasons) == 1
    reason = reasons.pop()
    assert reason.startswith(f"trace {big}: cannot be recorded (total tokens_in would pass ")
    assert f"{MAX_TOKEN_TOTAL:,}" in reason
    assert "3000000000" in reason
    assert _rows(sync_store, big) == {"TaskRun": 0, "AgentRun": 0, "Event": 0, "OtlpSpan": 0}
    assert _rows(sync_store, fine.trace_id)["TaskRun"] == 1


def test_a_late_call_past_the_column_is_rejected_and_the_totals_stay(
    sync_store: SyncStore,
) -> None:
    trace_id, root, first = _planner_calling(2, BILLION)
    assert sync_store.traces.record([*first, root]).rejected == []
    assert _usage(sync_store, trace_id)[:2] == (2 * BILLION, 2 * BILLION)

    # A late call that still fits is added to the agent run and its run.
    fits = chat(trace_id, (100_000_000, 5), 3, 4, parent=root)
    assert sync_store.traces.record([fits]).accepted == 1
    assert _usage(sync_store, trace_id)[:2] == (2_100_000_000, 2_100_000_000)

    # One more would pass 2,147,483,647: refused, and nothing it carried is kept.
    past = chat(trace_id, (100_000_000, 5), 5, 6, parent=root)
    recorded = sync_store.traces.record([past])
    assert recorded.accepted == 0
    [rejection] = recorded.rejected
    assert rejection.what == f"span {past.span_id}"
    assert "total tokens_in would pass" in rejection.reason
    assert "has 2100000000, adding 100000000" in rejection.reason
    assert _usage(sync_store, trace_id)[:2] == (2_100_000_000, 2_100_000_000)
    assert _rows(sync_store, trace_id)["OtlpSpan"] == 4


def test_stated_costs_summing_past_the_cost_column_reject_the_trace(
    sync_store: SyncStore,
) -> None:
    trace_id = new_trace_id()
    root = agent(trace_id, "planner", 0, 10)
    dear = {"llm.cost.total": 60_000_000.0}  # each under the per-call bound of 10**8
    calls = [chat(trace_id, (10, 5), 1 + i, 2 + i, parent=root, attributes=dear) for i in range(2)]

    recorded = sync_store.traces.record([*calls, root])

    assert recorded.accepted == 0
    assert len(recorded.rejected) == 3
    assert all(
        "total cost_usd would reach 100,000,000 USD or more" in r.reason for r in recorded.rejected
    )
    assert _rows(sync_store, trace_id) == {"TaskRun": 0, "AgentRun": 0, "Event": 0, "OtlpSpan": 0}
