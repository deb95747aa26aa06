"""Recommendations, approvals and optimizations (seed 002), on both dialects.

Every legal path is walked through the facades; every action from every
reachable status is tried, and a refused one must raise and write nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from concurrency import run_in_threads
from flightlog import InvalidTransition, NotFound, ValidationError
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import (
    AgentType,
    ApprovalStatus,
    EventType,
    OptimizationStatus,
    Priority,
    RecommendationStatus,
)
from flightlog.errors import Conflict
from flightlog.models import (
    Agent,
    Approval,
    Event,
    Optimization,
    Project,
    Recommendation,
)
from flightlog.services.optimizations import OPTIMIZATION_LIFECYCLE, RECOMMENDATION_FOLLOWS
from flightlog.services.recommendations import APPROVAL_LIFECYCLE, RECOMMENDATION_LIFECYCLE
from flightlog.settings import Settings
from flightlog.store import Store, open_store
from flightlog.store.review_facades import Optimizations, Recommendations

R = RecommendationStatus
O = OptimizationStatus  # noqa: E741


@pytest.fixture
def recs(store: Store) -> Recommendations:
    return Recommendations(store)


@pytest.fixture
def opts(store: Store) -> Optimizations:
    return Optimizations(store)


async def _new(recs: Recommendations, **kw: Any) -> Recommendation:
    fields: dict[str, Any] = {
        "recommendation_type": "spot_instances",
        "title": "Move batch jobs to spot instances",
        "confidence_score": 0.85,
        **kw,
    }
    return await recs.create(**fields)


async def _agent(store: Store, name: str = "cost-agent") -> Agent:
    async with store.transaction() as s:
        agent = Agent(customer_id=store.customer_id, name=name, agent_type=AgentType.COST)
        s.add(agent)
    return agent


async def _snapshot(store: Store) -> tuple[Any, ...]:
    """Everything these services write for the Store's customer, to compare before/after."""
    async with store.reader() as s:
        rec_rows = (
            await s.execute(
                select(
                    Recommendation.id,
                    Recommendation.status,
                    Recommendation.confidence_score,
                    Recommendation.estimated_savings,
                ).order_by(Recommendation.id)
            )
        ).all()
        approvals = (
            await s.execute(
                select(
                    Approval.id,
                    Approval.status,
                    Approval.decided_by,
                    Approval.decided_at,
                    Approval.comment,
                ).order_by(Approval.id)
            )
        ).all()
        optimizations = (
            await s.execute(
                select(
                    Optimization.id,
                    Optimization.status,
                    Optimization.progress,
                    Optimization.started_at,
                    Optimization.completed_at,
                    Optimization.rolled_back_at,
                    Optimization.rollback_reason,
                    Optimization.error_message,
                    Optimization.actual_savings,
                ).order_by(Optimization.id)
            )
        ).all()
        event_count = await s.scalar(select(func.count(Event.id)))
    return (tuple(rec_rows), tuple(approvals), tuple(optimizations), event_count)


async def _audit(store: Store, entity_id: uuid.UUID) -> list[Event]:
    async with store.reader() as s:
        stmt = select(Event).where(Event.entity_id == str(entity_id)).order_by(Event.id)
        return list((await s.scalars(stmt)).all())


async def _refused(
    store: Store, call: Callable[[], Awaitable[Any]], error: type[Exception]
) -> pytest.ExceptionInfo[Exception]:
    before = await _snapshot(store)
    with pytest.raises(error) as info:
        await call()
    assert await _snapshot(store) == before
    return info


def test_seed_002_lifecycle_tables_are_exactly_the_documented_ones() -> None:
    assert dict(RECOMMENDATION_LIFECYCLE.transitions) == {
        R.PENDING: {R.APPROVED, R.REJECTED},
        R.APPROVED: {R.EXECUTING},
        R.EXECUTING: {R.COMPLETED, R.FAILED},
        R.COMPLETED: {R.ROLLED_BACK},
        R.REJECTED: set(),
        R.FAILED: set(),
        R.ROLLED_BACK: set(),
    }
    assert dict(OPTIMIZATION_LIFECYCLE.transitions) == {
        O.QUEUED: {O.EXECUTING, O.FAILED},
        O.EXECUTING: {O.COMPLETED, O.FAILED},
        O.COMPLETED: {O.ROLLED_BACK},
        O.FAILED: set(),
        O.ROLLED_BACK: set(),
    }
    assert dict(APPROVAL_LIFECYCLE.transitions) == {
        ApprovalStatus.PENDING: {ApprovalStatus.APPROVED, ApprovalStatus.REJECTED},
        ApprovalStatus.APPROVED: set(),
        ApprovalStatus.REJECTED: set(),
    }


async def test_seed_002_create_is_pending_with_a_pending_approval(
    store: Store, recs: Recommendations
) -> None:
    agent = await _agent(store)
    async with store.transaction() as s:
        project = Project(customer_id=store.customer_id, name="infra")
        s.add(project)
    rec = await _new(
        recs,
        agent_id=agent.id,
        project_id=project.id,
        description="Save on nightly batch",
        priority="high",
        estimated_savings=Decimal("1250.50"),
        data={"instances": ["i-1", "i-2"]},
        actor="cost-agent",
    )
    loaded = await recs.get(rec.id)
    assert loaded.status is R.PENDING
    assert loaded.priority is Priority.HIGH
    assert loaded.confidence_score == pytest.approx(0.85)
    assert loaded.estimated_savings == Decimal("1250.50")
    assert loaded.data == {"instances": ["i-1", "i-2"]}
    assert (loaded.agent_id, loaded.project_id) == (agent.id, project.id)
    [approval] = await recs.approvals(rec.id)
    assert approval.status is ApprovalStatus.PENDING
    assert approval.decided_by is None
    assert approval.customer_id == store.customer_id
    [created] = await _audit(store, rec.id)
    assert created.event_type is EventType.STATUS_CHANGE
    assert (created.entity_type, created.actor, created.customer_id) == (
        "Recommendation",
        "cost-agent",
        store.customer_id,
    )
    assert (created.data or {})["to"] == "PENDING"
    [asked] = await _audit(store, approval.id)
    assert asked.entity_type == "Approval"


@pytest.mark.parametrize(
    "score", [-0.01, 1.01, 2, float("nan"), float("inf"), "0.5", True, None, [0.5]]
)
async def test_seed_002_confidence_score_must_be_between_0_and_1(
    store: Store, recs: Recommendations, score: Any
) -> None:
    info = await _refused(store, lambda: _new(recs, confidence_score=score), ValidationError)
    assert "confidence_score" in str(info.value)


async def test_seed_002_confidence_score_bounds_are_inclusive(recs: Recommendations) -> None:
    low = await _new(recs, confidence_score=0)
    high = await _new(recs, confidence_score=Decimal(1))
    assert (
        (await recs.get(low.id)).confidence_score,
        (await recs.get(high.id)).confidence_score,
    ) == (
        0.0,
        1.0,
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("estimated_savings", -1),
        ("estimated_savings", "12.345"),
        ("estimated_savings", "lots"),
        ("estimated_savings", Decimal("NaN")),
        ("estimated_savings", Decimal("1e15")),
        ("priority", "urgent"),
        ("title", "   "),
        ("title", "x" * 501),
        ("recommendation_type", ""),
        ("data", ["not", "an", "object"]),
    ],
)
async def test_bad_recommendation_fields_are_refused(
    store: Store, recs: Recommendations, field: str, value: Any
) -> None:
    info = await _refused(store, lambda: _new(recs, **{field: value}), ValidationError)
    assert field in str(info.value)


async def test_savings_are_exact_decimals(recs: Recommendations) -> None:
    rec = await _new(recs, estimated_savings=0.1)
    other = await _new(recs, estimated_savings="19.90")
    assert (await recs.get(rec.id)).estimated_savings == Decimal("0.10")
    assert (await recs.get(other.id)).estimated_savings == Decimal("19.90")


async def test_approve_records_who_when_and_why(store: Store, recs: Recommendations) -> None:
    rec = await _new(recs)
    decided = await recs.approve(rec.id, decided_by="alice", comment="worth it")
    assert decided.status is ApprovalStatus.APPROVED
    assert (decided.decided_by, decided.comment) == ("alice", "worth it")
    assert decided.decided_at is not None
    assert (await recs.get(rec.id)).status is R.APPROVED
    [_, approved] = await _audit(store, rec.id)
    assert (approved.actor, (approved.data or {})["comment"]) == ("alice", "worth it")
    assert ((approved.data or {})["from"], (approved.data or {})["to"]) == ("PENDING", "APPROVED")
    approval_events = await _audit(store, decided.id)
    assert [(e.data or {})["to"] for e in approval_events] == ["PENDING", "APPROVED"]
    assert approval_events[-1].actor == "alice"


async def test_reject_is_final_and_a_second_decision_is_refused(
    store: Store, recs: Recommendations, opts: Optimizations
) -> None:
    rec = await _new(recs)
    rejected = await recs.reject(rec.id, decided_by="bob", comment="too risky")
    assert rejected.status is ApprovalStatus.REJECTED
    assert (await recs.get(rec.id)).status is R.REJECTED
    info = await _refused(
        store, lambda: recs.approve(rec.id, decided_by="carol"), InvalidTransition
    )
    assert "REJECTED" in str(info.value)
    await _refused(store, lambda: recs.reject(rec.id, decided_by="carol"), InvalidTransition)
    await _refused(store, lambda: opts.start(rec.id), InvalidTransition)
    [approval] = await recs.approvals(rec.id)
    assert (approval.decided_by, approval.comment) == ("bob", "too risky")


@pytest.mark.parametrize("who", ["", "   ", None])
async def test_a_decision_must_name_who_decided(
    store: Store, recs: Recommendations, who: Any
) -> None:
    rec = await _new(recs)
    await _refused(store, lambda: recs.approve(rec.id, decided_by=who), ValidationError)
    await _refused(store, lambda: recs.reject(rec.id, decided_by=who), ValidationError)


async def test_seed_002_approval_comes_before_optimization(
    store: Store, recs: Recommendations, opts: Optimizations
) -> None:
    rec = await _new(recs)
    info = await _refused(store, lambda: opts.start(rec.id), InvalidTransition)
    assert "PENDING" in str(info.value)
    assert "EXECUTING" in str(info.value)
    assert await opts.list(recommendation_id=rec.id) == []
    await recs.approve(rec.id, decided_by="alice")
    optimization = await opts.start(rec.id)
    assert optimization.status is O.QUEUED
    assert (await recs.get(rec.id)).status is R.EXECUTING
    await _refused(store, lambda: opts.start(rec.id), InvalidTransition)
    assert len(await opts.list(recommendation_id=rec.id)) == 1


async def test_seed_002_full_path_to_completion_and_rollback(
    store: Store, recs: Recommendations, opts: Optimizations
) -> None:
    agent = await _agent(store, "executor")
    rec = await _new(recs, estimated_savings=100)
    await recs.approve(rec.id, decided_by="alice")
    optimization = await opts.start(rec.id, agent_id=agent.id, actor="orchestrator")
    assert (optimization.progress, optimization.agent_id) == (0, agent.id)
    begun = await opts.begin(optimization.id, actor="executor")
    assert begun.status is O.EXECUTING
    assert begun.started_at is not None
    for value in (10, 50, 50, 90):
        assert (await opts.report_progress(optimization.id, value)).progress == value
    done = await opts.complete(
        optimization.id, result={"terminated": 3}, actual_savings="87.25", actor="executor"
    )
    assert (done.status, done.progress, done.result) == (O.COMPLETED, 100, {"terminated": 3})
    assert done.actual_savings == Decimal("87.25")
    assert done.completed_at is not None
    assert (await recs.get(rec.id)).status is R.COMPLETED
    rolled = await opts.rollback(optimization.id, reason="latency regressed", actor="alice")
    assert rolled.status is O.ROLLED_BACK
    assert rolled.rollback_reason == "latency regressed"
    assert rolled.rolled_back_at is not None
    assert (await recs.get(rec.id)).status is R.ROLLED_BACK
    assert (await opts.get(optimization.id)).status is O.ROLLED_BACK

    trail = await _audit(store, optimization.id)
    changes = [
        ((e.data or {})["from"], (e.data or {})["to"]) for e in trail if e.data and "to" in e.data
    ]
    assert changes == [
        (None, "QUEUED"),
        ("QUEUED", "EXECUTING"),
        ("EXECUTING", "COMPLETED"),
        ("COMPLETED", "ROLLED_BACK"),
    ]
    assert [(e.data or {})["progress"] for e in trail if e.event_type is EventType.AUDIT] == [
        10,
        50,
        50,
        90,
    ]
    assert trail[-1].actor == "alice"
    assert (trail[-1].data or {})["reason"] == "latency regressed"
    rec_trail = [(e.data or {})["to"] for e in await _audit(store, rec.id)]
    assert rec_trail == ["PENDING", "APPROVED", "EXECUTING", "COMPLETED", "ROLLED_BACK"]


@pytest.mark.parametrize("value", [-1, 101, 5.5, True, "50", None])
async def test_seed_002_progress_is_a_whole_percentage(
    store: Store, recs: Recommendations, opts: Optimizations, value: Any
) -> None:
    rec = await _new(recs)
    await recs.approve(rec.id, decided_by="alice")
    optimization = await opts.start(rec.id)
    await opts.begin(optimization.id)
    info = await _refused(
        store, lambda: opts.report_progress(optimization.id, value), ValidationError
    )
    assert "progress" in str(info.value)


async def test_seed_002_progress_never_goes_backwards(
    store: Store, recs: Recommendations, opts: Optimizations
) -> None:
    rec = await _new(recs)
    await recs.approve(rec.id, decided_by="alice")
    optimization = await opts.start(rec.id)
    info = await _refused(store, lambda: opts.report_progress(optimization.id, 5), Conflict)
    assert "QUEUED" in str(info.value)
    await opts.begin(optimization.id)
    await opts.report_progress(optimization.id, 60)
    info = await _refused(store, lambda: opts.report_progress(optimization.id, 59), ValidationError)
    assert "backwards" in str(info.value)
    assert (await opts.get(optimization.id)).progress == 60
    await opts.complete(optimization.id)
    await _refused(store, lambda: opts.report_progress(optimization.id, 100), Conflict)


@pytest.mark.parametrize("begun", [False, True])
async def test_failure_fails_the_recommendation_too(
    store: Store, recs: Recommendations, opts: Optimizations, begun: bool
) -> None:
    rec = await _new(recs)
    await recs.approve(rec.id, decided_by="alice")
    optimization = await opts.start(rec.id)
    if begun:
        await opts.begin(optimization.id)
    for message in ("", "  "):
        await _refused(
            store, lambda m=message: opts.fail(optimization.id, error_message=m), ValidationError
        )
    failed = await opts.fail(optimization.id, error_message="quota exceeded", actor="executor")
    assert (failed.status, failed.error_message) == (O.FAILED, "quota exceeded")
    assert failed.completed_at is not None
    assert (await recs.get(rec.id)).status is R.FAILED
    [*_, last] = await _audit(store, rec.id)
    assert (last.data or {})["error_message"] == "quota exceeded"
    await _refused(store, lambda: opts.rollback(optimization.id, reason="x"), InvalidTransition)


async def test_seed_002_rollback_needs_a_reason_and_a_completed_optimization(
    store: Store, recs: Recommendations, opts: Optimizations
) -> None:
    rec = await _new(recs)
    await recs.approve(rec.id, decided_by="alice")
    optimization = await opts.start(rec.id)
    await opts.begin(optimization.id)
    await _refused(store, lambda: opts.rollback(optimization.id, reason="no"), InvalidTransition)
    await opts.complete(optimization.id, actual_savings=0)
    await _refused(store, lambda: opts.rollback(optimization.id, reason=" "), ValidationError)
    await opts.rollback(optimization.id, reason="undo")
    await _refused(store, lambda: opts.rollback(optimization.id, reason="again"), InvalidTransition)


async def test_complete_validates_result_and_savings(
    store: Store, recs: Recommendations, opts: Optimizations
) -> None:
    rec = await _new(recs)
    await recs.approve(rec.id, decided_by="alice")
    optimization = await opts.start(rec.id)
    await opts.begin(optimization.id)
    await _refused(
        store, lambda: opts.complete(optimization.id, actual_savings=-5), ValidationError
    )
    await _refused(store, lambda: opts.complete(optimization.id, result=[1]), ValidationError)
    assert (await opts.get(optimization.id)).status is O.EXECUTING


# --- every action from every reachable state -------------------------------------------

#: How to reach each state from a fresh PENDING recommendation.
PATHS: dict[str, list[str]] = {
    "PENDING": [],
    "APPROVED": ["approve"],
    "REJECTED": ["reject"],
    "QUEUED": ["approve", "start"],
    "EXECUTING": ["approve", "start", "begin"],
    "COMPLETED": ["approve", "start", "begin", "complete"],
    "FAILED_WHILE_QUEUED": ["approve", "start", "fail"],
    "FAILED_WHILE_EXECUTING": ["approve", "start", "begin", "fail"],
    "ROLLED_BACK": ["approve", "start", "begin", "complete", "rollback"],
}
ACTIONS = ["approve", "reject", "start", "begin", "complete", "fail", "rollback"]
OPTIMIZATION_TARGETS = {
    "begin": O.EXECUTING,
    "complete": O.COMPLETED,
    "fail": O.FAILED,
    "rollback": O.ROLLED_BACK,
}
RECOMMENDATION_TARGETS = {"approve": R.APPROVED, "reject": R.REJECTED, "start": R.EXECUTING}


def _expected(
    rec: RecommendationStatus, opt: OptimizationStatus | None, action: str
) -> tuple[RecommendationStatus, OptimizationStatus | None] | None:
    """The state the tables say ``action`` leads to, or None when it must be refused."""
    if action in RECOMMENDATION_TARGETS:
        target = RECOMMENDATION_TARGETS[action]
        if not RECOMMENDATION_LIFECYCLE.allowed(rec, target):
            return None
        return target, O.QUEUED if action == "start" else opt
    assert opt is not None
    goal = OPTIMIZATION_TARGETS[action]
    if not OPTIMIZATION_LIFECYCLE.allowed(opt, goal):
        return None
    follows = RECOMMENDATION_FOLLOWS.get(goal)
    if follows is not None and not RECOMMENDATION_LIFECYCLE.allowed(rec, follows):
        return None
    return follows or rec, goal


class Driver:
    """Applies named actions to one recommendation and its optimization."""

    def __init__(self, recs: Recommendations, opts: Optimizations, rec_id: uuid.UUID) -> None:
        self.recs, self.opts, self.rec_id = recs, opts, rec_id
        self.optimization_id: uuid.UUID | None = None

    async def apply(self, action: str) -> None:
        if action == "approve":
            await self.recs.approve(self.rec_id, decided_by="alice", comment="ok")
        elif action == "reject":
            await self.recs.reject(self.rec_id, decided_by="bob", comment="no")
        elif action == "start":
            self.optimization_id = (await self.opts.start(self.rec_id)).id
        else:
            assert self.optimization_id is not None
            oid = self.optimization_id
            if action == "begin":
                await self.opts.begin(oid)
            elif action == "complete":
                await self.opts.complete(oid, result={"ok": True}, actual_savings=1)
            elif action == "fail":
                await self.opts.fail(oid, error_message="boom")
            else:
                await self.opts.rollback(oid, reason="undo")

    async def state(self) -> tuple[RecommendationStatus, OptimizationStatus | None]:
        rec = await self.recs.get(self.rec_id)
        if self.optimization_id is None:
            return rec.status, None
        return rec.status, (await self.opts.get(self.optimization_id)).status


@pytest.mark.parametrize("state", list(PATHS))
async def test_every_action_from_every_state_follows_the_tables(
    store: Store, recs: Recommendations, opts: Optimizations, state: str
) -> None:
    for action in ACTIONS:
        driver = Driver(recs, opts, (await _new(recs)).id)
        for step in PATHS[state]:
            await driver.apply(step)
        current = await driver.state()
        if current[1] is None and action in OPTIMIZATION_TARGETS:
            continue  # nothing to act on yet: there is no optimization
        expected = _expected(*current, action)
        if expected is None:
            info = await _refused(store, lambda d=driver, a=action: d.apply(a), InvalidTransition)
            assert isinstance(info.value, InvalidTransition)
            assert await driver.state() == current
        else:
            before = (await _snapshot(store))[3]
            await driver.apply(action)
            assert await driver.state() == expected, (state, action)
            assert (await _snapshot(store))[3] > before


# --- lists, legacy rows, isolation -------------------------------------------------------


async def test_lists_filter_by_status_and_priority_most_urgent_first(
    recs: Recommendations,
) -> None:
    low = await _new(recs, title="low", priority=Priority.LOW)
    critical = await _new(recs, title="critical", priority="CRITICAL")
    medium = await _new(recs, title="medium")
    high = await _new(recs, title="high", priority=Priority.HIGH)
    await recs.approve(high.id, decided_by="alice")
    await recs.reject(low.id, decided_by="alice")
    listed = [r.title for r in await recs.list()]
    assert listed == ["critical", "high", "medium", "low"]
    assert [r.id for r in await recs.list(status="pending")] == [critical.id, medium.id]
    assert [r.id for r in await recs.list(priority=["HIGH", "LOW"])] == [high.id, low.id]
    assert [r.id for r in await recs.list(status=R.APPROVED, priority=Priority.HIGH)] == [high.id]
    with pytest.raises(ValidationError):
        await recs.list(status="sideways")
    queue = await recs.pending_approvals()
    assert [a.recommendation_id for a in queue] == [critical.id, medium.id]
    assert [a.recommendation.title for a in queue] == ["critical", "medium"]


async def test_a_recommendation_loaded_without_an_approval_can_still_be_decided(
    store: Store, recs: Recommendations
) -> None:
    """Seed 002's seed data inserts bare recommendation rows."""
    async with store.transaction() as s:
        bare = Recommendation(
            customer_id=store.customer_id,
            recommendation_type="rightsizing",
            title="bare",
            confidence_score=0.5,
        )
        s.add(bare)
    assert await recs.approvals(bare.id) == []
    approval = await recs.approve(bare.id, decided_by="alice")
    assert approval.status is ApprovalStatus.APPROVED
    assert [a.id for a in await recs.approvals(bare.id)] == [approval.id]


async def test_agents_and_projects_must_be_the_customers_own(
    store: Store, other: Store, recs: Recommendations, opts: Optimizations
) -> None:
    theirs = await _agent(other, "their-agent")
    async with other.transaction() as s:
        their_project = Project(customer_id=other.customer_id, name="theirs")
        s.add(their_project)
    await _refused(store, lambda: _new(recs, agent_id=theirs.id), NotFound)
    await _refused(store, lambda: _new(recs, project_id=their_project.id), NotFound)
    rec = await _new(recs)
    await recs.approve(rec.id, decided_by="alice")
    await _refused(store, lambda: opts.start(rec.id, agent_id=theirs.id), NotFound)


async def test_another_customers_recommendations_are_invisible(
    store: Store, other: Store, recs: Recommendations, opts: Optimizations
) -> None:
    their_recs, their_opts = Recommendations(other), Optimizations(other)
    pending = await _new(their_recs, title="theirs pending")
    running = await _new(their_recs, title="theirs running")
    await their_recs.approve(running.id, decided_by="them")
    their_optimization = await their_opts.start(running.id)
    await their_opts.begin(their_optimization.id)
    mine = await _new(recs, title="mine")

    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: recs.get(pending.id),
        lambda: recs.approvals(pending.id),
        lambda: recs.approve(pending.id, decided_by="intruder"),
        lambda: recs.reject(pending.id, decided_by="intruder"),
        lambda: opts.start(running.id),
        lambda: opts.get(their_optimization.id),
        lambda: opts.begin(their_optimization.id),
        lambda: opts.report_progress(their_optimization.id, 50),
        lambda: opts.complete(their_optimization.id),
        lambda: opts.fail(their_optimization.id, error_message="x"),
        lambda: opts.rollback(their_optimization.id, reason="x"),
    ]
    for call in calls:
        await _refused(other, call, NotFound)
    assert [r.id for r in await recs.list()] == [mine.id]
    assert [a.recommendation_id for a in await recs.pending_approvals()] == [mine.id]
    assert await opts.list() == []
    assert (await their_recs.get(pending.id)).status is R.PENDING
    assert (await their_opts.get(their_optimization.id)).progress == 0
    assert [o.id for o in await their_opts.list(status="executing")] == [their_optimization.id]


# --- concurrency -------------------------------------------------------------------------


@pytest.fixture
async def committed_recommendation(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> tuple[DatabaseUrl, uuid.UUID, uuid.UUID]:
    """A fresh database at head with one PENDING recommendation, committed."""
    url = fresh_head_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=test_settings, upgrade=False) as store:
        rec = await _new(Recommendations(store))
        return fresh_head_url, store.customer_id, rec.id


def test_concurrent_deciders_and_starters_have_exactly_one_winner(
    committed_recommendation: tuple[DatabaseUrl, uuid.UUID, uuid.UUID], test_settings: Settings
) -> None:
    url, customer_id, rec_id = committed_recommendation

    async def approve(store: Store, index: int) -> str:
        try:
            await Recommendations(store).approve(rec_id, decided_by=f"person-{index}")
        except InvalidTransition:
            return "refused"
        return "won"

    async def start(store: Store, _index: int) -> str:
        try:
            await Optimizations(store).start(rec_id)
        except InvalidTransition:
            return "refused"
        return "won"

    decisions = run_in_threads(url, test_settings, customer_id, 8, approve)
    starts = run_in_threads(url, test_settings, customer_id, 8, start)
    assert sorted(decisions) == ["refused"] * 7 + ["won"]
    assert sorted(starts) == ["refused"] * 7 + ["won"]

    async def read_back(store: Store, _index: int) -> tuple[Any, ...]:
        async with store.reader() as s:
            approvals = (await s.scalars(select(Approval))).all()
            optimizations = (await s.scalars(select(Optimization))).all()
            changes = (
                await s.scalars(
                    select(Event).where(Event.entity_id == str(rec_id)).order_by(Event.id)
                )
            ).all()
        return (
            [(a.status, a.decided_by is not None) for a in approvals],
            [o.status for o in optimizations],
            [(e.data or {})["to"] for e in changes],
        )

    [(approvals, optimizations, trail)] = run_in_threads(
        url, test_settings, customer_id, 1, read_back
    )
    assert approvals == [(ApprovalStatus.APPROVED, True)]
    assert optimizations == [O.QUEUED]
    assert trail == ["PENDING", "APPROVED", "EXECUTING"]
