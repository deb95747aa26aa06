"""A foreign id given to a Store method fails like a missing one (see ``two_tenants``).

The methods are derived from the Store, so a new one that takes an id fails
here until it is given a call in ``STORE_CALLS``.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from flightlog.errors import NotFound
from flightlog.settings import Settings
from flightlog.store import Store
from flightlog.store.binding import Facade
from two_tenants import Asked, PyCall, World, masked_outcome, raised_by, random_like, takes_an_id


def _py(name: str, use: Callable[[Store, Any], Awaitable[Any]]) -> PyCall:
    return PyCall((name,), lambda s, x, m: use(s, x[name]))


#: Every Store method that takes an id, keyed "facade.method".
STORE_CALLS: dict[str, PyCall] = {
    "tasks.create": _py("project", lambda s, i: s.tasks.create(title="x", project_id=i)),
    "tasks.list": _py("project", lambda s, i: s.tasks.list(project_id=i)),
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
    "runs.decide_plan": _py(
        "waiting_run", lambda s, i: s.runs.decide_plan(i, approve=True, decided_by="m")
    ),
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
    "agent_runs.start_for_task": _py(
        "task", lambda s, i: s.agent_runs.start_for_task(i, agent_name="Spy")
    ),
    "agent_runs.list_for_task": _py("task", lambda s, i: s.agent_runs.list_for_task(i)),
    "events.list": _py("task", lambda s, i: s.events.list(task_id=i)),
    "metrics.series": _py("run", lambda s, i: s.metrics.series("m", run_id=i)),
    "metrics.summarize": _py("task", lambda s, i: s.metrics.summarize(task_id=i)),
    "metrics.buckets": _py(
        "task", lambda s, i: s.metrics.buckets("m", bucket_seconds=60, task_id=i)
    ),
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
    "agents.activity": _py("agent", lambda s, i: s.agents.activity(i)),
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
    "project_contexts.page": _py("project", lambda s, i: s.project_contexts.page(project_id=i)),
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
    "recommendations.create": _py(
        "project",
        lambda s, i: s.recommendations.create(
            recommendation_type="c", title="t", confidence_score=0.5, project_id=i
        ),
    ),
    "recommendations.list": _py("project", lambda s, i: s.recommendations.list(project_id=i)),
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
    "optimizations.list": _py(
        "approved_recommendation", lambda s, i: s.optimizations.list(recommendation_id=i)
    ),
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
    "pull_requests.create": _py(
        "project", lambda s, i: s.pull_requests.create(project_id=i, branch_name="b", title="t")
    ),
    "pull_requests.list": _py("project", lambda s, i: s.pull_requests.list(project_id=i)),
    "pull_requests.page": _py("project", lambda s, i: s.pull_requests.page(project_id=i)),
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
    "pull_requests.history": _py("pull_request", lambda s, i: s.pull_requests.history(i)),
    "views.active_tasks": _py("project", lambda s, i: s.views.active_tasks(project_id=i)),
    "views.task_execution_summary": _py("task", lambda s, i: s.views.task_execution_summary(i)),
    "views.task_execution_summaries": _py(
        "project", lambda s, i: s.views.task_execution_summaries(project_id=i)
    ),
    "views.pr_validation_statuses": _py(
        "project", lambda s, i: s.views.pr_validation_statuses(project_id=i)
    ),
    "views.pr_validation_status": _py("pull_request", lambda s, i: s.views.pr_validation_status(i)),
    "sessions.get": _py("session", lambda s, i: s.sessions.get(i)),
    "sessions.runs": _py("session", lambda s, i: s.sessions.runs(i)),
    "sessions.list": _py("session", lambda s, i: _named(s.sessions.list(before_id=i))),
    # external_id is a producer's name, not an id; a foreign session id as a cursor:
    "sessions.page": _py("session", lambda s, i: _named(_items(s.sessions.page(before=i)))),
    "traces.get": _py("trace", lambda s, i: s.traces.get(i)),
}
#: Methods whose id is not a tenant's: the operator's price table is one for everyone, and
#: a deleted customer's audit record belongs to no customer (it outlives the customer).
NOT_A_TENANTS_ID = {"model_prices.delete", "customers.deletions"}


async def _named(listed: Awaitable[list[Any]]) -> list[Any]:
    """A list call has nothing to refuse: it answers as if the foreign id were missing.

    ``before_id`` is a cursor; a foreign one must page exactly as an unknown one does,
    and here both pages (of B's own, empty list) are compared, then NotFound is raised
    so the shared check below sees the usual outcome of a missing id.
    """
    found = await listed
    raise NotFound(f"listed {len(found)}")


async def _items(paged: Awaitable[Any]) -> list[Any]:
    """A page's items, for :func:`_named`."""
    return list((await paged).items)


def _id_methods() -> list[str]:
    """Every public Store method with a parameter named ``id`` or ``*_id``."""
    # An engine that never connects: only the Store's facades are looked at.
    engine = create_async_engine("sqlite+aiosqlite:///never-opened.db")
    store = Store(engine, Settings(blob_dir=Path("never-written")), uuid.uuid4())
    found: list[str] = []
    for attr, facade in vars(store).items():
        if not isinstance(facade, Facade):
            continue
        # On the instance: bound operations become their typed methods on access.
        for name, method in inspect.getmembers(facade, inspect.iscoroutinefunction):
            params = inspect.signature(method).parameters
            if not name.startswith("_") and any(takes_an_id(p) for p in params):
                found.append(f"{attr}.{name}")
    found = [method for method in found if method not in NOT_A_TENANTS_ID]
    return sorted(found)


ID_METHODS = _id_methods()


def test_the_method_list_is_really_derived_from_the_store() -> None:
    assert len(ID_METHODS) >= 80
    assert "runs.get" in ID_METHODS
    stale = sorted(set(STORE_CALLS) - set(ID_METHODS))
    assert not stale, f"calls for Store methods that no longer exist: {stale}"


@pytest.mark.parametrize("method", ID_METHODS)
async def test_a_foreign_id_given_to_the_store_fails_like_a_missing_one(
    method: str, owner: World, mine: World, other: Store
) -> None:
    call = STORE_CALLS.get(method)
    if call is None:
        pytest.fail(f"store.{method} takes an id but has no call in STORE_CALLS: add one", False)
    theirs = Asked(await owner.ids(call.theirs))
    ours = await mine.ids(call.mine)
    random = random_like(dict(theirs))
    foreign = await raised_by(call.use(other, theirs, ours))
    missing = await raised_by(call.use(other, random, ours))
    assert isinstance(missing, NotFound), f"the call never reached the id check: {missing!r}"
    assert masked_outcome(foreign, theirs) == masked_outcome(missing, random)
