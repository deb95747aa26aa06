"""What the contract test does not send, or not count, and why.

Rules across fields of a request cannot be stated by JSON Schema or OpenAPI
parameters, and some 422s depend on the stored entity a path names; each is
written in the document's descriptions instead, and listed here for the test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flightlog.services._common import MAX_CLOCK_SKEW


def _query(case: Any) -> dict[str, Any]:
    return dict(case.query or {})


def _body(case: Any) -> dict[str, Any]:
    return case.body if isinstance(case.body, dict) else {}


def _metrics_owner_missing(case: Any) -> bool:
    query = _query(case)
    return query.get("task_id") is None and query.get("run_id") is None


def _timeline_cursor_broken(case: Any) -> bool:
    query = _query(case)
    complete = []
    for side in ("after", "before"):
        given = [query.get(f"{side}_{name}") is not None for name in ("at", "kind", "key")]
        if not all(given):
            if any(given):
                return True
            continue
        key = str(query[f"{side}_key"])
        if query[f"{side}_kind"] == "agent_run":
            if not (len(key) == 36 and "-" in key):
                return True
        elif not (key.isdigit() and int(key) < 2**63):
            return True
        complete.append(side)
    return len(complete) == 2  # after and before together


def _task_cursors_both(case: Any) -> bool:
    query = _query(case)
    return query.get("cursor") is not None and query.get("before") is not None


def _event_cursors_both(case: Any) -> bool:
    query = _query(case)
    return query.get("before_id") is not None and str(query.get("after_id", "0")) not in ("0", "")


def _variable_both_required_and_optional(case: Any) -> bool:
    body = _body(case)
    required = body.get("required_variables") or []
    optional = body.get("optional_variables") or []
    return bool(set(required) & set(optional))


def _time_in_the_future(case: Any) -> bool:
    """A measured time more than the allowed clock skew ahead of the server's clock."""
    body = _body(case)
    for name in ("started_at", "completed_at", "finished_at"):
        value = body.get(name)
        if not isinstance(value, str):
            continue
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            continue
        if when.tzinfo is not None and when - datetime.now(UTC) > MAX_CLOCK_SKEW:
            return True
    return False


#: (operation, rule, predicate): rules across fields that JSON Schema and OpenAPI
#: parameters cannot state. Each is in the parameter or body descriptions instead,
#: and the server refuses a request that breaks it with a 422.
UNSTATED_RULES: list[tuple[str, str, Callable[[Any], bool]]] = [
    ("GET /api/v1/metrics/series", "task_id or run_id", _metrics_owner_missing),
    ("GET /api/v1/metrics/summary", "task_id or run_id", _metrics_owner_missing),
    (
        "GET /api/v1/runs/{run_id}/timeline",
        "each cursor's _at, _kind and _key together, the key an id of that kind, not both cursors",
        _timeline_cursor_broken,
    ),
    ("GET /api/v1/tasks", "cursor or before, not both", _task_cursors_both),
    ("GET /api/v1/pull-requests/page", "cursor or before, not both", _task_cursors_both),
    ("GET /api/v1/sessions/page", "cursor or before, not both", _task_cursors_both),
    ("GET /api/v1/projects", "cursor or before, not both", _task_cursors_both),
    ("GET /api/v1/project-contexts", "cursor or before, not both", _task_cursors_both),
    ("GET /api/v1/agents/{agent_id}/activity", "cursor or before, not both", _task_cursors_both),
    ("GET /api/v1/events", "after_id or before_id, not both", _event_cursors_both),
    ("GET /api/v1/tasks/{task_id}/agent-runs", "cursor or before, not both", _task_cursors_both),
    ("POST /api/v1/tasks/{task_id}/agent-runs", "a time not in the future", _time_in_the_future),
    ("POST /api/v1/tasks/{task_id}/runs", "a time not in the future", _time_in_the_future),
    ("POST /api/v1/runs/{run_id}/finish", "a time not in the future", _time_in_the_future),
    ("POST /api/v1/runs/{run_id}/agent-runs", "a time not in the future", _time_in_the_future),
    (
        "POST /api/v1/agent-runs/{agent_run_id}/finish",
        "a time not in the future",
        _time_in_the_future,
    ),
    (
        "POST /api/v1/templates",
        "no variable both required and optional",
        _variable_both_required_and_optional,
    ),
    (
        "PATCH /api/v1/templates/{template_id}",
        "no variable both required and optional",
        _variable_both_required_and_optional,
    ),
]


#: (operation, start of the error message): 422s that depend on the entity the path
#: names, which no schema of the request can know; each is in the document's descriptions.
ENTITY_RULES: list[tuple[str, str]] = [
    ("POST /api/v1/templates/{template_id}/render", "cannot render template"),
    ("POST /api/v1/templates/{template_id}/projects", "cannot render template"),
    ("PATCH /api/v1/templates/{template_id}", "the template's files use undeclared variables"),
    ("POST /api/v1/optimizations/{optimization_id}/progress", "progress cannot go backwards"),
    ("POST /api/v1/runs/{run_id}/finish", "completed_at ("),
    ("POST /api/v1/agent-runs/{agent_run_id}/finish", "finished_at ("),
    ("POST /api/v1/runs/{run_id}/agent-runs", "an agent run's started_at ("),
    # The totals a step's usage adds to must stay below what their column holds.
    ("POST /api/v1/agent-runs/{agent_run_id}/usage", "total cost_usd would reach"),
    # Any order but creation order reads the cursor task's sort value: it must be the caller's.
    ("GET /api/v1/tasks", "cursor "),
    ("GET /api/v1/tasks", "before "),
    # A task's agent runs page by start time: the cursor must be one of that task's.
    ("GET /api/v1/tasks/{task_id}/agent-runs", "cursor "),
    ("GET /api/v1/tasks/{task_id}/agent-runs", "before "),
]


def entity_rule(case: Any, response: Any) -> str | None:
    """The entity rule a 422 ``response`` to ``case`` is refused by, or None."""
    if response.status_code != 422:
        return None
    message = response.json()["error"]["message"]
    for label, start in ENTITY_RULES:
        if case.operation.label == label and message.startswith(start):
            return f"{label}: {start}"
    return None


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_contains_nul(item) for item in value)
    return False


def reason_not_to_send(case: Any, dialect: str) -> str | None:
    """Why a schema-valid ``case`` is not sent to the ``dialect``'s database, or None."""
    if not case.meta.generation.mode.is_positive:
        return None
    for label, rule, breaks in UNSTATED_RULES:
        if case.operation.label == label and breaks(case):
            return f"{label}: {rule}"
    if dialect == "postgresql" and any(
        _contains_nul(part) for part in (case.path_parameters, case.query, case.headers, case.body)
    ):
        return "NUL on PostgreSQL"
    return None
