"""Which run and which step the running code is in, per thread and per asyncio task.

Kept in :mod:`contextvars`, so every asyncio task has its own current step
(a task starts with a copy of its creator's context: it sees the run and
step it was created in, and the steps it opens are its own). A new thread
starts with an empty context, so it is in no run; to carry the current run
and step into a thread, wrap the function with :func:`in_current_context`
(``asyncio.to_thread`` copies the context itself).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from flightlog.tracing.scopes import Run, Step

P = ParamSpec("P")
R = TypeVar("R")

current_run_var: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "flightlog_tracing_run", default=None
)
current_step_var: contextvars.ContextVar[Step | None] = contextvars.ContextVar(
    "flightlog_tracing_step", default=None
)


def current_run() -> Run | None:
    """The run whose block the calling code is in, or None."""
    return current_run_var.get()


def current_step() -> Step | None:
    """The innermost step (``run.agent`` block or ``@agent_step`` call) the code is in, or None."""
    return current_step_var.get()


def in_current_context(func: Callable[P, R]) -> Callable[P, R]:
    """``func``, to run on another thread inside the caller's current run and step.

    The context is captured now; each call runs in its own copy of it, so
    several threads can run the wrapped function at once and the steps each
    opens stay its own::

        with tracer.run(title="fan out") as run, run.agent("lead"):
            with ThreadPoolExecutor() as pool:
                list(pool.map(fl.in_current_context(research), topics))
    """
    captured = contextvars.copy_context()

    @functools.wraps(func)
    def run_in_context(*args: P.args, **kwargs: P.kwargs) -> R:
        return captured.copy().run(func, *args, **kwargs)

    return run_in_context
