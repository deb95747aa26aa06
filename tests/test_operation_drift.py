"""Every field a service accepts is reachable over HTTP (issue 11, drift between copies).

Each row pairs a request body with the service function it feeds. A
keyword parameter the service takes (or a field of the set it accepts
through ``**fields``) that the body does not carry fails here, unless the
row names it as deliberately not exposed, with the reason. So adding a
parameter to a service without exposing it fails a test, and so does a body
field the service would refuse, or one whose type the parameter does not
take. (The bodies stay written out, with the lengths, patterns and bounds the
OpenAPI document states; see docs/decisions/0007.)
"""

from __future__ import annotations

import inspect
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Union

import pytest
from pydantic import AwareDatetime, BaseModel

from api_client import client_of, error_code, ok
from flightlog.schemas.agent_runs import AgentRunFinish, AgentRunStart, Usage
from flightlog.schemas.agents import AgentRegistration, Deregistration
from flightlog.schemas.claims import ClaimRequest, Heartbeat
from flightlog.schemas.modifications import Applied, ModificationFailure, ModificationIn
from flightlog.schemas.projects import ContextIn, ProjectIn, ProjectUpdate
from flightlog.schemas.pull_requests import CheckIn, PullRequestIn, PullRequestMove
from flightlog.schemas.recommendations import (
    Decision,
    Failure,
    OptimizationBegin,
    OptimizationDone,
    OptimizationStart,
    Progress,
    RecommendationIn,
    Rollback,
)
from flightlog.schemas.runs import PlanDecision, RunBegin, RunFinish, RunQueue, RunStart
from flightlog.schemas.tasks import CancelIn, TaskCreate, TaskOut, TaskUpdate
from flightlog.schemas.templates import (
    ProjectFromTemplateIn,
    TemplateIn,
    TemplateUpdate,
    Variables,
)
from flightlog.services import (
    agent_runs,
    agents,
    claims,
    modifications,
    optimizations,
    project_contexts,
    projects,
    pull_requests,
    recommendations,
    run_queue,
    runs,
    tasks,
    templates,
)
from flightlog.services._common import Unset
from flightlog.store import Store

#: Never in a body: the session, the tenant (from the key), and ids taken from the path.
_NEVER_IN_A_BODY = frozenset({"session", "customer_id"})


@dataclass(frozen=True)
class Pair:
    body: type[BaseModel]
    service: Callable[..., Any]
    #: What the service takes through ``**fields`` (its own declared set).
    accepts: frozenset[str] = frozenset()
    #: Parameters taken from the path or query, not the body.
    from_path: frozenset[str] = frozenset()
    #: Parameters deliberately not in the body, each with the reason.
    not_exposed: dict[str, str] = field(default_factory=dict)
    #: The route drops null fields (``model_dump(exclude_none=True)``): null means left out,
    #: also for a parameter that takes no None.
    null_is_left_out: bool = False


PAIRS = [
    Pair(TaskCreate, tasks.create_task),
    Pair(TaskUpdate, tasks.update_task, from_path=frozenset({"task_id"})),
    Pair(CancelIn, runs.cancel_task, from_path=frozenset({"task_id"})),
    Pair(RunStart, runs.start_run, from_path=frozenset({"task_id"})),
    Pair(RunQueue, run_queue.enqueue_run, from_path=frozenset({"task_id"})),
    Pair(RunBegin, run_queue.begin_run, from_path=frozenset({"run_id"})),
    Pair(RunFinish, runs.finish_run, from_path=frozenset({"run_id"})),
    Pair(PlanDecision, runs.decide_plan, from_path=frozenset({"run_id"})),
    Pair(AgentRunStart, agent_runs.start_agent_run, from_path=frozenset({"run_id"})),
    Pair(AgentRunStart, agent_runs.start_task_agent_run, from_path=frozenset({"task_id"})),
    Pair(Usage, agent_runs.record_usage, from_path=frozenset({"agent_run_id"})),
    Pair(AgentRunFinish, agent_runs.finish_agent_run, from_path=frozenset({"agent_run_id"})),
    Pair(ClaimRequest, claims.claim),
    Pair(Heartbeat, claims.heartbeat),
    Pair(
        AgentRegistration,
        agents.register,
        not_exposed={"actor": "registration is the agent's own act: the actor is its name"},
    ),
    Pair(Deregistration, agents.deregister, from_path=frozenset({"agent_id"})),
    Pair(ProjectIn, projects.create_project),
    Pair(ProjectUpdate, projects.update_project, from_path=frozenset({"project_id"})),
    Pair(ContextIn, project_contexts.add_iteration, from_path=frozenset({"project_id"})),
    Pair(RecommendationIn, recommendations.create_recommendation, null_is_left_out=True),
    Pair(Decision, recommendations.decide, from_path=frozenset({"recommendation_id"})),
    Pair(
        OptimizationStart,
        optimizations.start_optimization,
        from_path=frozenset({"recommendation_id"}),
    ),
    Pair(OptimizationBegin, optimizations.begin, from_path=frozenset({"optimization_id"})),
    Pair(Progress, optimizations.report_progress, from_path=frozenset({"optimization_id"})),
    Pair(OptimizationDone, optimizations.complete, from_path=frozenset({"optimization_id"})),
    Pair(Failure, optimizations.fail, from_path=frozenset({"optimization_id"})),
    Pair(Rollback, optimizations.rollback, from_path=frozenset({"optimization_id"})),
    Pair(
        ModificationIn,
        modifications.request_modification,
        from_path=frozenset({"project_id"}),
        null_is_left_out=True,
    ),
    Pair(Decision, modifications.decide, from_path=frozenset({"modification_id"})),
    Pair(Applied, modifications.apply, from_path=frozenset({"modification_id"})),
    Pair(ModificationFailure, modifications.fail, from_path=frozenset({"modification_id"})),
    Pair(PullRequestIn, pull_requests.create_pull_request),
    Pair(
        PullRequestMove,
        pull_requests.transition_pull_request,
        from_path=frozenset({"pull_request_id"}),
    ),
    Pair(CheckIn, pull_requests.record_check, from_path=frozenset({"pull_request_id"})),
    Pair(TemplateIn, templates.create_template),
    Pair(TemplateUpdate, templates.update_template, from_path=frozenset({"template_id"})),
    Pair(Variables, templates.render, from_path=frozenset({"template_id"})),
    Pair(
        ProjectFromTemplateIn,
        templates.create_project_from_template,
        from_path=frozenset({"template_id"}),
    ),
]


def _service_takes(pair: Pair) -> set[str]:
    parameters = inspect.signature(pair.service).parameters.values()
    named = {
        p.name
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        and p.name not in _NEVER_IN_A_BODY | pair.from_path
    }
    return named | set(pair.accepts)


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p.body.__name__}->{p.service.__name__}")
def test_every_service_parameter_is_in_the_request_body(pair: Pair) -> None:
    missing = _service_takes(pair) - set(pair.body.model_fields) - set(pair.not_exposed)
    assert not missing, (
        f"{pair.service.__module__}.{pair.service.__name__} takes {sorted(missing)}, "
        f"which {pair.body.__name__} cannot carry: expose them or list why not"
    )


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p.body.__name__}->{p.service.__name__}")
def test_every_body_field_is_taken_by_the_service(pair: Pair) -> None:
    extra = set(pair.body.model_fields) - _service_takes(pair)
    assert not extra, f"{pair.body.__name__} carries {sorted(extra)}, which the service refuses"


def _classes(annotation: Any) -> set[Any]:
    """The classes a value of ``annotation`` may be (constraints and type arguments aside)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _classes(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return set().union(*(_classes(arg) for arg in typing.get_args(annotation)))
    if origin is Literal:
        return {type(value) for value in typing.get_args(annotation)}
    if annotation is None:
        return {type(None)}
    if annotation is Any:
        return {object}
    if annotation is AwareDatetime:
        return {datetime}  # pydantic's marker type: what it validates to is a datetime
    return {origin or annotation}


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p.body.__name__}->{p.service.__name__}")
def test_every_body_field_has_a_type_the_service_takes(pair: Pair) -> None:
    hints = typing.get_type_hints(pair.service, include_extras=True)
    wrong = {}
    for name, body_field in pair.body.model_fields.items():
        if name not in hints:
            continue  # taken through **fields: the service checks those itself
        takes = _classes(hints[name]) - {Unset}
        sends = _classes(body_field.annotation)
        if pair.null_is_left_out:
            sends.discard(type(None))
        refused = {kind for kind in sends if not any(issubclass(kind, t) for t in takes)}
        if refused:
            wrong[name] = sorted(kind.__name__ for kind in refused)
    assert not wrong, (
        f"{pair.body.__name__} sends values {pair.service.__name__} does not take: {wrong}"
    )


def test_a_task_round_trips_every_field_over_http() -> None:
    """What a body can set, the response shows (max_rounds and memory_size were missing)."""
    settable = set(TaskCreate.model_fields) - {"depends_on", "actor"}
    assert settable <= set(TaskOut.model_fields)


async def test_max_rounds_and_memory_size_are_set_and_read_over_http(store: Store) -> None:
    async with client_of(store) as api:
        task = ok(
            await api.post("/tasks", json={"title": "chatty", "max_rounds": 7, "memory_size": 99}),
            201,
        )
        assert (task["max_rounds"], task["memory_size"]) == (7, 99)
        changed = ok(
            await api.patch(
                f"/tasks/{task['id']}",
                json={"max_rounds": 3, "result_summary": "done in three"},
            )
        )
        assert (changed["max_rounds"], changed["memory_size"]) == (3, 99)
        assert changed["result_summary"] == "done in three"
        refused = await api.patch(f"/tasks/{task['id']}", json={"memory_size": 0})
        assert error_code(refused, 422) == "validation_error"
    stored = await store.tasks.get(uuid.UUID(task["id"]))
    assert (stored.max_rounds, stored.memory_size) == (3, 99)
