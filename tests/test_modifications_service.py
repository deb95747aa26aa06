"""Modifications (seed 003): requests, the approval lifecycle, audit events, isolation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from concurrency import run_in_threads
from flightlog import InvalidTransition, NotFound, ValidationError
from flightlog.db.urls import DatabaseUrl
from flightlog.enums import EventType, ModificationStatus
from flightlog.models import Event, Modification, Project
from flightlog.services.modifications import MODIFICATION_LIFECYCLE
from flightlog.settings import Settings
from flightlog.store import Store, open_store
from flightlog.store.project_facades import Modifications, ProjectContexts, Projects

S = ModificationStatus

#: The lifecycle as seed 003 describes it, written out independently of the code.
EXPECTED_TRANSITIONS = {
    S.PENDING: {S.APPROVED, S.REJECTED},
    S.APPROVED: {S.APPLIED, S.FAILED},
    S.APPLIED: set(),
    S.FAILED: set(),
    S.REJECTED: set(),
}

#: The facade call that moves a modification to each status.
ACTIONS = {
    S.APPROVED: ("approve", {"decided_by": "late-approver", "comment": "late"}),
    S.REJECTED: ("reject", {"decided_by": "late-rejecter", "comment": "late"}),
    S.APPLIED: ("apply", {"result": {"late": True}, "actor": "late-bot"}),
    S.FAILED: ("fail", {"error_message": "late failure", "actor": "late-bot"}),
}

#: How to reach each status from PENDING along legal steps.
PATHS: dict[ModificationStatus, list[ModificationStatus]] = {
    S.PENDING: [],
    S.APPROVED: [S.APPROVED],
    S.REJECTED: [S.REJECTED],
    S.APPLIED: [S.APPROVED, S.APPLIED],
    S.FAILED: [S.APPROVED, S.FAILED],
}

ILLEGAL = [
    (start, target)
    for start in S
    for target in ACTIONS
    if target not in EXPECTED_TRANSITIONS[start]
]


@pytest.fixture
async def project(store: Store) -> Project:
    return await Projects(store).create(name="shop")


async def _events(store: Store, modification_id: uuid.UUID) -> list[Event]:
    async with store.reader() as s:
        stmt = (
            select(Event)
            .where(Event.entity_type == "Modification", Event.entity_id == str(modification_id))
            .order_by(Event.id)
        )
        return list((await s.scalars(stmt)).all())


async def _snapshot(store: Store, modification_id: uuid.UUID) -> tuple[Any, ...]:
    m = await Modifications(store).get(modification_id)
    return (
        m.status,
        m.decided_by,
        m.decided_at,
        m.decision_comment,
        m.applied_at,
        m.result,
        m.error_message,
        m.updated_at,
    )


async def _move(store: Store, modification_id: uuid.UUID, target: ModificationStatus) -> None:
    verb, kw = ACTIONS[target]
    await getattr(Modifications(store), verb)(modification_id, **kw)


def test_the_table_is_the_seed_003_lifecycle() -> None:
    """Seed 003 statuses: pending, approved, applied, failed, rejected."""
    assert {s: set(t) for s, t in MODIFICATION_LIFECYCLE.transitions.items()} == (
        EXPECTED_TRANSITIONS
    )


async def test_seed_003_request_stores_impact_analysis_and_affected_files(
    store: Store, project: Project
) -> None:
    """Seed 003: a request keeps its impact analysis (JSON) and affected files (list)."""
    context = await ProjectContexts(store).add_iteration(project.id, test_coverage=70)
    made = await Modifications(store).request(
        project.id,
        request="Add rate limiting to the public API",
        title="Rate limiting",
        impact_analysis={"risk": "medium", "modules": ["api", "middleware"], "effort_hours": 6},
        affected_files=["api/routes.py", "api/middleware.py"],
        project_context_id=context.id,
        requested_by="pm-agent",
    )
    loaded = await Modifications(store).get(made.id)
    assert loaded.status is S.PENDING
    assert loaded.request == "Add rate limiting to the public API"
    assert loaded.title == "Rate limiting"
    assert loaded.impact_analysis == {
        "risk": "medium",
        "modules": ["api", "middleware"],
        "effort_hours": 6,
    }
    assert loaded.affected_files == ["api/routes.py", "api/middleware.py"]
    assert (loaded.project_context_id, loaded.requested_by) == (context.id, "pm-agent")
    assert loaded.decided_by is None
    [created] = await _events(store, made.id)
    assert created.event_type is EventType.STATUS_CHANGE
    assert (created.customer_id, created.actor) == (store.customer_id, "pm-agent")
    assert created.data == {
        "entity": "Modification",
        "from": None,
        "to": "PENDING",
        "project_id": str(project.id),
    }


async def test_seed_003_approved_then_applied(store: Store, project: Project) -> None:
    """Seed 003: pending -> approved -> applied, each step audited with who did it."""
    mods = Modifications(store)
    made = await mods.request(project.id, request="upgrade deps", requested_by="bot")
    approved = await mods.approve(made.id, decided_by="alice", comment="go ahead")
    assert approved.status is S.APPROVED
    assert (approved.decided_by, approved.decision_comment) == ("alice", "go ahead")
    assert approved.decided_at is not None
    applied = await mods.apply(made.id, result={"commit": "abc123"}, actor="engineer-agent")
    assert applied.status is S.APPLIED
    assert applied.applied_at is not None
    assert applied.applied_at >= approved.decided_at
    assert applied.result == {"commit": "abc123"}
    assert applied.error_message is None
    trail = await _events(store, made.id)
    assert [(e.data["from"], e.data["to"], e.actor) for e in trail] == [
        (None, "PENDING", "bot"),
        ("PENDING", "APPROVED", "alice"),
        ("APPROVED", "APPLIED", "engineer-agent"),
    ]
    assert trail[1].data["comment"] == "go ahead"
    assert {e.customer_id for e in trail} == {store.customer_id}


async def test_seed_003_approved_then_failed(store: Store, project: Project) -> None:
    """Seed 003: pending -> approved -> failed keeps the error message."""
    mods = Modifications(store)
    made = await mods.request(project.id, request="migrate to pydantic 2")
    await mods.approve(made.id, decided_by="bob")
    failed = await mods.fail(made.id, error_message="tests broke", actor="ci")
    assert failed.status is S.FAILED
    assert failed.error_message == "tests broke"
    assert failed.applied_at is None
    trail = await _events(store, made.id)
    assert [(e.data["to"], e.actor) for e in trail] == [
        ("PENDING", None),
        ("APPROVED", "bob"),
        ("FAILED", "ci"),
    ]
    assert trail[-1].data["error_message"] == "tests broke"


async def test_seed_003_rejected(store: Store, project: Project) -> None:
    """Seed 003: pending -> rejected records who decided, when and why."""
    mods = Modifications(store)
    made = await mods.request(project.id, request="rewrite in rust")
    rejected = await mods.reject(made.id, decided_by="carol", comment="not now")
    assert rejected.status is S.REJECTED
    assert (rejected.decided_by, rejected.decision_comment) == ("carol", "not now")
    assert rejected.decided_at is not None
    assert [e.data["to"] for e in await _events(store, made.id)] == ["PENDING", "REJECTED"]


@pytest.mark.parametrize(("start", "target"), ILLEGAL, ids=lambda s: str(s))
async def test_illegal_transitions_are_refused_and_write_nothing(
    store: Store, project: Project, start: ModificationStatus, target: ModificationStatus
) -> None:
    made = await Modifications(store).request(project.id, request="change")
    for step in PATHS[start]:
        await _move(store, made.id, step)
    before = await _snapshot(store, made.id)
    events_before = len(await _events(store, made.id))
    assert before[0] is start
    with pytest.raises(InvalidTransition) as info:
        await _move(store, made.id, target)
    assert (info.value.from_status, info.value.to_status) == (start.value, target.value)
    assert await _snapshot(store, made.id) == before
    assert len(await _events(store, made.id)) == events_before


@pytest.mark.parametrize(
    ("verb", "kw", "message"),
    [
        ("approve", {"decided_by": ""}, "decided_by"),
        ("reject", {"decided_by": "   "}, "decided_by"),
        ("fail", {"error_message": ""}, "error_message"),
        ("apply", {"result": ["not", "an", "object"]}, "result"),
    ],
)
async def test_bad_decisions_write_nothing(
    store: Store, project: Project, verb: str, kw: dict[str, Any], message: str
) -> None:
    made = await Modifications(store).request(project.id, request="change")
    if verb in ("fail", "apply"):
        await Modifications(store).approve(made.id, decided_by="alice")
    before = await _snapshot(store, made.id)
    events_before = len(await _events(store, made.id))
    with pytest.raises(ValidationError, match=message):
        await getattr(Modifications(store), verb)(made.id, **kw)
    assert await _snapshot(store, made.id) == before
    assert len(await _events(store, made.id)) == events_before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"request": ""}, "request"),
        ({"request": "x", "affected_files": "a.py"}, "affected_files"),
        ({"request": "x", "affected_files": ["a.py", 3]}, "affected_files"),
        ({"request": "x", "impact_analysis": ["high"]}, "impact_analysis"),
        ({"request": "x", "title": "t" * 501}, "title"),
    ],
)
async def test_bad_requests_write_nothing(
    store: Store, project: Project, fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        await Modifications(store).request(project.id, **fields)
    assert (await Modifications(store).list(project.id)).items == []
    async with store.reader() as s:
        count = await s.scalar(select(func.count()).where(Event.entity_type == "Modification"))
    assert count == 0


async def test_context_must_belong_to_the_same_project(store: Store, project: Project) -> None:
    sibling = await Projects(store).create(name="sibling")
    their_context = await ProjectContexts(store).add_iteration(sibling.id)
    with pytest.raises(ValidationError, match="another project"):
        await Modifications(store).request(
            project.id, request="x", project_context_id=their_context.id
        )
    with pytest.raises(NotFound):
        await Modifications(store).request(project.id, request="x", project_context_id=uuid.uuid4())
    assert (await Modifications(store).list(project.id)).items == []


async def test_list_filters_by_status_newest_first(store: Store, project: Project) -> None:
    mods = Modifications(store)
    a = await mods.request(project.id, request="a")
    b = await mods.request(project.id, request="b")
    c = await mods.request(project.id, request="c")
    await mods.approve(a.id, decided_by="x")
    await mods.reject(b.id, decided_by="x")
    elsewhere = await Projects(store).create(name="elsewhere")
    await mods.request(elsewhere.id, request="d")
    assert [m.id for m in (await mods.list(project.id)).items] == [c.id, b.id, a.id]
    assert [m.id for m in (await mods.list(project.id, status="pending")).items] == [c.id]
    both = await mods.list(project.id, status=[S.APPROVED, S.REJECTED])
    assert [m.id for m in both.items] == [b.id, a.id]
    page = await mods.list(project.id, limit=2)
    rest = await mods.list(project.id, limit=2, cursor=page.next_cursor)
    assert [m.id for m in page.items + rest.items] == [c.id, b.id, a.id]
    with pytest.raises(ValidationError, match="unknown modification status"):
        await mods.list(project.id, status="merged")


async def test_customers_cannot_touch_each_others_modifications(
    store: Store, other: Store, project: Project
) -> None:
    context = await ProjectContexts(store).add_iteration(project.id)
    mine = await Modifications(store).request(project.id, request="mine")
    theirs = Modifications(other)
    with pytest.raises(NotFound):
        await theirs.get(mine.id)
    with pytest.raises(NotFound):
        await theirs.list(project.id)
    with pytest.raises(NotFound):
        await theirs.request(project.id, request="intrude")
    with pytest.raises(NotFound):
        await theirs.approve(mine.id, decided_by="mallory")
    with pytest.raises(NotFound):
        await theirs.reject(mine.id, decided_by="mallory")
    their_project = await Projects(other).create(name="theirs")
    with pytest.raises(NotFound):
        await theirs.request(their_project.id, request="x", project_context_id=context.id)
    await Modifications(store).approve(mine.id, decided_by="alice")
    with pytest.raises(NotFound):
        await theirs.apply(mine.id, actor="mallory")
    with pytest.raises(NotFound):
        await theirs.fail(mine.id, error_message="sabotage")
    loaded = await Modifications(store).get(mine.id)
    assert (loaded.status, loaded.decided_by) == (S.APPROVED, "alice")
    assert [e.actor for e in await _events(store, mine.id)] == [None, "alice"]
    async with other.reader() as s:
        leaked = await s.scalar(
            select(func.count())
            .select_from(Modification)
            .where(Modification.project_id == their_project.id)
        )
    assert leaked == 0


@pytest.fixture
async def committed_modification(
    fresh_head_url: DatabaseUrl, test_settings: Settings
) -> tuple[DatabaseUrl, uuid.UUID, uuid.UUID]:
    """A fresh database at head with one PENDING modification, committed."""
    url = fresh_head_url.url.render_as_string(hide_password=False)
    async with open_store(url, settings=test_settings, upgrade=False) as store:
        target = await Projects(store).create(name="contended")
        made = await Modifications(store).request(target.id, request="one decision only")
        return fresh_head_url, store.customer_id, made.id


def test_concurrent_deciders_cannot_both_win(
    committed_modification: tuple[DatabaseUrl, uuid.UUID, uuid.UUID], test_settings: Settings
) -> None:
    url, customer_id, modification_id = committed_modification

    async def decide(store: Store, index: int) -> str:
        mods = Modifications(store)
        try:
            if index % 2:
                await mods.approve(modification_id, decided_by=f"approver-{index}")
            else:
                await mods.reject(modification_id, decided_by=f"rejecter-{index}")
        except InvalidTransition:
            return "refused"
        return "won"

    outcomes = run_in_threads(url, test_settings, customer_id, 8, decide)

    async def read_back(store: Store, _index: int) -> tuple[Modification, list[Event]]:
        return await Modifications(store).get(modification_id), await _events(
            store, modification_id
        )

    [(final, trail)] = run_in_threads(url, test_settings, customer_id, 1, read_back)
    assert sorted(outcomes) == ["refused"] * 7 + ["won"]
    assert [e.data["from"] for e in trail] == [None, "PENDING"]
    assert trail[-1].actor == final.decided_by
    assert final.status is (S.APPROVED if final.decided_by.startswith("approver") else S.REJECTED)
