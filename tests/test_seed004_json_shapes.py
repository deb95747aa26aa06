"""Seed 004's documented JSON shapes: known keys are checked, unknown keys are kept.

``requirements`` (type, priority, complexity, estimated_hours, dependencies,
acceptance_criteria) and the execution context (agent_config, files,
repository, environment) of a task's ``context`` and a run's ``input_context``:
a known key with the wrong type or range is refused by the Store and by HTTP,
naming its path, and nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from api_client import client_of, error_code
from flightlog import ValidationError
from flightlog.store import Store

SEED_REQUIREMENTS = {
    "type": "feature",
    "priority": 1,
    "complexity": "medium",
    "estimated_hours": 8,
    "dependencies": ["task_123", "external_api"],
    "acceptance_criteria": ["Implement user authentication", "Write unit tests"],
    "owner_team": {"free": ["form"]},
}
SEED_CONTEXT = {
    "agent_config": {"model": "gpt-4", "temperature": 0.7, "max_tokens": 4000, "top_p": 1},
    "files": ["src/auth.py", "tests/test_auth.py"],
    "repository": {"branch": "feature/auth", "commit": "abc123def456", "url": "x"},
    "environment": "development",
    "anything": [1, "else"],
}

BAD_REQUIREMENTS: list[tuple[dict[str, Any], str]] = [
    ({"priority": "1"}, "requirements.priority"),
    ({"priority": True}, "requirements.priority"),
    ({"priority": 1.5}, "requirements.priority"),
    ({"priority": 2**40}, "requirements.priority"),
    ({"type": ""}, "requirements.type"),
    ({"type": 3}, "requirements.type"),
    ({"complexity": None}, "requirements.complexity"),
    ({"estimated_hours": -1}, "requirements.estimated_hours"),
    ({"estimated_hours": "8"}, "requirements.estimated_hours"),
    ({"dependencies": "task_123"}, "requirements.dependencies"),
    ({"acceptance_criteria": ["ok", 2]}, "requirements.acceptance_criteria[1]"),
]
BAD_CONTEXTS: list[tuple[dict[str, Any], str]] = [
    ({"agent_config": "gpt-4"}, "agent_config"),
    ({"agent_config": {"temperature": 3}}, "agent_config.temperature"),
    ({"agent_config": {"max_tokens": 0}}, "agent_config.max_tokens"),
    ({"agent_config": {"model": ""}}, "agent_config.model"),
    ({"files": "src/auth.py"}, "files"),
    ({"files": ["a.py", ""]}, "files[1]"),
    ({"repository": {"branch": 7}}, "repository.branch"),
    ({"repository": ["main"]}, "repository"),
    ({"environment": {"name": "dev"}}, "environment"),
]


async def test_seed004_documented_shapes_are_kept_with_unknown_keys(store: Store) -> None:
    task = await store.tasks.create(
        title="auth", requirements=SEED_REQUIREMENTS, context=SEED_CONTEXT
    )
    assert (task.requirements, task.context) == (SEED_REQUIREMENTS, SEED_CONTEXT)
    run = await store.runs.start(task.id, input_context=SEED_CONTEXT)
    assert run.input_context == SEED_CONTEXT
    hours = await store.tasks.update(task.id, requirements={"estimated_hours": 2.5})
    assert hours.requirements == {"estimated_hours": 2.5}


@pytest.mark.parametrize(("requirements", "path"), BAD_REQUIREMENTS)
async def test_seed004_bad_requirements_are_refused_naming_the_field(
    store: Store, requirements: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationError, match="^" + re.escape(path)) as e:
        await store.tasks.create(title="bad", requirements=requirements)
    assert e.value.details["field"] == path
    task = await store.tasks.create(title="good")
    with pytest.raises(ValidationError):
        await store.tasks.update(task.id, requirements=requirements)
    assert (await store.tasks.get(task.id)).requirements == {}
    assert [t.title for t in (await store.tasks.list()).items] == ["good"]


@pytest.mark.parametrize(("context", "path"), BAD_CONTEXTS)
async def test_seed004_bad_execution_contexts_are_refused_naming_the_field(
    store: Store, context: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationError) as on_task:
        await store.tasks.create(title="bad", context=context)
    assert on_task.value.details["field"] == f"context.{path}"
    task = await store.tasks.create(title="good")
    with pytest.raises(ValidationError) as on_run:
        await store.runs.start(task.id, input_context=context)
    assert on_run.value.details["field"] == f"input_context.{path}"
    with pytest.raises(ValidationError):
        await store.runs.enqueue(task.id, input_context=context)
    assert (await store.tasks.get(task.id)).total_runs == 0


async def test_seed004_every_problem_is_named_at_once_over_http(store: Store) -> None:
    async with client_of(store) as api:
        body = {
            "title": "bad",
            "requirements": {"priority": "high", "estimated_hours": -2, "extra": "kept"},
            "context": {"agent_config": {"temperature": "hot"}},
        }
        refused = await api.post("/tasks", json=body)
        assert error_code(refused, 422) == "validation_error"
        error = refused.json()["error"]
        locations = [p["location"] for p in error["details"]["problems"]]
        assert locations == ["requirements.priority", "requirements.estimated_hours"]
        assert "requirements.priority must be an integer" in error["message"]
        task = (await api.post("/tasks", json={"title": "ok"})).json()
        run = await api.post(f"/tasks/{task['id']}/runs", json={"input_context": {"files": [1]}})
        assert error_code(run, 422) == "validation_error"
        assert run.json()["error"]["details"]["field"] == "input_context.files[0]"
        listed = (await api.get("/tasks")).json()["items"]
        assert [t["title"] for t in listed] == ["ok"]
