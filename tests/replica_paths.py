"""One customer's rows of every kind, and a call of every stale-tolerant Store read on them.

``READS`` names each operation bound ``stale_ok=True`` with a call that
reads real rows (a task with runs, events, metrics, artifacts, a project
with two context iterations, a pull request with a check, a recommendation,
a session). tests/test_read_replicas.py checks that the table covers every
such operation of the Store, and that each is answered on the replica.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flightlog.enums import AgentRunStatus
from flightlog.models import AgentSession
from flightlog.store import Store


@dataclass(frozen=True)
class Rows:
    """The ids every read below asks about."""

    task: uuid.UUID
    run: uuid.UUID
    agent: uuid.UUID
    project: uuid.UUID
    pull_request: uuid.UUID
    recommendation: uuid.UUID
    session: uuid.UUID


async def make_rows(store: Store) -> Rows:
    """A small world for ``store``'s customer, every table the reads touch given a row."""
    agent = await store.agents.register("coder", "APPLICATION")
    project = await store.projects.create(name=f"replicated-{uuid.uuid4().hex[:8]}")
    task = await store.tasks.create(title="replicated work", project_id=project.id)
    run = await store.runs.start(task.id, agent_id=agent.id)
    agent_run = await store.agent_runs.start(run.id, agent_name="Engineer", agent_id=agent.id)
    await store.agent_runs.finish(agent_run.id, status=AgentRunStatus.COMPLETED)
    await store.events.append(
        {"task_id": task.id, "run_id": run.id, "event_type": "LOG", "content": "hello"}
    )
    await store.metrics.record({"task_id": task.id, "name": "latency", "value": 1.5})
    await store.artifacts.put(task.id, "notes.md", "# notes")
    await store.project_contexts.add_iteration(project.id, notes="first")
    await store.project_contexts.add_iteration(project.id, notes="second")
    await store.modifications.request(project.id, request="rename things")
    pull_request = await store.pull_requests.create(
        project_id=project.id,
        branch_name="feature",
        title="A change",
        task_id=task.id,
        repository_url="https://example.test/repo",
    )
    await store.pull_requests.record_check(pull_request.id, name="ci", status="PASSED")
    recommendation = await store.recommendations.create(
        recommendation_type="cost", title="Smaller model", confidence_score=0.9
    )
    async with store.transaction() as session:
        conversation = AgentSession(customer_id=store.customer_id, external_id="chat-1")
        session.add(conversation)
        await session.flush()
        conversation_id = conversation.id
    return Rows(
        task=task.id,
        run=run.id,
        agent=agent.id,
        project=project.id,
        pull_request=pull_request.id,
        recommendation=recommendation.id,
        session=conversation_id,
    )


Read = Callable[[Store, Rows], Awaitable[Any]]
_SINCE = datetime.now(UTC) - timedelta(days=1)

#: Every stale-tolerant read, called as a dashboard or an agent would.
READS: dict[str, Read] = {
    "tasks.list": lambda s, r: s.tasks.list(),
    "tasks.subtasks": lambda s, r: s.tasks.subtasks(r.task),
    "tasks.dependencies": lambda s, r: s.tasks.dependencies(r.task),
    "runs.list": lambda s, r: s.runs.list(r.task),
    "runs.timeline": lambda s, r: s.runs.timeline(r.run),
    "agent_runs.list": lambda s, r: s.agent_runs.list(r.run),
    "agent_runs.list_for_task": lambda s, r: s.agent_runs.list_for_task(r.task),
    "events.list": lambda s, r: s.events.list(task_id=r.task),
    "metrics.series": lambda s, r: s.metrics.series("latency", task_id=r.task),
    "metrics.summarize": lambda s, r: s.metrics.summarize(task_id=r.task),
    "metrics.buckets": lambda s, r: s.metrics.buckets("latency", bucket_seconds=60, task_id=r.task),
    "metrics.names": lambda s, r: s.metrics.names(),
    "metrics.sources": lambda s, r: s.metrics.sources("latency"),
    "artifacts.versions": lambda s, r: s.artifacts.versions(r.task, "notes.md"),
    "artifacts.latest": lambda s, r: s.artifacts.latest(r.task),
    "sessions.list": lambda s, r: s.sessions.list(),
    "sessions.page": lambda s, r: s.sessions.page(),
    "sessions.runs": lambda s, r: s.sessions.runs(r.session),
    "projects.list": lambda s, r: s.projects.list(),
    "project_contexts.list": lambda s, r: s.project_contexts.list(r.project),
    "project_contexts.page": lambda s, r: s.project_contexts.page(),
    "project_contexts.compare": lambda s, r: s.project_contexts.compare(r.project, 1, 2),
    "templates.list": lambda s, r: s.templates.list(),
    "modifications.list": lambda s, r: s.modifications.list(r.project),
    "recommendations.list": lambda s, r: s.recommendations.list(),
    "recommendations.pending_approvals": lambda s, r: s.recommendations.pending_approvals(),
    "recommendations.approvals": lambda s, r: s.recommendations.approvals(r.recommendation),
    "optimizations.list": lambda s, r: s.optimizations.list(),
    "pull_requests.checks": lambda s, r: s.pull_requests.checks(r.pull_request),
    "pull_requests.list": lambda s, r: s.pull_requests.list(),
    "pull_requests.page": lambda s, r: s.pull_requests.page(),
    "pull_requests.history": lambda s, r: s.pull_requests.history(r.pull_request),
    "search.tasks": lambda s, r: s.search.tasks("replicated"),
    "search.page": lambda s, r: s.search.page("replicated"),
    "views.overview": lambda s, r: s.views.overview(),
    "views.plans_waiting": lambda s, r: s.views.plans_waiting(),
    "views.waiting_counts": lambda s, r: s.views.waiting_counts(),
    "views.modifications_waiting": lambda s, r: s.views.modifications_waiting(),
    "views.active_tasks": lambda s, r: s.views.active_tasks(),
    "views.task_execution_summary": lambda s, r: s.views.task_execution_summary(r.task),
    "views.task_execution_summaries": lambda s, r: s.views.task_execution_summaries(),
    "views.pr_validation_status": lambda s, r: s.views.pr_validation_status(r.pull_request),
    "views.pr_validation_statuses": lambda s, r: s.views.pr_validation_statuses(),
    "views.usage": lambda s, r: s.views.usage(since=_SINCE),
    "views.run_outcomes": lambda s, r: s.views.run_outcomes(since=_SINCE),
    "views.run_durations": lambda s, r: s.views.run_durations(since=_SINCE),
    "customers.deletions": lambda s, r: s.customers.deletions(),
    "model_prices.list": lambda s, r: s.model_prices.list(),
    "agents.list": lambda s, r: s.agents.list(),
    "agents.activity": lambda s, r: s.agents.activity(r.agent),
}
