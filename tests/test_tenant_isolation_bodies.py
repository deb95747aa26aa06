"""A foreign id in a request body or query string answers like a missing one.

See ``two_tenants`` for how the two answers are compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flightlog.store import Store
from two_tenants import V1, Asked, World, browser_of, masked_answer, random_like


@dataclass(frozen=True)
class Reference:
    """A request that names one of A's rows in its body or query, from B's own rows."""

    theirs: tuple[str, ...]
    request: Callable[[Asked, dict[str, Any]], tuple[str, str, dict[str, Any]]]
    mine: tuple[str, ...] = ()


def _post(url: str, body: Any) -> tuple[str, str, dict[str, Any]]:
    return "POST", f"{V1}{url}", {"json": body}


def _get(url: str, **params: Any) -> tuple[str, str, dict[str, Any]]:
    return "GET", f"{V1}{url}", {"params": params}


def _event(**refs: Any) -> dict[str, Any]:
    return {"events": [{"event_type": "LOG", **{k: str(v) for k, v in refs.items()}}]}


def _claim(task_id: Any, run_id: Any) -> dict[str, Any]:
    until = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    return {
        "claim": {
            "task_id": str(task_id),
            "run_id": str(run_id),
            "worker": "w1",
            "lease_expires_at": until,
        }
    }


def _s(value: Any) -> str:
    return str(value)


#: Ids of A's rows sent in bodies and query strings (named "what: where").
REFERENCES: dict[str, Reference] = {
    "task: parent_task_id": Reference(
        ("task",), lambda x, m: _post("/tasks", {"title": "t", "parent_task_id": _s(x["task"])})
    ),
    "task: depends_on": Reference(
        ("task",), lambda x, m: _post("/tasks", {"title": "t", "depends_on": [_s(x["task"])]})
    ),
    "project: new task": Reference(
        ("project",), lambda x, m: _post("/tasks", {"title": "t", "project_id": _s(x["project"])})
    ),
    "agent: new task": Reference(
        ("agent",),
        lambda x, m: _post("/tasks", {"title": "t", "assigned_agent_id": _s(x["agent"])}),
    ),
    "agent: task update": Reference(
        ("agent",),
        lambda x, m: (
            "PATCH",
            f"{V1}/tasks/{m['task']}",
            {"json": {"assigned_agent_id": _s(x["agent"])}},
        ),
        mine=("task",),
    ),
    "agent: new run": Reference(
        ("agent",),
        lambda x, m: _post(f"/tasks/{m['task']}/runs", {"agent_id": _s(x["agent"])}),
        mine=("task",),
    ),
    "agent: queued run": Reference(
        ("agent",),
        lambda x, m: _post(f"/tasks/{m['task']}/queued-runs", {"agent_id": _s(x["agent"])}),
        mine=("task",),
    ),
    "agent run: parent_id": Reference(
        ("agent_run",),
        lambda x, m: _post(
            f"/runs/{m['run']}/agent-runs", {"agent_name": "a", "parent_id": _s(x["agent_run"])}
        ),
        mine=("run",),
    ),
    "agent: agent run": Reference(
        ("agent",),
        lambda x, m: _post(
            f"/runs/{m['run']}/agent-runs", {"agent_name": "a", "agent_id": _s(x["agent"])}
        ),
        mine=("run",),
    ),
    "task: event": Reference(("task",), lambda x, m: _post("/events", _event(task_id=x["task"]))),
    "run: event": Reference(("run",), lambda x, m: _post("/events", _event(run_id=x["run"]))),
    "agent run: event": Reference(
        ("agent_run",), lambda x, m: _post("/events", _event(agent_run_id=x["agent_run"]))
    ),
    "agent: event": Reference(
        ("agent",), lambda x, m: _post("/events", _event(agent_id=x["agent"]))
    ),
    "event: parent_event_id": Reference(
        ("event",),
        lambda x, m: _post(
            "/events", {"events": [{"event_type": "LOG", "parent_event_id": x["event"]}]}
        ),
    ),
    "task: metric": Reference(
        ("task",),
        lambda x, m: _post(
            "/metrics", {"metrics": [{"name": "m", "value": 1, "task_id": _s(x["task"])}]}
        ),
    ),
    "run: metric": Reference(
        ("run",),
        lambda x, m: _post(
            "/metrics", {"metrics": [{"name": "m", "value": 1, "run_id": _s(x["run"])}]}
        ),
    ),
    "agent run: metric": Reference(
        ("agent_run",),
        lambda x, m: _post(
            "/metrics",
            {
                "metrics": [
                    {
                        "name": "m",
                        "value": 1,
                        "task_id": _s(m["task"]),
                        "agent_run_id": _s(x["agent_run"]),
                    }
                ]
            },
        ),
        mine=("task",),
    ),
    "task: events query": Reference(("task",), lambda x, m: _get("/events", task_id=x["task"])),
    "run: events query": Reference(("run",), lambda x, m: _get("/events", run_id=x["run"])),
    "run: event stream": Reference(
        ("run",), lambda x, m: _get("/events/stream", run_id=x["run"], timeout_seconds=1)
    ),
    "task: metric series": Reference(
        ("task",), lambda x, m: _get("/metrics/series", name="m", task_id=x["task"])
    ),
    "run: metric summary": Reference(
        ("run",), lambda x, m: _get("/metrics/summary", run_id=x["run"])
    ),
    "run: artifact upload": Reference(
        ("run",),
        lambda x, m: (
            "PUT",
            f"{V1}/tasks/{m['task']}/artifacts/f.txt",
            {"params": {"run_id": _s(x["run"])}, "content": b"x"},
        ),
        mine=("task",),
    ),
    "project: pull request": Reference(
        ("project",),
        lambda x, m: _post(
            "/pull-requests", {"project_id": _s(x["project"]), "branch_name": "b", "title": "t"}
        ),
    ),
    "task: pull request": Reference(
        ("task",),
        lambda x, m: _post(
            "/pull-requests",
            {
                "project_id": _s(m["project"]),
                "branch_name": "b",
                "title": "t",
                "task_id": _s(x["task"]),
            },
        ),
        mine=("project",),
    ),
    "run: pull request": Reference(
        ("run",),
        lambda x, m: _post(
            "/pull-requests",
            {
                "project_id": _s(m["project"]),
                "branch_name": "b",
                "title": "t",
                "run_id": _s(x["run"]),
            },
        ),
        mine=("project",),
    ),
    "agent: recommendation": Reference(
        ("agent",),
        lambda x, m: _post(
            "/recommendations",
            {
                "recommendation_type": "c",
                "title": "t",
                "confidence_score": 0.5,
                "agent_id": _s(x["agent"]),
            },
        ),
    ),
    "project: recommendation": Reference(
        ("project",),
        lambda x, m: _post(
            "/recommendations",
            {
                "recommendation_type": "c",
                "title": "t",
                "confidence_score": 0.5,
                "project_id": _s(x["project"]),
            },
        ),
    ),
    "agent: optimization": Reference(
        ("agent",),
        lambda x, m: _post(
            f"/recommendations/{m['approved_recommendation']}/optimizations",
            {"agent_id": _s(x["agent"])},
        ),
        mine=("approved_recommendation",),
    ),
    "context: modification": Reference(
        ("context",),
        lambda x, m: _post(
            f"/projects/{m['project']}/modifications",
            {"request": "r", "project_context_id": _s(x["context"])},
        ),
        mine=("project",),
    ),
    "task: heartbeat": Reference(
        ("task",),
        lambda x, m: _post("/claims/heartbeat", {"task_id": _s(x["task"]), "worker": "w1"}),
    ),
    "task and run: claim complete": Reference(
        ("task", "run"), lambda x, m: _post("/claims/complete", _claim(x["task"], x["run"]))
    ),
    "run: claim release": Reference(
        ("run",),
        lambda x, m: _post("/claims/release", _claim(m["claimed_task"], x["run"])),
        mine=("claimed_task",),
    ),
    "project: task list": Reference(
        ("project",), lambda x, m: _get("/tasks", project_id=x["project"])
    ),
    "agent: task list": Reference(("agent",), lambda x, m: _get("/tasks", agent_id=x["agent"])),
    "task: task list cursor, sorted by title": Reference(
        ("task",), lambda x, m: _get("/tasks", sort="title", cursor=x["task"])
    ),
    "task: task list before, sorted by status": Reference(
        ("task",), lambda x, m: _get("/tasks", sort="status", before=x["task"])
    ),
    # The dashboard's lists take the same ids in their query.
    "project and agent: dashboard task list": Reference(
        ("project", "agent"),
        lambda x, m: ("GET", "/tasks", {"params": {"project": x["project"], "agent": x["agent"]}}),
    ),
    "task: dashboard task list cursor, sorted by title": Reference(
        ("task",),
        lambda x, m: ("GET", "/tasks", {"params": {"sort": "title", "cursor": x["task"]}}),
    ),
    "project: dashboard pull request list": Reference(
        ("project",), lambda x, m: ("GET", "/pull-requests", {"params": {"project": x["project"]}})
    ),
    "project and task: pull request list": Reference(
        ("project", "task"),
        lambda x, m: _get("/pull-requests", project_id=x["project"], task_id=x["task"]),
    ),
    "project: recommendation list": Reference(
        ("project",), lambda x, m: _get("/recommendations", project_id=x["project"])
    ),
    "recommendation: optimization list": Reference(
        ("approved_recommendation",),
        lambda x, m: _get("/optimizations", recommendation_id=x["approved_recommendation"]),
    ),
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
async def test_a_foreign_id_in_a_body_or_query_answers_like_a_missing_one(
    name: str, owner: World, mine: World, other: Store
) -> None:
    reference = REFERENCES[name]
    theirs = Asked(await owner.ids(reference.theirs))
    ours = await mine.ids(reference.mine)
    random = random_like(dict(theirs))
    async with await browser_of(other) as b:
        answers = []
        for asked in (theirs, random):
            method, url, kw = reference.request(asked, ours)
            answers.append(masked_answer(await b.request(method, url, **kw), asked))
    foreign, missing = answers
    assert foreign == missing
