"""Two customers' rows, and how B's answers about A's ids are compared with missing ones.

Another tenant's id must be indistinguishable from an id that does not exist.
Customer B asks for customer A's rows, and for random ids asked the same
way; the two answers must be identical once the asked-for id is replaced by
a placeholder: same status, same body byte for byte (HTTP), same exception
type, message and details (Python). Any difference tells B that the id
exists, and a parent id in the answer would tell B more.

The ``owner`` (A's rows) and ``mine`` (B's rows) fixtures, both ``World``s,
are in conftest, next to ``other`` (B's Store).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from api_client import app_for
from flightlog.otlp.spans import Span, SpanKind, StatusCode
from flightlog.store import Store
from flightlog.web.session import COOKIE

PLACEHOLDER = "<id>"
V1 = "/api/v1"


class World:
    """Rows of one customer, made on first use (each test makes only what it asks for)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._made: dict[str, Any] = {}

    async def id(self, name: str) -> Any:
        if name not in self._made:
            self._made[name] = await getattr(self, f"_{name}")()
        return self._made[name]

    async def ids(self, names: Iterator[str] | tuple[str, ...]) -> dict[str, Any]:
        return {name: await self.id(name) for name in names}

    async def _customer(self) -> uuid.UUID:
        return self.store.customer_id

    async def _task(self) -> uuid.UUID:
        return (await self.store.tasks.create(title="secret task", priority=-5)).id

    async def _run(self) -> uuid.UUID:
        return (await self.store.runs.start(await self.id("task"))).id

    async def _waiting_run(self) -> uuid.UUID:
        task = await self.store.tasks.create(title="awaits a plan", priority=-5)
        run = await self.store.runs.start(task.id, plan={"step": 1}, await_plan_approval=True)
        return run.id

    async def _queued_run(self) -> uuid.UUID:
        task = await self.store.tasks.create(title="queued", priority=-5)
        return (await self.store.runs.enqueue(task.id)).id

    async def _agent_run(self) -> uuid.UUID:
        started = await self.store.agent_runs.start(await self.id("run"), agent_name="Engineer")
        return started.id

    async def _artifact(self) -> uuid.UUID:
        task_id, run_id = await self.id("task"), await self.id("run")
        return (await self.store.artifacts.put(task_id, "report.txt", b"s", run_id=run_id)).id

    async def _event(self) -> int:
        found = await self.store.events.append(
            {"event_type": "LOG", "task_id": await self.id("task")}
        )
        return found.id

    async def _agent(self) -> uuid.UUID:
        return (await self.store.agents.register("secret-bot", "engineer")).id

    async def _project(self) -> uuid.UUID:
        made = await self.store.projects.create(
            name=f"project-{uuid.uuid4().hex[:8]}", repository_url="https://git.test/p.git"
        )
        return made.id

    async def _context(self) -> uuid.UUID:
        project_id = await self.id("project")
        return (await self.store.project_contexts.add_iteration(project_id, notes="one")).id

    async def _modification(self) -> uuid.UUID:
        project_id = await self.id("project")
        return (await self.store.modifications.request(project_id, request="change it")).id

    async def _template(self) -> uuid.UUID:
        made = await self.store.templates.create(
            name=f"template-{uuid.uuid4().hex[:8]}",
            files={"README.md": "# {{title}}"},
            required_variables=["title"],
        )
        return made.id

    async def _recommendation(self) -> uuid.UUID:
        made = await self.store.recommendations.create(
            recommendation_type="cost", title="secret idea", confidence_score=0.5
        )
        return made.id

    async def _approved_recommendation(self) -> uuid.UUID:
        made = await self.store.recommendations.create(
            recommendation_type="cost", title="approved idea", confidence_score=0.5
        )
        await self.store.recommendations.approve(made.id, decided_by="alice")
        return made.id

    async def _optimization(self) -> uuid.UUID:
        recommendation_id = await self.id("approved_recommendation")
        return (await self.store.optimizations.start(recommendation_id)).id

    async def _pull_request(self) -> uuid.UUID:
        made = await self.store.pull_requests.create(
            project_id=await self.id("project"),
            branch_name="feature",
            title="secret change",
            task_id=await self.id("task"),
            run_id=await self.id("run"),
        )
        return made.id

    async def _trace(self) -> str:
        """A trace recorded from OpenTelemetry spans (with its conversation's session)."""
        trace_id = os.urandom(16).hex()
        root = Span(
            trace_id=trace_id,
            span_id=os.urandom(8).hex(),
            parent_span_id=None,
            name="invoke_agent secret agent",
            kind=SpanKind.INTERNAL,
            start_time_unix_nano=time.time_ns() - 2_000_000_000,
            end_time_unix_nano=time.time_ns() - 1_000_000_000,
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.conversation.id": f"secret-{trace_id}",
            },
            events=(),
            status_code=StatusCode.UNSET,
            status_message="",
            resource={},
            scope_name="two_tenants",
        )
        await self.store.traces.record([root])
        return trace_id

    async def _session(self) -> uuid.UUID:
        trace_id = await self.id("trace")
        [found] = await self.store.sessions.list(external_id=f"secret-{trace_id}")
        return found.id

    async def _api_key(self) -> uuid.UUID:
        return (await self.store.api_keys.create("secret key")).id

    async def _claimed_task(self) -> uuid.UUID:
        await self.store.tasks.create(title="to claim", priority=10**6)
        [claim] = await self.store.claims.claim("w1")
        self._made["claimed_run"] = claim.run_id
        return claim.task_id

    async def _claimed_run(self) -> uuid.UUID:
        await self.id("claimed_task")
        run_id: uuid.UUID = self._made["claimed_run"]
        return run_id


class Asked(Mapping[str, Any]):
    """The ids a request asks for: A's real ones, or random ones in the same places."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def masked(self, text: str) -> str:
        """``text`` with every asked-for id (uuid or trace id) replaced by the placeholder."""
        for value in self._values.values():
            if isinstance(value, uuid.UUID | str):
                text = text.replace(str(value), PLACEHOLDER)
        return text


def random_like(real: dict[str, Any]) -> Asked:
    """Random ids in the places of ``real``'s."""
    # Event ids are integers: far above any id a test database hands out. Trace ids
    # are 32 hex characters, as random as the real ones.
    return Asked(
        {
            name: 2**62 + i
            if isinstance(value, int)
            else os.urandom(16).hex()
            if isinstance(value, str)
            else uuid.uuid4()
            for i, (name, value) in enumerate(real.items())
        }
    )


def takes_an_id(param: str) -> bool:
    """Whether a path or method parameter of this name is an id."""
    return param == "id" or param.endswith("_id")


# --- HTTP ---------------------------------------------------------------------------


async def browser_of(store: Store) -> httpx.AsyncClient:
    """One client for B: its key as a Bearer token (API) and as the dashboard's cookie."""
    key = (await store.api_keys.create("b")).key
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_for(store)),
        base_url="http://flightlog.test",
        headers={"Authorization": f"Bearer {key}"},
        cookies={COOKIE: key},
    )


@dataclass(frozen=True)
class Answer:
    """What an HTTP response tells, with the asked-for ids masked."""

    status: int
    content_type: str
    body: str


def masked_answer(response: httpx.Response, asked: Asked) -> Answer:
    """The status, content type and body of ``response``, the ids of ``asked`` masked."""
    return Answer(
        response.status_code, response.headers.get("content-type", ""), asked.masked(response.text)
    )


# --- Python -------------------------------------------------------------------------

#: A Store call, given B's Store, the asked-for ids and B's own rows.
Use = Callable[[Store, Asked, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class PyCall:
    """A Store call that names A's rows (``theirs``), from B's own rows (``mine``)."""

    theirs: tuple[str, ...]
    use: Use
    mine: tuple[str, ...] = ()


async def raised_by(call: Awaitable[Any]) -> BaseException | None:
    """The exception ``call`` raises, or None."""
    try:
        await call
    except Exception as exc:  # compared by masked_outcome, whatever it is
        return exc
    return None


def masked_outcome(error: BaseException | None, asked: Asked) -> tuple[str, str, str]:
    """The type, message and details of ``error``, the ids of ``asked`` masked."""
    if error is None:
        return ("no error", "", "")
    details = getattr(error, "details", {})
    return (
        type(error).__name__,
        asked.masked(str(error)),
        asked.masked(json.dumps(details, default=str, sort_keys=True)),
    )
