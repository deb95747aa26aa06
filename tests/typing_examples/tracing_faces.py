"""Type-checked by tests/test_tracing_typing.py, never run: decorated steps keep their types."""

from __future__ import annotations

import flightlog.tracing as fl

tracer = fl.Tracer.embedded("sqlite:///./example.db")


@tracer.agent_step("Engineer")
def engineer(spec: str, *, language: str = "python") -> str:
    return spec


@fl.agent_step
async def research(topic: str) -> list[str]:
    return [topic]


@fl.agent_step("Checker", capture_input=False)
def check(text: str) -> bool:
    return bool(text)


reveal_type(engineer)  # noqa: F821
reveal_type(research)  # noqa: F821
reveal_type(check)  # noqa: F821
with tracer.run(title="typed") as run, run.agent("Architect") as step:
    reveal_type(run.id.get())  # noqa: F821
    step.usage(prompt_tokens="120")
    engineer(1)
    run.event("message", content=3)
