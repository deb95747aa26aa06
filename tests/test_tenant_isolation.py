"""Another tenant's id is indistinguishable from an id that does not exist.

Customer B asks for customer A's rows, and for random ids asked the same
way; the two answers must be identical once the asked-for id is replaced by
a placeholder: same status, same body byte for byte (HTTP), same exception
type, message and details (Python). Any difference tells B that the id
exists, and a parent id in the answer would tell B more.

The routes and Store methods are derived from the app and the Store, so a
new one that takes an id fails here until it is given a request below.
"""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import create_async_engine

from api_client import app_for
from flightlog.api import create_app
from flightlog.errors import NotFound
from flightlog.services.claims import Claim
from flightlog.settings import Settings
from flightlog.store import Store
from flightlog.store.facades import _Facade
from flightlog.web.session import COOKIE

PLACEHOLDER = "<id>"


class World:
    """Rows of one customer, made on first use (each test makes only what it asks for)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._made: dict[str, Any] = {}

    async def id(self, name: str) -> Any:
        if name not in self._made:
            self._made[name] = await getattr(self, f"_{name}")()
        return self._made[name]

    async def ids(self, names: Iterator[str] | tuple[str, ...]) -> dict[str, Any]:
        return {name: await self.id(name) for name in names}

    async def _task(self) -> uuid.UUID:
        return (await self.store.tasks.create(title="secret task", priority=-5)).id

    async def _run(self) -> uuid.UUID:
        return (await self.store.runs.start(await self.id("task"))).id

    async def _waiting_run(self) -> uuid.UUID:
        task = await self.store.tasks.create(title="awaits a plan", priority=-5)
        run = await self.store.runs.start(task.id, plan={"step": 1}, await_plan_approval=True)
        return run.id

    async def _queued_run(self) -> uuid.UUID:
        task = await self.store.tasks.create(title="queued", priority=-5)
        return (await self.store.runs.enqueue(task.id)).id

    async def _agent_run(self) -> uuid.UUID:
        started = await self.store.agent_runs.start(await self.id("run"), agent_name="Engineer")
        return started.id

    async def _artifact(self) -> uuid.UUID:
        task_id, run_id = await self.id("task"), await self.id("run")
        return (await self.store.artifacts.put(task_id, "report.txt", b"s", run_id=run_id)).id

    async def _event(self) -> int:
        found = await self.store.events.append(
            {"event_type": "LOG", "task_id": await self.id("task")}
        )
        return found.id

    async def _agent(self) -> uuid.UUID:
        return (await self.store.agents.register("secret-bot", "engineer")).id

    async def _project(self) -> uuid.UUID:
        made = await self.store.projects.create(
            name=f"project-{uuid.uuid4().hex[:8]}", repository_url="https://git.test/p.git"
        )
        return made.id

    async def _context(self) -> uuid.UUID:
        project_id = await self.id("project")
        return (await self.store.project_contexts.add_iteration(project_id, notes="one")).id

    async def _modification(self) -> uuid.UUID:
        project_id = await self.id("project")
        return (await self.store.modifications.request(project_id, request="change it")).id

    async def _template(self) -> uuid.UUID:
        made = await self.store.templates.create(
            name=f"template-{uuid.uuid4().hex[:8]}",
            files={"README.md": "# {{title}}"},
            required_variables=["title"],
        )
        return made.id

    async def _recommendation(self) -> uuid.UUID:
        made = await self.store.recommendations.create(
            recommendation_type="cost", title="secret idea", confidence_score=0.5
        )
        return made.id

    async def _approved_recommendation(self) -> uuid.UUID:
        made = await self.store.recommendations.create(
            recommendation_type="cost", title="approved idea", confidence_score=0.5
        )
        await self.store.recommendations.approve(made.id, decided_by="alice")
        return made.id

    async def _optimization(self) -> uuid.UUID:
        recommendation_id = await self.id("approved_recommendation")
        return (await self.store.optimizations.start(recommendation_id)).id

    async def _pull_request(self) -> uuid.UUID:
        made = await self.store.pull_requests.create(
            project_id=await self.id("project"),
            branch_name="feature",
            title="secret change",
            task_id=await self.id("task"),
            run_id=await self.id("run"),
        )
        return made.id

    async def _api_key(self) -> uuid.UUID:
        return (await self.store.api_keys.create("secret key")).id

    async def _claimed_task(self) -> uuid.UUID:
        await self.store.tasks.create(title="to claim", priority=10**6)
        [claim] = await self.store.claims.claim("w1")
        self._made["claimed_run"] = claim.run_id
        return claim.task_id

    async def _claimed_run(self) -> uuid.UUID:
        await self.id("claimed_task")
        run_id: uuid.UUID = self._made["claimed_run"]
        return run_id


class Asked(Mapping[str, Any]):
    """The ids a request asks for: A's real ones, or random ones in the same places."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def masked(self, text: str) -> str:
        """``text`` with every asked-for uuid replaced by the placeholder."""
        for value in self._values.values():
            if isinstance(value, uuid.UUID):
                text = text.replace(str(value), PLACEHOLDER)
        return text


def _random_like(real: dict[str, Any]) -> Asked:
    # Event ids are integers: far above any id a test database hands out.
    return Asked(
        {
            name: 2**62 + i if isinstance(value, int) else uuid.uuid4()
            for i, (name, value) in enumerate(real.items())
        }
    )


@pytest.fixture
def owner(store: Store) -> World:
    """Customer A, whose rows customer B asks for."""
    return World(store)


@pytest.fixture
def mine(other: Store) -> World:
    """Customer B's own rows, for requests that need one (B's task, to point at A's run)."""
    return World(other)


# --- HTTP ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A request to a route whose path takes ids: which of A's rows go where, and a valid body."""

    ids: dict[str, str]
    json: Any = None
    params: dict[str, Any] | None = None
    content: bytes | None = None
    fill: dict[str, str] = field(default_factory=dict)
    #: More of A's rows to make first, so the request would succeed for A.
    also: tuple[str, ...] = ()


def _c(param: str, name: str, **kw: Any) -> Call:
    return Call({param: name}, **kw)


V1 = "/api/v1"
DECISION = {"approve": True, "decided_by": "mallory"}

#: Every route with an id in its path, keyed "METHOD path" exactly as the app declares it.
PATH_CALLS: dict[str, Call] = {
    f"GET {V1}/tasks/{{task_id}}": _c("task_id", "task"),
    f"PATCH {V1}/tasks/{{task_id}}": _c("task_id", "task", json={"title": "mine now"}),
    f"POST {V1}/tasks/{{task_id}}/cancel": _c("task_id", "task", json={"reason": "why not"}),
    f"DELETE {V1}/tasks/{{task_id}}": _c("task_id", "task"),
    f"POST {V1}/tasks/{{task_id}}/runs": _c("task_id", "task"),
    f"POST {V1}/tasks/{{task_id}}/queued-runs": _c("task_id", "task"),
    f"GET {V1}/tasks/{{task_id}}/runs": _c("task_id", "task"),
    f"POST {V1}/runs/{{run_id}}/begin": _c("run_id", "queued_run"),
    f"GET {V1}/runs/{{run_id}}": _c("run_id", "run"),
    f"POST {V1}/runs/{{run_id}}/finish": _c("run_id", "run", json={"status": "COMPLETED"}),
    f"POST {V1}/runs/{{run_id}}/plan-decision": _c("run_id", "waiting_run", json=DECISION),
    f"GET {V1}/runs/{{run_id}}/timeline": _c("run_id", "run"),
    f"GET {V1}/runs/{{run_id}}/agent-runs": _c("run_id", "run"),
    f"POST {V1}/runs/{{run_id}}/agent-runs": _c("run_id", "run", json={"agent_name": "Spy"}),
    f"POST {V1}/agent-runs/{{agent_run_id}}/running": _c("agent_run_id", "agent_run"),
    f"POST {V1}/agent-runs/{{agent_run_id}}/usage": _c(
        "agent_run_id", "agent_run", json={"tokens_in": 5}
    ),
    f"POST {V1}/agent-runs/{{agent_run_id}}/finish": _c(
        "agent_run_id", "agent_run", json={"status": "COMPLETED"}
    ),
    f"GET {V1}/agents/{{agent_id}}": _c("agent_id", "agent"),
    f"POST {V1}/agents/{{agent_id}}/heartbeat": _c("agent_id", "agent"),
    f"POST {V1}/agents/{{agent_id}}/deregister": _c("agent_id", "agent", json={"reason": "x"}),
    f"PUT {V1}/tasks/{{task_id}}/artifacts/{{name:path}}": _c(
        "task_id", "task", content=b"overwritten", fill={"name": "report.txt"}
    ),
    f"GET {V1}/tasks/{{task_id}}/artifacts": _c("task_id", "task"),
    f"GET {V1}/tasks/{{task_id}}/artifacts/{{name:path}}/versions": _c(
        "task_id", "task", fill={"name": "report.txt"}
    ),
    f"GET {V1}/artifacts/{{artifact_id}}": _c("artifact_id", "artifact"),
    f"GET {V1}/artifacts/{{artifact_id}}/content": _c("artifact_id", "artifact"),
    f"GET {V1}/projects/{{project_id}}": _c("project_id", "project"),
    f"PATCH {V1}/projects/{{project_id}}": _c("project_id", "project", json={"owner": "m"}),
    f"DELETE {V1}/projects/{{project_id}}": _c("project_id", "project"),
    f"POST {V1}/projects/{{project_id}}/contexts": _c("project_id", "project", json={"notes": "x"}),
    f"GET {V1}/projects/{{project_id}}/contexts": _c("project_id", "project"),
    f"GET {V1}/projects/{{project_id}}/contexts/compare": _c(
        "project_id",
        "project",
        params={"from_iteration": 1, "to_iteration": 1},
        also=("context",),
    ),
    f"GET {V1}/projects/{{project_id}}/contexts/{{iteration}}": _c(
        "project_id", "project", fill={"iteration": "1"}, also=("context",)
    ),
    f"POST {V1}/projects/{{project_id}}/modifications": _c(
        "project_id", "project", json={"request": "do it"}
    ),
    f"GET {V1}/projects/{{project_id}}/modifications": _c("project_id", "project"),
    f"GET {V1}/modifications/{{modification_id}}": _c("modification_id", "modification"),
    f"POST {V1}/modifications/{{modification_id}}/decision": _c(
        "modification_id", "modification", json=DECISION
    ),
    f"POST {V1}/modifications/{{modification_id}}/applied": _c(
        "modification_id", "modification", json={}
    ),
    f"POST {V1}/modifications/{{modification_id}}/failed": _c(
        "modification_id", "modification", json={"error_message": "x"}
    ),
    f"GET {V1}/templates/{{template_id}}": _c("template_id", "template"),
    f"PATCH {V1}/templates/{{template_id}}": _c("template_id", "template", json={"tags": ["x"]}),
    f"DELETE {V1}/templates/{{template_id}}": _c("template_id", "template"),
    f"POST {V1}/templates/{{template_id}}/render": _c(
        "template_id", "template", json={"variables": {"title": "x"}}
    ),
    f"POST {V1}/templates/{{template_id}}/projects": _c(
        "template_id", "template", json={"name": "stolen", "variables": {"title": "x"}}
    ),
    f"GET {V1}/recommendations/{{recommendation_id}}": _c("recommendation_id", "recommendation"),
    f"POST {V1}/recommendations/{{recommendation_id}}/decision": _c(
        "recommendation_id", "recommendation", json=DECISION
    ),
    f"GET {V1}/recommendations/{{recommendation_id}}/approvals": _c(
        "recommendation_id", "recommendation"
    ),
    f"POST {V1}/recommendations/{{recommendation_id}}/optimizations": _c(
        "recommendation_id", "approved_recommendation", json={}
    ),
    f"GET {V1}/optimizations/{{optimization_id}}": _c("optimization_id", "optimization"),
    f"POST {V1}/optimizations/{{optimization_id}}/begin": _c("optimization_id", "optimization"),
    f"POST {V1}/optimizations/{{optimization_id}}/progress": _c(
        "optimization_id", "optimization", json={"progress": 10}
    ),
    f"POST {V1}/optimizations/{{optimization_id}}/complete": _c(
        "optimization_id", "optimization", json={}
    ),
    f"POST {V1}/optimizations/{{optimization_id}}/fail": _c(
        "optimization_id", "optimization", json={"error_message": "x"}
    ),
    f"POST {V1}/optimizations/{{optimization_id}}/rollback": _c(
        "optimization_id", "optimization", json={"reason": "x"}
    ),
    f"GET {V1}/pull-requests/{{pull_request_id}}": _c("pull_request_id", "pull_request"),
    f"POST {V1}/pull-requests/{{pull_request_id}}/status": _c(
        "pull_request_id", "pull_request", json={"status": "OPEN"}
    ),
    f"POST {V1}/pull-requests/{{pull_request_id}}/checks": _c(
        "pull_request_id", "pull_request", json={"name": "ci", "status": "PASSED"}
    ),
    f"GET {V1}/pull-requests/{{pull_request_id}}/checks": _c("pull_request_id", "pull_request"),
    f"GET {V1}/pull-requests/{{pull_request_id}}/validation": _c("pull_request_id", "pull_request"),
    f"GET {V1}/views/task-execution-summary/{{task_id}}": _c("task_id", "task"),
    # The dashboard's pages.
    "GET /tasks/{task_id}": _c("task_id", "task"),
    "GET /runs/{run_id}": _c("run_id", "run"),
}

_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _takes_an_id(param: str) -> bool:
    return param == "id" or param.endswith("_id")


def _id_routes() -> list[str]:
    """Every "METHOD path" of the app (API and dashboard) with an id in its path."""
    app = create_app(Settings())
    found: list[str] = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if any(_takes_an_id(p) for p in _PARAM.findall(path)):
            found += [f"{method} {path}" for method in sorted(route.methods or ())]
    return found


ID_ROUTES = _id_routes()


def test_the_route_list_is_really_derived_from_the_app() -> None:
    assert len(ID_ROUTES) >= 60
    assert f"GET {V1}/runs/{{run_id}}" in ID_ROUTES
    assert "GET /runs/{run_id}" in ID_ROUTES  # the dashboard's pages are included
    stale = sorted(set(PATH_CALLS) - set(ID_ROUTES))
    assert not stale, f"requests for routes the app no longer has: {stale}"


def _url(route_path: str, call: Call, asked: Asked) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in call.ids:
            return str(asked[name])
        return call.fill[name]

    return _PARAM.sub(value, route_path)


async def _browser_of(store: Store) -> httpx.AsyncClient:
    """One client for B: its key as a Bearer token (API) and as the dashboard's cookie."""
    key = (await store.api_keys.create("b")).key
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(store)),
        base_url="http://flightlog.test",
        headers={"Authorization": f"Bearer {key}"},
        cookies={COOKIE: key},
    )


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: str


def _answer(response: httpx.Response, asked: Asked) -> Answer:
    return Answer(
        response.status_code, response.headers.get("content-type", ""), asked.masked(response.text)
    )


@pytest.mark.parametrize("route", ID_ROUTES)
async def test_a_foreign_id_in_a_path_answers_like_a_missing_one(
    route: str, owner: World, other: Store
) -> None:
    call = PATH_CALLS.get(route)
    if call is None:
        pytest.fail(f"{route} takes an id but has no request in PATH_CALLS: add one", False)
    method, path = route.split(" ", 1)
    real = await owner.ids((*call.ids.values(), *call.also))
    theirs = Asked({param: real[name] for param, name in call.ids.items()})
    random = Asked({param: uuid.uuid4() for param in call.ids})
    kw: dict[str, Any] = {"params": call.params}
    if call.json is not None:
        kw["json"] = call.json
    if call.content is not None:
        kw["content"] = call.content
    async with await _browser_of(other) as b:
        answers = [
            _answer(await b.request(method, _url(path, call, asked), **kw), asked)
            for asked in (theirs, random)
        ]
    foreign, missing = answers
    assert missing.status == 404, f"the request never reached the id check: {missing}"
    assert foreign == missing


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
    random = _random_like(dict(theirs))
    async with await _browser_of(other) as b:
        answers = []
        for asked in (theirs, random):
            method, url, kw = reference.request(asked, ours)
            answers.append(_answer(await b.request(method, url, **kw), asked))
    foreign, missing = answers
    assert foreign == missing


# --- Python -------------------------------------------------------------------------

Use = Callable[[Store, Asked, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class PyCall:
    theirs: tuple[str, ...]
    use: Use
    mine: tuple[str, ...] = ()


def _py(name: str, use: Callable[[Store, Any], Awaitable[Any]]) -> PyCall:
    return PyCall((name,), lambda s, x, m: use(s, x[name]))


#: Every Store method that takes an id, keyed "facade.method".
STORE_CALLS: dict[str, PyCall] = {
    "tasks.get": _py("task", lambda s, i: s.tasks.get(i)),
    "tasks.update": _py("task", lambda s, i: s.tasks.update(i, title="mine")),
    "tasks.subtasks": _py("task", lambda s, i: s.tasks.subtasks(i)),
    "tasks.dependencies": _py("task", lambda s, i: s.tasks.dependencies(i)),
    "tasks.add_dependency": PyCall(
        ("task",), lambda s, x, m: s.tasks.add_dependency(x["task"], m["task"]), ("task",)
    ),
    "tasks.remove_dependency": PyCall(
        ("task",), lambda s, x, m: s.tasks.remove_dependency(x["task"], m["task"]), ("task",)
    ),
    "tasks.cancel": _py("task", lambda s, i: s.tasks.cancel(i)),
    "tasks.delete": _py("task", lambda s, i: s.tasks.delete(i)),
    "runs.start": _py("task", lambda s, i: s.runs.start(i)),
    "runs.enqueue": _py("task", lambda s, i: s.runs.enqueue(i)),
    "runs.begin": _py("queued_run", lambda s, i: s.runs.begin(i)),
    "runs.get": _py("run", lambda s, i: s.runs.get(i)),
    "runs.list": _py("task", lambda s, i: s.runs.list(i)),
    "runs.timeline": _py("run", lambda s, i: s.runs.timeline(i)),
    "runs.submit_plan": _py("run", lambda s, i: s.runs.submit_plan(i, {"p": 1})),
    "runs.approve_plan": _py("waiting_run", lambda s, i: s.runs.approve_plan(i, decided_by="m")),
    "runs.reject_plan": _py("waiting_run", lambda s, i: s.runs.reject_plan(i, decided_by="m")),
    "runs.finish": _py("run", lambda s, i: s.runs.finish(i)),
    "runs.fail": _py("run", lambda s, i: s.runs.fail(i, error_message="x")),
    "runs.timeout": _py("run", lambda s, i: s.runs.timeout(i)),
    "runs.cancel": _py("run", lambda s, i: s.runs.cancel(i)),
    "agent_runs.start": _py("run", lambda s, i: s.agent_runs.start(i, agent_name="Spy")),
    "agent_runs.running": _py("agent_run", lambda s, i: s.agent_runs.running(i)),
    "agent_runs.record_usage": _py(
        "agent_run", lambda s, i: s.agent_runs.record_usage(i, tokens_in=1)
    ),
    "agent_runs.finish": _py("agent_run", lambda s, i: s.agent_runs.finish(i)),
    "agent_runs.list": _py("run", lambda s, i: s.agent_runs.list(i)),
    "artifacts.put": _py("task", lambda s, i: s.artifacts.put(i, "report.txt", b"x")),
    "artifacts.get": _py("artifact", lambda s, i: s.artifacts.get(i)),
    "artifacts.read": _py("artifact", lambda s, i: s.artifacts.read(i)),
    "artifacts.versions": _py("task", lambda s, i: s.artifacts.versions(i, "report.txt")),
    "artifacts.latest": _py("task", lambda s, i: s.artifacts.latest(i)),
    "claims.heartbeat": _py("task", lambda s, i: s.claims.heartbeat(i, "w1")),
    "api_keys.get": _py("api_key", lambda s, i: s.api_keys.get(i)),
    "api_keys.revoke": _py("api_key", lambda s, i: s.api_keys.revoke(i)),
    "agents.get": _py("agent", lambda s, i: s.agents.get(i)),
    "agents.status": _py("agent", lambda s, i: s.agents.status(i)),
    "agents.heartbeat": _py("agent", lambda s, i: s.agents.heartbeat(i)),
    "agents.deregister": _py("agent", lambda s, i: s.agents.deregister(i)),
    "agents.delete": _py("agent", lambda s, i: s.agents.delete(i)),
    "projects.get": _py("project", lambda s, i: s.projects.get(i)),
    "projects.update": _py("project", lambda s, i: s.projects.update(i, owner="m")),
    "projects.delete": _py("project", lambda s, i: s.projects.delete(i)),
    "project_contexts.add_iteration": _py(
        "project", lambda s, i: s.project_contexts.add_iteration(i, notes="x")
    ),
    "project_contexts.latest": _py("project", lambda s, i: s.project_contexts.latest(i)),
    "project_contexts.get": PyCall(
        ("project", "context"), lambda s, x, m: s.project_contexts.get(x["project"], 1)
    ),
    "project_contexts.list": _py("project", lambda s, i: s.project_contexts.list(i)),
    "project_contexts.compare": PyCall(
        ("project", "context"), lambda s, x, m: s.project_contexts.compare(x["project"], 1, 1)
    ),
    "templates.get": _py("template", lambda s, i: s.templates.get(i)),
    "templates.update": _py("template", lambda s, i: s.templates.update(i, tags=["x"])),
    "templates.delete": _py("template", lambda s, i: s.templates.delete(i)),
    "templates.render": _py("template", lambda s, i: s.templates.render(i, {"title": "x"})),
    "templates.create_project": _py(
        "template",
        lambda s, i: s.templates.create_project(i, name="stolen", variables={"title": "x"}),
    ),
    "modifications.request": _py("project", lambda s, i: s.modifications.request(i, request="r")),
    "modifications.get": _py("modification", lambda s, i: s.modifications.get(i)),
    "modifications.list": _py("project", lambda s, i: s.modifications.list(i)),
    "modifications.decide": _py(
        "modification", lambda s, i: s.modifications.decide(i, approve=True, decided_by="m")
    ),
    "modifications.approve": _py(
        "modification", lambda s, i: s.modifications.approve(i, decided_by="m")
    ),
    "modifications.reject": _py(
        "modification", lambda s, i: s.modifications.reject(i, decided_by="m")
    ),
    "modifications.apply": _py("modification", lambda s, i: s.modifications.apply(i)),
    "modifications.fail": _py(
        "modification", lambda s, i: s.modifications.fail(i, error_message="x")
    ),
    "recommendations.get": _py("recommendation", lambda s, i: s.recommendations.get(i)),
    "recommendations.decide": _py(
        "recommendation", lambda s, i: s.recommendations.decide(i, approve=True, decided_by="m")
    ),
    "recommendations.approve": _py(
        "recommendation", lambda s, i: s.recommendations.approve(i, decided_by="m")
    ),
    "recommendations.reject": _py(
        "recommendation", lambda s, i: s.recommendations.reject(i, decided_by="m")
    ),
    "recommendations.approvals": _py("recommendation", lambda s, i: s.recommendations.approvals(i)),
    "optimizations.start": _py("approved_recommendation", lambda s, i: s.optimizations.start(i)),
    "optimizations.get": _py("optimization", lambda s, i: s.optimizations.get(i)),
    "optimizations.begin": _py("optimization", lambda s, i: s.optimizations.begin(i)),
    "optimizations.report_progress": _py(
        "optimization", lambda s, i: s.optimizations.report_progress(i, 10)
    ),
    "optimizations.complete": _py("optimization", lambda s, i: s.optimizations.complete(i)),
    "optimizations.fail": _py(
        "optimization", lambda s, i: s.optimizations.fail(i, error_message="x")
    ),
    "optimizations.rollback": _py(
        "optimization", lambda s, i: s.optimizations.rollback(i, reason="x")
    ),
    "pull_requests.get": _py("pull_request", lambda s, i: s.pull_requests.get(i)),
    "pull_requests.transition": _py(
        "pull_request", lambda s, i: s.pull_requests.transition(i, "OPEN")
    ),
    "pull_requests.open": _py("pull_request", lambda s, i: s.pull_requests.open(i)),
    "pull_requests.request_changes": _py(
        "pull_request", lambda s, i: s.pull_requests.request_changes(i)
    ),
    "pull_requests.approve": _py("pull_request", lambda s, i: s.pull_requests.approve(i)),
    "pull_requests.merge": _py("pull_request", lambda s, i: s.pull_requests.merge(i)),
    "pull_requests.close": _py("pull_request", lambda s, i: s.pull_requests.close(i)),
    "pull_requests.record_check": _py(
        "pull_request", lambda s, i: s.pull_requests.record_check(i, name="ci", status="PASSED")
    ),
    "pull_requests.checks": _py("pull_request", lambda s, i: s.pull_requests.checks(i)),
    "views.task_execution_summary": _py("task", lambda s, i: s.views.task_execution_summary(i)),
    "views.pr_validation_status": _py("pull_request", lambda s, i: s.views.pr_validation_status(i)),
}


def _id_methods() -> list[str]:
    """Every public Store method with a parameter named ``id`` or ``*_id``."""
    # An engine that never connects: only the Store's facades are looked at.
    engine = create_async_engine("sqlite+aiosqlite:///never-opened.db")
    store = Store(engine, Settings(blob_dir=Path("never-written")), uuid.uuid4())
    found: list[str] = []
    for attr, facade in vars(store).items():
        if not isinstance(facade, _Facade):
            continue
        for name, method in inspect.getmembers(type(facade), inspect.iscoroutinefunction):
            params = inspect.signature(method).parameters
            if not name.startswith("_") and any(_takes_an_id(p) for p in params):
                found.append(f"{attr}.{name}")
    return sorted(found)


ID_METHODS = _id_methods()


def test_the_method_list_is_really_derived_from_the_store() -> None:
    assert len(ID_METHODS) >= 80
    assert "runs.get" in ID_METHODS
    stale = sorted(set(STORE_CALLS) - set(ID_METHODS))
    assert not stale, f"calls for Store methods that no longer exist: {stale}"


def _outcome_text(error: BaseException | None, asked: Asked) -> tuple[str, str, str]:
    if error is None:
        return ("no error", "", "")
    details = getattr(error, "details", {})
    return (
        type(error).__name__,
        asked.masked(str(error)),
        asked.masked(json.dumps(details, default=str, sort_keys=True)),
    )


async def _outcome(call: Awaitable[Any]) -> BaseException | None:
    try:
        await call
    except Exception as exc:  # compared below, whatever it is
        return exc
    return None


@pytest.mark.parametrize("method", ID_METHODS)
async def test_a_foreign_id_given_to_the_store_fails_like_a_missing_one(
    method: str, owner: World, mine: World, other: Store
) -> None:
    call = STORE_CALLS.get(method)
    if call is None:
        pytest.fail(f"store.{method} takes an id but has no call in STORE_CALLS: add one", False)
    theirs = Asked(await owner.ids(call.theirs))
    ours = await mine.ids(call.mine)
    random = _random_like(dict(theirs))
    foreign = await _outcome(call.use(other, theirs, ours))
    missing = await _outcome(call.use(other, random, ours))
    assert isinstance(missing, NotFound), f"the call never reached the id check: {missing!r}"
    assert _outcome_text(foreign, theirs) == _outcome_text(missing, random)


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
    random = _random_like(dict(theirs))
    foreign = await _outcome(call.use(other, theirs, ours))
    missing = await _outcome(call.use(other, random, ours))
    assert _outcome_text(foreign, theirs) == _outcome_text(missing, random)
