"""Agents (seeds 002, 004): registration, heartbeats, derived health, deletion and scope."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from flightlog import Conflict, InvalidTransition, NotFound, ValidationError
from flightlog.enums import AgentStatus, AgentType
from flightlog.models import Agent, Event, TaskRun
from flightlog.services._common import utc_now
from flightlog.services.agents import effective_status
from flightlog.store import Store
from flightlog.store.tenancy_facades import Agents

SEED_002_TYPES = ("ORCHESTRATOR", "COST", "PERFORMANCE", "RESOURCE", "APPLICATION")


async def _count(store: Store, model: Any) -> int:
    async with store.reader() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _agent_events(store: Store, agent_id: uuid.UUID) -> list[Event]:
    async with store.reader() as s:
        stmt = select(Event).where(Event.entity_id == str(agent_id)).order_by(Event.id)
        return list((await s.scalars(stmt)).all())


async def _set_heartbeat(store: Store, agent_id: uuid.UUID, at: datetime | None) -> None:
    """Move time by rewriting the heartbeat: no sleeping."""
    async with store.transaction() as s:
        await s.execute(update(Agent).where(Agent.id == agent_id).values(last_heartbeat_at=at))


async def test_seed_002_all_five_agent_types_register(store: Store) -> None:
    """seed 002: ORCHESTRATOR, COST, PERFORMANCE, RESOURCE and APPLICATION agents register."""
    agents = Agents(store)
    registered = [
        await agents.register(
            f"{kind.lower()}-agent",
            kind.lower(),
            capabilities=[f"{kind.lower()}_analysis"],
            version="1.0.0",
            endpoint=f"http://{kind.lower()}-agent:8000",
        )
        for kind in SEED_002_TYPES
    ]
    assert [a.agent_type for a in registered] == [AgentType(k) for k in SEED_002_TYPES]
    assert {a.status for a in registered} == {AgentStatus.STARTING}
    listed = await agents.list()
    assert sorted(a.name for a in listed) == sorted(f"{k.lower()}-agent" for k in SEED_002_TYPES)
    resource = await agents.list(agent_type="RESOURCE")
    assert [a.endpoint for a in resource] == ["http://resource-agent:8000"]


async def test_registering_again_updates_and_keeps_the_id(store: Store) -> None:
    agents = Agents(store)
    first = await agents.register(
        "cost-agent", "COST", capabilities=["spot"], version="1.0", config={"region": "eu"}
    )
    again = await agents.register(
        "cost-agent", AgentType.RESOURCE, capabilities=["spot", "rightsizing"], version="1.1"
    )
    assert again.id == first.id
    loaded = await agents.get(first.id)
    assert (loaded.agent_type, loaded.capabilities, loaded.version) == (
        AgentType.RESOURCE,
        ["spot", "rightsizing"],
        "1.1",
    )
    assert loaded.config == {"region": "eu"}  # not given again, so kept
    assert len(await agents.list()) == 1
    creations = [e for e in await _agent_events(store, first.id) if e.data and e.data["to"]]
    assert [(e.data or {})["to"] for e in creations] == ["STARTING"]
    assert creations[0].agent_id == first.id


async def test_registration_validates_input_and_writes_nothing(store: Store) -> None:
    agents = Agents(store)
    before = (await _count(store, Agent), await _count(store, Event))
    with pytest.raises(ValidationError, match="unknown agent type"):
        await agents.register("x", "JANITOR")
    with pytest.raises(ValidationError, match="capabilities"):
        await agents.register("x", "COST", capabilities="spot")
    with pytest.raises(ValidationError, match="name"):
        await agents.register(" ", "COST")
    with pytest.raises(ValidationError, match="config"):
        await agents.register("x", "COST", config=["a"])
    with pytest.raises(ValidationError, match="version"):
        await agents.register("x", "COST", version="v" * 65)
    assert (await _count(store, Agent), await _count(store, Event)) == before


async def test_heartbeat_marks_healthy_and_audits_only_the_change(store: Store) -> None:
    agents = Agents(store)
    agent = await agents.register("perf", "PERFORMANCE")
    assert agent.last_heartbeat_at is None
    assert await agents.status(agent.id) is AgentStatus.STARTING
    beat = await agents.heartbeat(agent.id)
    assert beat.status is AgentStatus.HEALTHY
    assert beat.last_heartbeat_at is not None
    first_beat = beat.last_heartbeat_at
    await _set_heartbeat(store, agent.id, first_beat - timedelta(hours=1))
    second = await agents.heartbeat(agent.id)
    assert second.last_heartbeat_at is not None
    assert second.last_heartbeat_at >= first_beat
    assert await agents.status(agent.id) is AgentStatus.HEALTHY
    moves = [
        ((e.data or {})["from"], (e.data or {})["to"]) for e in await _agent_events(store, agent.id)
    ]
    assert moves == [(None, "STARTING"), ("STARTING", "HEALTHY")]


async def test_stopped_agent_refuses_heartbeats_until_it_registers_again(store: Store) -> None:
    agents = Agents(store)
    agent = await agents.register("app", "APPLICATION")
    await agents.heartbeat(agent.id)
    stopped = await agents.deregister(agent.id, actor="ops", reason="maintenance")
    assert stopped.status is AgentStatus.STOPPED
    assert await agents.status(agent.id) is AgentStatus.STOPPED
    with pytest.raises(Conflict, match="register"):
        await agents.heartbeat(agent.id)
    with pytest.raises(InvalidTransition) as info:
        await agents.deregister(agent.id)
    assert (info.value.from_status, info.value.to_status) == ("STOPPED", "STOPPED")
    back = await agents.register("app", "APPLICATION", version="2.0")
    assert (back.id, back.status, back.last_heartbeat_at) == (agent.id, AgentStatus.STARTING, None)
    assert (await agents.heartbeat(agent.id)).status is AgentStatus.HEALTHY
    moves = [(e.data or {})["to"] for e in await _agent_events(store, agent.id)]
    assert moves == ["STARTING", "HEALTHY", "STOPPED", "STARTING", "HEALTHY"]
    stop_event = (await _agent_events(store, agent.id))[2]
    assert (stop_event.actor, (stop_event.data or {})["reason"]) == ("ops", "maintenance")


def test_effective_status_follows_heartbeat_age() -> None:
    now = utc_now()

    def agent(age: float | None, status: AgentStatus = AgentStatus.HEALTHY) -> Agent:
        beat = None if age is None else now - timedelta(seconds=age)
        return Agent(name="a", agent_type=AgentType.COST, status=status, last_heartbeat_at=beat)

    cases = [
        (agent(None, AgentStatus.STARTING), AgentStatus.STARTING),
        (agent(0), AgentStatus.HEALTHY),
        (agent(59.9), AgentStatus.HEALTHY),
        (agent(60), AgentStatus.DEGRADED),
        (agent(299.9), AgentStatus.DEGRADED),
        (agent(300), AgentStatus.FAILED),
        (agent(86_400), AgentStatus.FAILED),
        (agent(1, AgentStatus.STOPPED), AgentStatus.STOPPED),
        (agent(None, AgentStatus.STOPPED), AgentStatus.STOPPED),
    ]
    assert [effective_status(a, now, 60, 300) for a, _ in cases] == [want for _, want in cases]
    assert effective_status(agent(30), now, timedelta(seconds=10), timedelta(seconds=40)) is (
        AgentStatus.DEGRADED
    )
    with pytest.raises(ValidationError):
        effective_status(agent(1), now, 300, 60)


async def test_list_filters_by_derived_status_in_sql(store: Store) -> None:
    agents = Agents(store)
    now = utc_now()
    degraded_after = store.settings.agent_degraded_after_seconds
    failed_after = store.settings.agent_failed_after_seconds
    ages = {
        "healthy": degraded_after / 2,
        "degraded": (degraded_after + failed_after) / 2,
        "failed": failed_after * 2,
        "starting": None,
        "stopped": 1.0,
    }
    ids: dict[str, uuid.UUID] = {}
    for name, age in ages.items():
        agent = await agents.register(name, "ORCHESTRATOR")
        ids[name] = agent.id
        if age is not None:
            await agents.heartbeat(agent.id)
            await _set_heartbeat(store, agent.id, now - timedelta(seconds=age))
    await agents.deregister(ids["stopped"])

    found = {
        status: [a.name for a in await agents.list(status=status, now=now)]
        for status in AgentStatus
    }
    assert found == {
        AgentStatus.HEALTHY: ["healthy"],
        AgentStatus.DEGRADED: ["degraded"],
        AgentStatus.FAILED: ["failed"],
        AgentStatus.STARTING: ["starting"],
        AgentStatus.STOPPED: ["stopped"],
    }
    for agent in await agents.list():
        assert await agents.status(agent.id, now=now) is AgentStatus(agent.name.upper())
    unhealthy = await agents.list(status=["degraded", "FAILED"], now=now)
    assert [a.name for a in unhealthy] == ["degraded", "failed"]
    # Later, the healthy one has aged too; thresholds can be overridden per call.
    later = now + timedelta(seconds=failed_after)
    assert "healthy" in [a.name for a in await agents.list(status="FAILED", now=later)]
    strict = await agents.list(status="HEALTHY", now=now, degraded_after=1, failed_after=2)
    assert strict == []
    with pytest.raises(ValidationError, match="unknown agent status"):
        await agents.list(status="ASLEEP")


async def test_health_thresholds_come_from_the_settings_unless_a_call_gives_them(
    store: Store,
) -> None:
    tight = store.settings.model_copy(
        update={"agent_degraded_after_seconds": 10.0, "agent_failed_after_seconds": 20.0}
    )
    strict = Store(store.engine, tight, store.customer_id, connection=store.connection)
    agent = await strict.agents.register("watched", "COST")
    await strict.agents.heartbeat(agent.id)
    now = utc_now()
    await _set_heartbeat(store, agent.id, now - timedelta(seconds=15))
    assert store.settings.agent_degraded_after_seconds > 15
    assert await store.agents.status(agent.id, now=now) is AgentStatus.HEALTHY
    assert await strict.agents.status(agent.id, now=now) is AgentStatus.DEGRADED
    assert [a.id for a in await strict.agents.list(status="DEGRADED", now=now)] == [agent.id]
    assert await store.agents.list(status="DEGRADED", now=now) == []
    relaxed = {"degraded_after": 60, "failed_after": 300}
    assert await strict.agents.status(agent.id, now=now, **relaxed) is AgentStatus.HEALTHY
    assert await strict.agents.list(status="DEGRADED", now=now, **relaxed) == []


async def test_list_filters_by_capability(store: Store) -> None:
    agents = Agents(store)
    await agents.register("cost", "COST", capabilities=["spot_instances", "rightsizing"])
    await agents.register("perf", "PERFORMANCE", capabilities=["latency", "rightsizing"])
    await agents.register("bare", "RESOURCE")
    assert [a.name for a in await agents.list(capability="rightsizing")] == ["cost", "perf"]
    assert [a.name for a in await agents.list(capability="latency")] == ["perf"]
    assert await agents.list(capability="rights") == []


async def test_deleting_an_agent_sets_references_to_null(store: Store) -> None:
    agents = Agents(store)
    agent = await agents.register("engineer", "ENGINEER")
    task = await store.tasks.create(title="build", assigned_agent_id=agent.id)
    run = await store.runs.start(task.id, agent_id=agent.id)
    await agents.delete(agent.id, actor="ops")
    with pytest.raises(NotFound):
        await agents.get(agent.id)
    assert (await store.tasks.get(task.id)).assigned_agent_id is None
    assert (await store.runs.get(run.id)).agent_id is None
    async with store.reader() as s:
        still_pointing = await s.scalar(
            select(func.count()).select_from(Event).where(Event.agent_id == agent.id)
        )
        runs_left = await s.scalar(
            select(func.count()).select_from(TaskRun).where(TaskRun.task_id == task.id)
        )
    assert (still_pointing, runs_left) == (0, 1)
    actions = [(e.data or {}).get("action") for e in await _agent_events(store, agent.id)]
    assert actions[-1] == "deleted"


async def test_another_customer_cannot_touch_my_agents(store: Store, other: Store) -> None:
    mine, theirs = Agents(store), Agents(other)
    agent = await mine.register("shared-name", "COST", capabilities=["spot"])
    their_agent = await theirs.register("shared-name", "COST", capabilities=["spot"])
    assert their_agent.id != agent.id
    for attempt in (
        theirs.get(agent.id),
        theirs.heartbeat(agent.id),
        theirs.deregister(agent.id),
        theirs.delete(agent.id),
        theirs.status(agent.id),
    ):
        with pytest.raises(NotFound):
            await attempt
    assert [a.id for a in await theirs.list(capability="spot")] == [their_agent.id]
    assert [a.id for a in await mine.list()] == [agent.id]
    untouched = await mine.get(agent.id)
    assert (untouched.status, untouched.last_heartbeat_at) == (AgentStatus.STARTING, None)
