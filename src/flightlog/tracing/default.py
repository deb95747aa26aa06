"""The process's default tracer, for ``fl.run(...)``, and shortcuts to the current run and step.

``configure(url)`` makes it (an ``http(s)://`` URL is a Flightlog server,
anything else a database); without a call, the first ``fl.run()`` makes an
embedded tracer on ``FLIGHTLOG_DATABASE_URL``. ``event``, ``metric`` and
``usage`` act on the current run or step, so code deep inside an agent needs
no handle passed down; outside any run they record nothing and return False.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flightlog.enums import EventSeverity, EventType, MetricType
from flightlog.settings import Settings
from flightlog.tracing.config import TracerConfig
from flightlog.tracing.context import current_run, current_step
from flightlog.tracing.scopes import Run
from flightlog.tracing.tracer import Tracer

_default: Tracer | None = None
_lock = threading.Lock()
#: Tracers replaced by ``configure()`` that may still deliver their open runs: ``flush()``
#: waits for them too, so "flushed" covers every run made through ``fl.run``.
_replaced: list[Tracer] = []


def _new_lock_in_child() -> None:
    """A forked child may inherit ``_lock`` held by a parent thread: it gets a new one."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


def configure(
    url: str | None = None,
    *,
    api_key: str | None = None,
    settings: Settings | None = None,
    customer_id: uuid.UUID | None = None,
    config: TracerConfig | None = None,
) -> Tracer:
    """Make the default tracer and return it; the previous one closes once its open runs end.

    ``url``: ``http(s)://host:port`` for a Flightlog server (``api_key``, or
    ``FLIGHTLOG_API_KEY``), else a database URL (default ``FLIGHTLOG_DATABASE_URL``).
    """
    global _default
    if url is not None and url.startswith(("http://", "https://")):
        key = api_key or os.environ.get("FLIGHTLOG_API_KEY")
        if not key:
            raise ValueError(f"{url} is a server: pass api_key= or set FLIGHTLOG_API_KEY")
        tracer = Tracer.remote(url, api_key=key, config=config)
    else:
        tracer = Tracer.embedded(url, settings=settings, customer_id=customer_id, config=config)
    with _lock:
        previous, _default = _default, tracer
    if previous is not None:
        previous._retire()  # its open runs still finish, and are delivered
        with _lock:
            _replaced.append(previous)
    return tracer


def get_tracer() -> Tracer:
    """The default tracer, made with ``configure()``'s defaults on first use."""
    global _default
    with _lock:
        if _default is not None:
            return _default
        _default = Tracer.embedded()
        return _default


def run(
    task_id: uuid.UUID | str | None = None,
    *,
    title: str | None = None,
    description: str | None = None,
    input_context: Mapping[str, Any] | None = None,
    git_branch: str | None = None,
) -> Run:
    """``get_tracer().run(...)``: ``with fl.run(title="…") as run:``."""
    return get_tracer().run(
        task_id,
        title=title,
        description=description,
        input_context=input_context,
        git_branch=git_branch,
    )


def flush(timeout: float | None = 30.0) -> bool:
    """Flush the default tracer, and any it replaced that still deliver; see ``Tracer.flush``.

    True when nothing is left pending.
    """
    with _lock:
        tracer = _default
        _replaced[:] = [t for t in _replaced if t._worker.alive]
        tracers = [*_replaced, *([tracer] if tracer is not None else [])]
    deadline = None if timeout is None else time.monotonic() + timeout
    flushed = True
    for each in tracers:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        flushed = each.flush(left) and flushed
    return flushed


def shutdown(timeout: float | None = 30.0) -> bool:
    """Close the default tracer (the next ``fl.run`` makes a new one); see ``Tracer.close``."""
    global _default
    with _lock:
        tracer, _default = _default, None
    return tracer.close(timeout) if tracer is not None else True


def event(
    event_type: EventType | str = EventType.LOG,
    content: str | None = None,
    *,
    data: Mapping[str, Any] | None = None,
    severity: EventSeverity | str = EventSeverity.INFO,
    agent_role: str | None = None,
) -> bool:
    """An event of the current run (and step); see ``Run.event``."""
    current = current_run()
    if current is None:
        return False
    return current.event(event_type, content, data=data, severity=severity, agent_role=agent_role)


def metric(
    name: str,
    value: float,
    *,
    metric_type: MetricType | str = MetricType.GAUGE,
    unit: str | None = None,
    labels: Mapping[str, Any] | None = None,
) -> bool:
    """A metric point of the current run (and step); see ``Run.metric``."""
    current = current_run()
    if current is None:
        return False
    return current.metric(name, value, metric_type=metric_type, unit=unit, labels=labels)


def usage(
    *, prompt_tokens: int = 0, completion_tokens: int = 0, cost: Decimal | float | int | str = 0
) -> bool:
    """LLM usage of the current step; see ``Step.usage``."""
    step = current_step()
    if step is None:
        return False
    return step.usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost=cost)
