"""Transition tables: the only way a status may change.

Each lifecycle lists, for every status, the statuses it may move to. A
change not in the table raises :class:`InvalidTransition` naming both ends,
before anything is written. Terminal statuses map to an empty set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from flightlog.enums import AgentRunStatus, RunStatus, TaskStatus
from flightlog.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class Lifecycle(Generic[S]):
    """A named transition table over one status enum."""

    entity: str
    transitions: Mapping[S, frozenset[S]]

    def allowed(self, current: S, target: S) -> bool:
        return target in self.transitions.get(current, frozenset())

    def check(self, current: S, target: S) -> None:
        """Raise :class:`InvalidTransition` unless ``current -> target`` is in the table."""
        if not self.allowed(current, target):
            raise InvalidTransition(self.entity, current.value, target.value)

    def terminal(self, status: S) -> bool:
        return not self.transitions.get(status)


def _table(entries: dict[S, set[S]]) -> dict[S, frozenset[S]]:
    return {status: frozenset(targets) for status, targets in entries.items()}


_T = TaskStatus
#: A task may be re-run after it finished (seed 000 runs tasks repeatedly), but a
#: cancelled task stays cancelled. RUNNING -> PENDING is a released or expired claim.
TASK_LIFECYCLE: Lifecycle[TaskStatus] = Lifecycle(
    "Task",
    _table(
        {
            _T.PENDING: {_T.RUNNING, _T.CANCELLED},
            _T.RUNNING: {_T.PENDING, _T.COMPLETED, _T.FAILED, _T.TIMEOUT, _T.CANCELLED},
            _T.COMPLETED: {_T.RUNNING, _T.PENDING},
            _T.FAILED: {_T.RUNNING, _T.PENDING, _T.CANCELLED},
            _T.TIMEOUT: {_T.RUNNING, _T.PENDING, _T.CANCELLED},
            _T.CANCELLED: set(),
        }
    ),
)

_R = RunStatus
#: A run may pause for plan approval before or while running; a rejected plan
#: cancels the run. COMPLETED, FAILED, TIMEOUT and CANCELLED are final.
RUN_LIFECYCLE: Lifecycle[RunStatus] = Lifecycle(
    "TaskRun",
    _table(
        {
            _R.PENDING: {_R.RUNNING, _R.WAITING_APPROVAL, _R.FAILED, _R.CANCELLED},
            _R.WAITING_APPROVAL: {_R.RUNNING, _R.CANCELLED, _R.TIMEOUT},
            _R.RUNNING: {
                _R.WAITING_APPROVAL,
                _R.COMPLETED,
                _R.FAILED,
                _R.TIMEOUT,
                _R.CANCELLED,
            },
            _R.COMPLETED: set(),
            _R.FAILED: set(),
            _R.TIMEOUT: set(),
            _R.CANCELLED: set(),
        }
    ),
)

_A = AgentRunStatus
AGENT_RUN_LIFECYCLE: Lifecycle[AgentRunStatus] = Lifecycle(
    "AgentRun",
    _table(
        {
            _A.STARTED: {_A.RUNNING, _A.COMPLETED, _A.FAILED, _A.CANCELLED},
            _A.RUNNING: {_A.COMPLETED, _A.FAILED, _A.CANCELLED},
            _A.COMPLETED: set(),
            _A.FAILED: set(),
            _A.CANCELLED: set(),
        }
    ),
)

ACTIVE_RUN_STATUSES = frozenset({_R.PENDING, _R.WAITING_APPROVAL, _R.RUNNING})
ACTIVE_AGENT_RUN_STATUSES = frozenset({_A.STARTED, _A.RUNNING})
