"""Record what agent code does, in two lines, without ever making it wait for Flightlog.

::

    import flightlog.tracing as fl

    fl.configure("sqlite:///./flightlog.db")  # or ("http://host:8000", api_key=…)

    @fl.agent_step("Engineer")
    def engineer(spec: str) -> str: ...

    with fl.run(title="Build a todo app") as run:
        with run.agent("Architect") as step:
            step.usage(prompt_tokens=120, completion_tokens=40, cost=0.002)
            run.event("message", content="design done")
        engineer("the design")

Recording calls only append to a bounded buffer; one background thread
sends it in batches and retries while Flightlog is down. See docs/tracing.md.
"""

from flightlog.tracing.backend import Backend, BackendOpener
from flightlog.tracing.buffer import TracerStats
from flightlog.tracing.config import TracerConfig
from flightlog.tracing.context import current_run, current_step, in_current_context
from flightlog.tracing.decorators import agent_step
from flightlog.tracing.default import (
    configure,
    event,
    flush,
    get_tracer,
    metric,
    run,
    shutdown,
    usage,
)
from flightlog.tracing.embedded import embedded_backend
from flightlog.tracing.records import NotRecorded, PendingId
from flightlog.tracing.remote import remote_backend
from flightlog.tracing.scopes import Run, Step
from flightlog.tracing.tracer import Tracer

__all__ = [
    "Backend",
    "BackendOpener",
    "NotRecorded",
    "PendingId",
    "Run",
    "Step",
    "Tracer",
    "TracerConfig",
    "TracerStats",
    "agent_step",
    "configure",
    "current_run",
    "current_step",
    "embedded_backend",
    "event",
    "flush",
    "get_tracer",
    "in_current_context",
    "metric",
    "remote_backend",
    "run",
    "shutdown",
    "usage",
]
