"""``@agent_step``: a function (sync or async) whose every call is a step of the current run.

The step nests under the step the call happens in, summarises the call's
arguments as its input and the return value as its output (each at most
``summary_chars``; switch either off with ``capture_input=False`` /
``capture_output=False``, e.g. for secrets), and ends FAILED with the
exception, which propagates unchanged. Called outside any run, the function
simply runs, unrecorded (a warning says so once per step name).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast, overload

from flightlog.tracing import summary
from flightlog.tracing.context import current_run_var
from flightlog.tracing.scopes import Run, Step

log = logging.getLogger("flightlog.tracing")

P = ParamSpec("P")
R = TypeVar("R")

_warned_outside: set[str] = set()


def _open_step(
    name: str,
    func: Callable[..., object],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    capture_input: bool,
) -> Step | None:
    run: Run | None = current_run_var.get()
    if run is None:
        if name not in _warned_outside:
            _warned_outside.add(name)
            log.warning(
                "Flightlog tracing: @agent_step %r ran outside any run and is not recorded; "
                "call it inside `with tracer.run(...)` (in a thread: fl.in_current_context)",
                name,
            )
        return None
    described = summary.describe_call(func, args, kwargs, run._limit) if capture_input else None
    return run.agent(name, input=described)  # nested under the current step of this run


def _wrap(
    func: Callable[P, R], name: str | None, capture_input: bool, capture_output: bool
) -> Callable[P, R]:
    step_name: str = name or str(getattr(func, "__name__", "step"))
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(
            f"@agent_step cannot time the generator {step_name!r}: a call returns at once; "
            "open `with run.agent(...)` inside it instead"
        )
    if inspect.iscoroutinefunction(func):
        coroutine = cast(Callable[P, Awaitable[Any]], func)

        @functools.wraps(func)
        async def traced_async(*args: P.args, **kwargs: P.kwargs) -> Any:
            step = _open_step(step_name, func, args, kwargs, capture_input)
            if step is None:
                return await coroutine(*args, **kwargs)
            with step:
                result = await coroutine(*args, **kwargs)
                if capture_output and not step.has_output:
                    step.set_output(result)
                return result

        return cast(Callable[P, R], traced_async)

    @functools.wraps(func)
    def traced(*args: P.args, **kwargs: P.kwargs) -> R:
        step = _open_step(step_name, func, args, kwargs, capture_input)
        if step is None:
            return func(*args, **kwargs)
        with step:
            result = func(*args, **kwargs)
            if capture_output and not step.has_output:
                step.set_output(result)
            return result

    return traced


def _wrap_method(
    func: object, name: str | None, capture_input: bool, capture_output: bool
) -> Callable[P, R]:
    """``_wrap``, seeing through ``@classmethod`` / ``@staticmethod`` (wrapped again after).

    Above them, ``@agent_step`` gets a descriptor, not a function: it decorates
    the function inside, so each call is still a step.
    """
    if isinstance(func, classmethod | staticmethod):
        inner: Callable[..., Any] = func.__func__
        wrapped: object = type(func)(_wrap(inner, name, capture_input, capture_output))
        return cast(Callable[P, R], wrapped)
    if not callable(func):
        raise TypeError(f"@agent_step decorates a function or method, not {func!r}")
    return _wrap(cast(Callable[P, R], func), name, capture_input, capture_output)


@overload
def agent_step(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def agent_step(
    name: str | None = None, /, *, capture_input: bool = True, capture_output: bool = True
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def agent_step(
    func_or_name: Callable[P, R] | str | None = None,
    /,
    *,
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Record each call of the function as a step by agent ``name`` (default: its name).

    ``@agent_step``, ``@agent_step("Engineer")`` or
    ``@agent_step("Engineer", capture_input=False)``; the decorated function
    keeps its signature for type checkers. Inside, ``fl.current_step()`` is
    the step (for ``usage`` or ``set_output``).
    """
    return step_decorator(func_or_name, capture_input, capture_output)


def step_decorator(
    func_or_name: Callable[P, R] | str | None, capture_input: bool, capture_output: bool
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """:func:`agent_step` without the overloads, for ``Tracer.agent_step`` to share."""
    if callable(func_or_name) or isinstance(func_or_name, classmethod | staticmethod):
        wrapped: Callable[P, R] = _wrap_method(func_or_name, None, capture_input, capture_output)
        return wrapped
    name = func_or_name

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        return _wrap_method(func, name, capture_input, capture_output)

    return decorate
