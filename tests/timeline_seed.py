"""A 30-step multi-agent run with measured times, for the run page's tests and screenshots.

A team leader starts nine agents one after another; each runs two tool steps, and the
first tool step of the first two agents runs one more nested step (1 + 9 + 18 + 2 = 30
steps, nested up to depth 3). Events: a message and a model call per agent, a tool call
per tool step, one failing tool step with an ERROR event, and two events of the run
itself. Times are seconds to minutes apart, over about 23 minutes ending now.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flightlog.store import Store

ROLES = [
    "ProductManager",
    "Architect",
    "Engineer",
    "Reviewer",
    "QA",
    "Security",
    "DevOps",
    "Docs",
    "Release",
]
FAILING_ROLE = "QA"
PLAN = {
    "goal": "Ship sharing <with> reminders",
    "steps": [{"agent": role, "do": f"{role.lower()} work"} for role in ROLES],
    "budget": {"tokens": 200000, "usd": 4.5},
}


@dataclass
class Step:
    id: uuid.UUID
    name: str
    depth: int
    parent: uuid.UUID | None
    started_at: datetime
    finished_at: datetime | None


@dataclass
class SeededRun:
    task_id: uuid.UUID
    run_id: uuid.UUID
    started_at: datetime
    steps: list[Step] = field(default_factory=list)
    #: Event contents by the row they belong in: a step id, or None for the run's own row.
    events: dict[str, uuid.UUID | None] = field(default_factory=dict)
    failed_step: uuid.UUID | None = None
    error_text: str = "pytest: 3 failed <AssertionError> in test_share.py"


async def seed_run(
    store: Store, *, title: str = "Ship the <b>sharing</b> feature", finish: bool = True
) -> SeededRun:
    """The run; with ``finish=False`` the last agent, the leader and the run are still going."""
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(minutes=24)
    task = await store.tasks.create(title=title, input_prompt="Let people share lists")
    run = await store.runs.start(task.id, plan=PLAN, started_at=t0)
    seeded = SeededRun(task_id=task.id, run_id=run.id, started_at=t0)
    pending: list[dict[str, Any]] = []

    def event(at: datetime, content: str, step: uuid.UUID | None, **fields: Any) -> None:
        pending.append(
            {
                "event_type": "MESSAGE",
                "task_id": task.id,
                "run_id": run.id,
                "agent_run_id": step,
                "content": content,
                "created_at": at,
                **fields,
            }
        )
        seeded.events[content] = step

    async def step(
        name: str, start: datetime, seconds: float | None, parent: Step | None, **finish_with: Any
    ) -> Step:
        started = await store.agent_runs.start(
            run.id,
            agent_name=name,
            parent_id=parent.id if parent else None,
            started_at=start,
        )
        end = start + timedelta(seconds=seconds) if seconds is not None else None
        if end is not None:
            await store.agent_runs.finish(started.id, finished_at=end, **finish_with)
        made = Step(
            started.id,
            name,
            parent.depth + 1 if parent else 0,
            parent.id if parent else None,
            start,
            end,
        )
        seeded.steps.append(made)
        return made

    event(t0 + timedelta(seconds=1), "run accepted by the scheduler", None, event_type="LOG")
    lead_start = t0 + timedelta(seconds=2)
    lead = await step("TeamLeader", lead_start, None, None)
    last_end = lead_start
    for index, role in enumerate(ROLES):
        start = t0 + timedelta(seconds=10 + index * 150)
        still_going = not finish and index == len(ROLES) - 1
        agent = await step(role, start, None, lead)
        event(start + timedelta(seconds=5), f"{role} is on it", agent.id)
        for number, (offset, tool) in enumerate(((10, "pytest"), (60, "git"))):
            tool_start = start + timedelta(seconds=offset)
            fails = role == FAILING_ROLE and tool == "pytest"
            outcome: dict[str, Any] = {"tokens_in": 300 * (index + 1), "tokens_out": 120}
            outcome["cost_usd"] = "0.0042"
            if fails:
                outcome |= {"status": "failed", "error_message": seeded.error_text}
            else:
                outcome["output_summary"] = f"{tool} done for {role}"
            seconds = None if still_going and number == 1 else 40
            child = await step(f"{role}/{tool}", tool_start, seconds, agent, **outcome)
            event(
                tool_start + timedelta(seconds=3),
                f"{role} ran {tool}",
                child.id,
                event_type="TOOL_CALL",
                data={"tool": tool, "args": ["-q"]},
            )
            if fails:
                seeded.failed_step = child.id
                event(
                    tool_start + timedelta(seconds=30),
                    f"{role}/{tool} crashed: <boom>",
                    child.id,
                    event_type="ERROR",
                    severity="ERROR",
                    data={"exit_code": 1},
                )
            if index < 2 and number == 0:
                await step(f"{role}/{tool}/fixture", tool_start + timedelta(seconds=5), 12, child)
        event(
            start + timedelta(seconds=100),
            f"{role} asked the model",
            agent.id,
            event_type="MODEL_CALL",
        )
        if not still_going:
            end = start + timedelta(seconds=130)
            await store.agent_runs.finish(
                agent.id,
                finished_at=end,
                output_summary=f"{role} finished",
                tokens_in=1000 + 100 * index,
                tokens_out=400,
                cost_usd="0.0125",
            )
            agent.finished_at = end
            last_end = end
    event(
        t0 + timedelta(seconds=700),
        "budget half spent",
        None,
        event_type="SYSTEM",
        severity="WARNING",
    )
    await store.events.append_batch(pending)
    if finish:
        await store.agent_runs.finish(lead.id, finished_at=last_end + timedelta(seconds=5))
        lead.finished_at = last_end + timedelta(seconds=5)
        await store.runs.fail(
            run.id, error_message="QA failed", completed_at=last_end + timedelta(seconds=8)
        )
    return seeded
