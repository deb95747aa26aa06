"""A foreign id as a Store argument other than the first fails like a missing one.

See ``two_tenants`` for how the two outcomes are compared.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flightlog.services.claims import Claim
from flightlog.store import Store
from two_tenants import Asked, PyCall, World, masked_outcome, raised_by, random_like

#: Ids of A's rows passed as arguments other than the first.
STORE_REFERENCES: dict[str, PyCall] = {
    "task: parent_task_id": PyCall(
        ("task",), lambda s, x, m: s.tasks.create(title="t", parent_task_id=x["task"])
    ),
    "task: depends_on of a new task": PyCall(
        ("task",), lambda s, x, m: s.tasks.create(title="t", depends_on=[x["task"]])
    ),
    "task: add_dependency's depends_on": PyCall(
        ("task",), lambda s, x, m: s.tasks.add_dependency(m["task"], x["task"]), ("task",)
    ),
    "task: remove_dependency's depends_on": PyCall(
        ("task",), lambda s, x, m: s.tasks.remove_dependency(m["task"], x["task"]), ("task",)
    ),
    "project: new task": PyCall(
        ("project",), lambda s, x, m: s.tasks.create(title="t", project_id=x["project"])
    ),
    "project: task update": PyCall(
        ("project",), lambda s, x, m: s.tasks.update(m["task"], project_id=x["project"]), ("task",)
    ),
    "agent: task list": PyCall(("agent",), lambda s, x, m: s.tasks.list(agent_id=x["agent"])),
    "task: task list cursor, sorted by title": PyCall(
        ("task",), lambda s, x, m: s.tasks.list(sort="title", cursor=x["task"])
    ),
    "task: task list before, sorted by updated": PyCall(
        ("task",), lambda s, x, m: s.tasks.list(sort="updated", before=x["task"])
    ),
    "agent: new run": PyCall(
        ("agent",), lambda s, x, m: s.runs.start(m["task"], agent_id=x["agent"]), ("task",)
    ),
    "agent run: parent_id": PyCall(
        ("agent_run",),
        lambda s, x, m: s.agent_runs.start(m["run"], agent_name="a", parent_id=x["agent_run"]),
        ("run",),
    ),
    "run: artifact": PyCall(
        ("run",),
        lambda s, x, m: s.artifacts.put(m["task"], "f.txt", b"x", run_id=x["run"]),
        ("task",),
    ),
    "run: pull request": PyCall(
        ("run",),
        lambda s, x, m: s.pull_requests.create(
            project_id=m["project"], branch_name="b", title="t", run_id=x["run"]
        ),
        ("project",),
    ),
    "task: pull request": PyCall(
        ("task",),
        lambda s, x, m: s.pull_requests.create(
            project_id=m["project"], branch_name="b", title="t", task_id=x["task"]
        ),
        ("project",),
    ),
    "project: pull request": PyCall(
        ("project",),
        lambda s, x, m: s.pull_requests.create(project_id=x["project"], branch_name="b", title="t"),
    ),
    "task: pull request list": PyCall(
        ("task",), lambda s, x, m: s.pull_requests.list(task_id=x["task"])
    ),
    "agent: recommendation": PyCall(
        ("agent",),
        lambda s, x, m: s.recommendations.create(
            recommendation_type="c", title="t", confidence_score=0.5, agent_id=x["agent"]
        ),
    ),
    "run: event": PyCall(
        ("run",), lambda s, x, m: s.events.append({"event_type": "LOG", "run_id": x["run"]})
    ),
    "agent run: metric": PyCall(
        ("agent_run",),
        lambda s, x, m: s.metrics.record(
            {"name": "m", "value": 1, "task_id": m["task"], "agent_run_id": x["agent_run"]}
        ),
        ("task",),
    ),
    "run: events list": PyCall(("run",), lambda s, x, m: s.events.list(run_id=x["run"])),
    "task: metric series": PyCall(
        ("task",), lambda s, x, m: s.metrics.series("m", task_id=x["task"])
    ),
    "context: modification": PyCall(
        ("context",),
        lambda s, x, m: s.modifications.request(
            m["project"], request="r", project_context_id=x["context"]
        ),
        ("project",),
    ),
    "agent: optimization": PyCall(
        ("agent",),
        lambda s, x, m: s.optimizations.start(m["approved_recommendation"], agent_id=x["agent"]),
        ("approved_recommendation",),
    ),
    "task and run: claim complete": PyCall(
        ("task", "run"),
        lambda s, x, m: s.claims.complete(
            Claim(x["task"], x["run"], "w1", datetime.now(UTC) + timedelta(minutes=5))
        ),
    ),
    "run: claim release": PyCall(
        ("run",),
        lambda s, x, m: s.claims.release(
            Claim(m["claimed_task"], x["run"], "w1", datetime.now(UTC) + timedelta(minutes=5))
        ),
        ("claimed_task",),
    ),
}


@pytest.mark.parametrize("name", sorted(STORE_REFERENCES))
async def test_a_foreign_id_as_a_store_argument_fails_like_a_missing_one(
    name: str, owner: World, mine: World, other: Store
) -> None:
    call = STORE_REFERENCES[name]
    theirs = Asked(await owner.ids(call.theirs))
    ours = await mine.ids(call.mine)
    random = random_like(dict(theirs))
    foreign = await raised_by(call.use(other, theirs, ours))
    missing = await raised_by(call.use(other, random, ours))
    assert masked_outcome(foreign, theirs) == masked_outcome(missing, random)
