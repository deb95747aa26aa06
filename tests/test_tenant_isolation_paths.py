"""A foreign id in a URL path answers like a missing one (see ``two_tenants``).

The routes are derived from the app (API and dashboard), so a new one with an
id in its path fails here until it is given a request in ``PATH_CALLS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from flightlog.api import create_app
from flightlog.settings import Settings
from flightlog.store import Store
from flightlog.web.session import COOKIE, csrf_token
from two_tenants import V1, Asked, World, browser_of, masked_answer, random_like, takes_an_id


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


DECISION = {"approve": True, "decided_by": "mallory"}
#: A dashboard action form's own fields (the session's token is added per client).
ACT = {"decision": "approve"}

#: Every route with an id in its path, keyed "METHOD path" exactly as the app declares it.
PATH_CALLS: dict[str, Call] = {
    f"GET {V1}/sessions/{{session_id}}": _c("session_id", "session"),
    f"GET {V1}/sessions/{{session_id}}/runs": _c("session_id", "session"),
    f"GET {V1}/traces/{{trace_id}}": _c("trace_id", "trace"),
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
    f"GET {V1}/tasks/{{task_id}}/agent-runs": _c("task_id", "task"),
    f"POST {V1}/tasks/{{task_id}}/agent-runs": _c("task_id", "task", json={"agent_name": "Spy"}),
    f"POST {V1}/agent-runs/{{agent_run_id}}/running": _c("agent_run_id", "agent_run"),
    f"POST {V1}/agent-runs/{{agent_run_id}}/usage": _c(
        "agent_run_id", "agent_run", json={"tokens_in": 5}
    ),
    f"POST {V1}/agent-runs/{{agent_run_id}}/finish": _c(
        "agent_run_id", "agent_run", json={"status": "COMPLETED"}
    ),
    f"GET {V1}/agents/{{agent_id}}": _c("agent_id", "agent"),
    f"GET {V1}/agents/{{agent_id}}/activity": _c("agent_id", "agent"),
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
    f"GET {V1}/pull-requests/{{pull_request_id}}/history": _c("pull_request_id", "pull_request"),
    f"GET {V1}/pull-requests/{{pull_request_id}}/validation": _c("pull_request_id", "pull_request"),
    f"GET {V1}/views/task-execution-summary/{{task_id}}": _c("task_id", "task"),
    # The dashboard's pages.
    "GET /tasks/{task_id}": _c("task_id", "task"),
    "GET /runs/{run_id}": _c("run_id", "run"),
    "GET /agents/{agent_id:path}": _c("agent_id", "agent"),
    "GET /projects/{project_id}": _c("project_id", "project"),
    "GET /sessions/{session_id}": _c("session_id", "session"),
    "GET /pull-requests/{pull_request_id}": _c("pull_request_id", "pull_request"),
    "GET /artifacts/{artifact_id}": _c("artifact_id", "artifact"),
    "GET /artifacts/{artifact_id}/download": _c("artifact_id", "artifact"),
    "GET /artifacts/{artifact_id}/image": _c("artifact_id", "artifact"),
    # The dashboard's actions: forms, sent with B's session token (see _form).
    "POST /actions/runs/{run_id}/plan": _c("run_id", "waiting_run", params=ACT),
    "POST /actions/runs/{run_id}/cancel": _c("run_id", "run", params=ACT),
    "POST /actions/tasks/{task_id}/cancel": _c("task_id", "task", params=ACT),
    "POST /actions/tasks/{task_id}/retry": _c("task_id", "task", params=ACT),
    "POST /actions/recommendations/{recommendation_id}/decision": _c(
        "recommendation_id", "recommendation", params=ACT
    ),
    "POST /actions/modifications/{modification_id}/decision": _c(
        "modification_id", "modification", params=ACT
    ),
    "POST /actions/modifications/{modification_id}/applied": _c(
        "modification_id", "modification", params=ACT
    ),
    "POST /actions/pull-requests/{pull_request_id}/status": _c(
        "pull_request_id", "pull_request", params={"status": "APPROVED"}
    ),
    # An operator route: it acts on any customer by design, and refuses a tenant's key (403)
    # the same way whatever customer it names (see OPERATOR_ROUTES).
    f"DELETE {V1}/customers/{{customer_id}}": _c("customer_id", "customer"),
}
#: Routes only an ``operator``-scope key may call; to any other key they answer 403, never 404.
OPERATOR_ROUTES = {f"DELETE {V1}/customers/{{customer_id}}"}

_PARAM = re.compile(r"{(\w+)(?::\w+)?}")


def _id_routes() -> list[str]:
    """Every "METHOD path" of the app (API and dashboard) with an id in its path."""
    app = create_app(Settings())
    found: list[str] = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if any(takes_an_id(p) for p in _PARAM.findall(path)):
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


def _request_of(call: Call, path: str, b: httpx.AsyncClient) -> dict[str, Any]:
    """The request's parts for httpx: a JSON body, raw bytes, or (an action) a form."""
    if path.startswith("/actions/"):
        # A form, as the dashboard posts it: its fields and B's own session token.
        return {"data": {**(call.params or {}), "csrf": csrf_token(b.cookies[COOKIE])}}
    kw: dict[str, Any] = {"params": call.params}
    if call.json is not None:
        kw["json"] = call.json
    if call.content is not None:
        kw["content"] = call.content
    return kw


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
    random = random_like(dict(theirs))
    async with await browser_of(other) as b:
        kw = _request_of(call, path, b)
        answers = [
            masked_answer(await b.request(method, _url(path, call, asked), **kw), asked)
            for asked in (theirs, random)
        ]
    foreign, missing = answers
    if route in OPERATOR_ROUTES:
        assert missing.status == 403, missing
        assert foreign == missing
        return
    assert missing.status == 404, f"the request never reached the id check: {missing}"
    assert foreign == missing
