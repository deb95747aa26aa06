"""The documented shapes of seed 004's JSON: a task's requirements and an execution context.

Seed 004 gives examples of both (docs/schema.md, "Seed 004")::

    requirements: {"type": "feature", "priority": 1, "complexity": "medium",
                   "estimated_hours": 8, "dependencies": ["task_123"],
                   "acceptance_criteria": ["Write unit tests"]}
    context:      {"agent_config": {"model": "gpt-4", "temperature": 0.7, "max_tokens": 4000},
                   "files": ["src/auth.py"], "environment": "development",
                   "repository": {"branch": "feature/auth", "commit": "abc123def456"}}

The columns stay free-form JSON objects: a key not named here is kept as it
is. A known key, when present, must have its documented type and range, so a
query such as ``requirements @> '{"priority": 1}'`` finds every task of
priority 1 rather than missing those stored as ``"1"``. The execution-context
shape applies to ``tasks.context`` and to a run's ``input_context``. Every
problem is reported at once, each with its path (``requirements.priority``),
in the :class:`ValidationError`'s message and its ``problems`` detail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from flightlog.errors import ValidationError

#: The largest value an INTEGER column holds on PostgreSQL (a task's priority).
MAX_INT = 2**31 - 1
#: The longest short label (type, complexity, environment, model, branch, commit).
MAX_LABEL = 255

#: A check of one value at a path: the problems it has (none when it is right).
Check = Callable[[Any, str], list[tuple[str, str]]]


def _label(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, str) and value.strip() and len(value) <= MAX_LABEL:
        return []
    return [(path, f"must be a non-empty string of at most {MAX_LABEL} characters")]


def _integer(low: int, high: int) -> Check:
    def check(value: Any, path: str) -> list[tuple[str, str]]:
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return []
        return [(path, f"must be an integer between {low:,} and {high:,}")]

    return check


def _number(low: float, high: float) -> Check:
    def check(value: Any, path: str) -> list[tuple[str, str]]:
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and low <= value <= high
        ):
            return []
        return [(path, f"must be a number between {low:g} and {high:g}")]

    return check


def _labels(value: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return [(path, "must be a list of non-empty strings")]
    return [
        (f"{path}[{index}]", "must be a non-empty string")
        for index, item in enumerate(value)
        if not (isinstance(item, str) and item.strip())
    ]


def _object(known: Mapping[str, Check]) -> Check:
    """A JSON object whose ``known`` keys, when present, pass their checks."""

    def check(value: Any, path: str) -> list[tuple[str, str]]:
        if not isinstance(value, Mapping):
            return [(path, "must be a JSON object")]
        problems: list[tuple[str, str]] = []
        for key, check_key in known.items():
            if key in value:
                problems += check_key(value[key], f"{path}.{key}")
        return problems

    return check


#: ``tasks.requirements``: what the work is and how big.
REQUIREMENTS: Mapping[str, Check] = {
    "type": _label,
    "priority": _integer(-MAX_INT, MAX_INT),
    "complexity": _label,
    "estimated_hours": _number(0, 1e9),
    "dependencies": _labels,
    "acceptance_criteria": _labels,
}
#: ``agent_config`` inside an execution context: the model and how it is sampled.
AGENT_CONFIG: Mapping[str, Check] = {
    "model": _label,
    "temperature": _number(0, 2),
    "max_tokens": _integer(1, MAX_INT),
}
#: ``repository`` inside an execution context: where the code is.
REPOSITORY: Mapping[str, Check] = {"branch": _label, "commit": _label}
#: ``tasks.context`` and ``task_runs.input_context``: what an agent works with.
EXECUTION_CONTEXT: Mapping[str, Check] = {
    "agent_config": _object(AGENT_CONFIG),
    "files": _labels,
    "repository": _object(REPOSITORY),
    "environment": _label,
}


def _raise(problems: list[tuple[str, str]]) -> None:
    if problems:
        raise ValidationError(
            "; ".join(f"{path} {message}" for path, message in problems),
            field=problems[0][0],
            problems=[{"location": path, "message": message} for path, message in problems],
        )


def check_requirements(value: Any, path: str = "requirements") -> None:
    """Refuse requirements whose known keys have the wrong type or range."""
    _raise(_object(REQUIREMENTS)(value, path))


def check_execution_context(value: Any, path: str = "context") -> None:
    """Refuse an execution context whose known keys have the wrong type or range."""
    _raise(_object(EXECUTION_CONTEXT)(value, path))


__all__ = [
    "AGENT_CONFIG",
    "EXECUTION_CONTEXT",
    "REPOSITORY",
    "REQUIREMENTS",
    "check_execution_context",
    "check_requirements",
]
