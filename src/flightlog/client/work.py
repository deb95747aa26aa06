"""The client's facades for the work itself: tasks, runs, agent runs, events, metrics,
artifacts, claims and agents.

Each ``bind(...)`` is one route declared by the service it calls, so the
method has the Store's parameters (see :mod:`flightlog.client.binding`); the
methods written out say why in ``why=``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic_core import to_jsonable_python

from flightlog.client.binding import (
    NO_CONTENT,
    Exchange,
    Facade,
    M,
    Reply,
    Request,
    bind,
    call,
    fill,
    query,
    reader,
    send,
    strict_fields,
    strict_json,
    written_out,
)
from flightlog.client.streams import EventFollower, Stream
from flightlog.enums import (
    AgentStatus,
    AgentType,
    ArtifactType,
    EventSeverity,
    EventType,
    RunStatus,
)
from flightlog.schemas.agent_runs import AgentRunOut, AgentRunPageOut
from flightlog.schemas.agents import AgentActivityOut, AgentOut
from flightlog.schemas.artifacts import ArtifactOut
from flightlog.schemas.claims import ClaimOut, LeaseOut
from flightlog.schemas.events import EventIds, EventOut, EventPageOut
from flightlog.schemas.metrics import MetricPointOut, MetricSummaryOut, Recorded
from flightlog.schemas.runs import RunOut, TimelineOut
from flightlog.schemas.tasks import TaskOut, TaskPageOut
from flightlog.services import (
    agent_activity,
    agent_runs,
    agents,
    artifacts,
    claims,
    deletion,
    metrics,
    run_queue,
    runs,
    task_agent_runs,
    tasks,
)
from flightlog.services.claims import Claim
from flightlog.services.events import NewEvent
from flightlog.services.metrics import MetricName, MetricSource, NewMetric
from flightlog.services.timeline import TimelineCursor


class Tasks(Facade[M]):
    """``client.tasks``: create, get, update, list, cancel, delete."""

    create = bind("POST", "/tasks", tasks.create_task, TaskOut)
    get = bind("GET", "/tasks/{task_id}", tasks.get_task, TaskOut)
    update = bind("PATCH", "/tasks/{task_id}", tasks.update_task, TaskOut)
    cancel = bind("POST", "/tasks/{task_id}/cancel", runs.cancel_task, TaskOut)
    delete = bind("DELETE", "/tasks/{task_id}", deletion.delete_task, NO_CONTENT)

    list = bind("GET", "/tasks", tasks.list_tasks, TaskPageOut)


_FINISH = "/runs/{run_id}/finish"
_PLAN_DECISION = "/runs/{run_id}/plan-decision"


class Runs(Facade[M]):
    """``client.runs``: start (or enqueue, then begin), get, list, timeline, plan, finish."""

    start = bind("POST", "/tasks/{task_id}/runs", runs.start_run, RunOut)
    enqueue = bind("POST", "/tasks/{task_id}/queued-runs", run_queue.enqueue_run, RunOut)
    begin = bind("POST", "/runs/{run_id}/begin", run_queue.begin_run, RunOut)
    get = bind("GET", "/runs/{run_id}", runs.get_run, RunOut)
    decide_plan = bind("POST", _PLAN_DECISION, runs.decide_plan, RunOut)
    approve_plan = bind("POST", _PLAN_DECISION, runs.approve_plan, RunOut, fixed={"approve": True})
    reject_plan = bind("POST", _PLAN_DECISION, runs.reject_plan, RunOut, fixed={"approve": False})
    finish = bind("POST", _FINISH, runs.finish_run, RunOut)
    fail = bind("POST", _FINISH, runs.fail_run, RunOut, fixed={"status": RunStatus.FAILED})
    timeout = bind("POST", _FINISH, runs.timeout_run, RunOut, fixed={"status": RunStatus.TIMEOUT})
    cancel = bind("POST", _FINISH, runs.cancel_run, RunOut, fixed={"status": RunStatus.CANCELLED})

    @written_out(
        "GET", "/runs/{run_id}/timeline", why="the route takes each cursor as three fields"
    )
    @staticmethod
    def timeline(
        run_id: uuid.UUID,
        *,
        after: TimelineCursor | None = None,
        before: TimelineCursor | None = None,
        limit: int = 500,
        total: bool = False,
    ) -> Exchange[TimelineOut]:
        """Agent steps (at their start) and events in time order; pass ``next`` as ``after``
        to read on, ``previous`` as ``before`` to read back."""
        params: dict[str, object] = {"limit": limit}
        if after is not None:
            params |= {"after_at": after.at, "after_kind": after.kind, "after_key": after.key}
        if before is not None:
            params |= {"before_at": before.at, "before_kind": before.kind, "before_key": before.key}
        if total:
            params["total"] = True
        return send(
            "GET", fill("/runs/{run_id}/timeline", run_id=run_id), TimelineOut, params=params
        )

    list = bind("GET", "/tasks/{task_id}/runs", runs.list_runs, list[RunOut])


_AGENT_RUN = "/agent-runs/{agent_run_id}"


class AgentRuns(Facade[M]):
    """``client.agent_runs``: start (in a run, or for a task alone), mark running, record
    usage, finish, list (a run's, or a task's by start time)."""

    start = bind("POST", "/runs/{run_id}/agent-runs", agent_runs.start_agent_run, AgentRunOut)
    running = bind("POST", f"{_AGENT_RUN}/running", agent_runs.mark_running, AgentRunOut)
    record_usage = bind("POST", f"{_AGENT_RUN}/usage", agent_runs.record_usage, AgentRunOut)
    finish = bind("POST", f"{_AGENT_RUN}/finish", agent_runs.finish_agent_run, AgentRunOut)
    list = bind("GET", "/runs/{run_id}/agent-runs", agent_runs.list_agent_runs, list[AgentRunOut])
    start_for_task = bind(
        "POST", "/tasks/{task_id}/agent-runs", agent_runs.start_task_agent_run, AgentRunOut
    )
    list_for_task = bind(
        "GET",
        "/tasks/{task_id}/agent-runs",
        task_agent_runs.list_task_agent_runs,
        AgentRunPageOut,
    )


def _follow_events(
    *,
    task_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
    after_id: int = 0,
    poll_seconds: float = 0.5,
    timeout_seconds: float = 300.0,
    reconnect: bool = True,
) -> EventFollower:
    """The caller's events (of a task or run) as they are written, after ``after_id``.

    Each connection lasts ``timeout_seconds`` at most; with ``reconnect`` the
    iterator then connects again after the last event it gave (``Last-Event-ID``),
    also when the server or its database was unavailable, so it ends only when
    the caller stops reading. Without it, it ends with the first connection.
    """
    where = {"task_id": task_id, "run_id": run_id, "after_id": after_id}
    pace = {"poll_seconds": poll_seconds, "timeout_seconds": timeout_seconds}
    return EventFollower("/events/stream", {**where, **pace}, after_id, reconnect)


def _records(
    records: Iterable[NewEvent | NewMetric | dict[str, Any]], kind: str, field: str
) -> list[NewEvent | NewMetric | dict[str, Any]]:
    """The batch as a list, each record's free-form ``field`` checked to be JSON already."""
    batch = list(records)
    for index, record in enumerate(batch):
        value = record.get(field) if isinstance(record, dict) else getattr(record, field, None)
        strict_json(value, f"{kind} #{index}: {field}")
    return batch


class Events(Facade[M]):
    """``client.events``: append one or a batch, read pages after a cursor, follow live."""

    stream = Stream("/events/stream", _follow_events, why="server-sent events, not one answer")

    @written_out("POST", "/events", why="one request per batch: the server chunks it")
    @staticmethod
    def append_batch(events: Iterable[NewEvent | dict[str, Any]]) -> Exchange[list[int]]:
        """All or nothing; the new events' ids in input order."""
        batch = _records(events, "event", "data")
        return send("POST", "/events", Reply(EventIds, lambda out: out.ids), body={"events": batch})

    @written_out("POST", "/events", why="a batch of one, read back by its id", primary=False)
    @staticmethod
    def append(event: NewEvent | dict[str, Any]) -> Exchange[EventOut]:
        """One event (two requests: append it, read it back); batch many with ``append_batch``."""
        batch = _records([event], "event", "data")
        appended = yield from send("POST", "/events", EventIds, body={"events": batch})
        params = {"after_id": appended.ids[0] - 1, "limit": 1}
        page = yield from send("GET", "/events", EventPageOut, params=params)
        return page.items[0]

    @written_out("GET", "/events", why="the route's filters are event_type and severity")
    @staticmethod
    def list(
        *,
        task_id: uuid.UUID | None = None,
        run_id: uuid.UUID | None = None,
        after_id: int = 0,
        before_id: int | None = None,
        limit: int = 100,
        event_types: Sequence[EventType] | None = None,
        severities: Sequence[EventSeverity] | None = None,
        agent_role: str | None = None,
    ) -> Exchange[EventPageOut]:
        """In id order after ``after_id``: pass ``next_after_id`` back for the next page,
        ``previous_before_id`` as ``before_id`` for the one before."""
        where = {"task_id": task_id, "run_id": run_id, "agent_role": agent_role}
        kinds = {"event_type": event_types, "severity": severities}
        page = {"after_id": after_id, "before_id": before_id, "limit": limit}
        return send("GET", "/events", EventPageOut, params={**where, **kinds, **page})


class Metrics(Facade[M]):
    """``client.metrics``: record a batch; read a series or per-name summaries; list the
    metric names recorded and the tasks and runs that recorded one."""

    series = bind("GET", "/metrics/series", metrics.series, list[MetricPointOut])
    summarize = bind(
        "GET",
        "/metrics/summary",
        metrics.summarize,
        dict[str, MetricSummaryOut],
        rename={"names": "name"},
    )
    names = bind("GET", "/metrics/names", metrics.metric_names, list[MetricName])
    sources = bind("GET", "/metrics/sources", metrics.metric_sources, list[MetricSource])

    @written_out("POST", "/metrics", why="one request per batch: the server chunks it")
    @staticmethod
    def record_batch(metrics: Iterable[NewMetric | dict[str, Any]]) -> Exchange[int]:
        """All or nothing; how many points were recorded."""
        reply = Reply(Recorded, lambda out: out.recorded)
        batch = _records(metrics, "metric", "labels")
        return send("POST", "/metrics", reply, body={"metrics": batch})


class Artifacts(Facade[M]):
    """``client.artifacts``: put a new version, read verified content, list versions."""

    get = bind("GET", "/artifacts/{artifact_id}", artifacts.get, ArtifactOut)
    latest = bind("GET", "/tasks/{task_id}/artifacts", artifacts.latest, list[ArtifactOut])
    versions = bind(
        "GET", "/tasks/{task_id}/artifacts/{name}/versions", artifacts.versions, list[ArtifactOut]
    )

    @written_out(
        "PUT",
        "/tasks/{task_id}/artifacts/{name}",
        why="the content is the raw body, its type a header, the metadata JSON in the query",
    )
    @staticmethod
    def put(
        task_id: uuid.UUID,
        name: str,
        content: bytes | str,
        *,
        content_type: str | None = None,
        artifact_type: ArtifactType | str = ArtifactType.OTHER,
        run_id: uuid.UUID | None = None,
        file_path: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Exchange[ArtifactOut]:
        """The next version of ``name``; identical content is stored once.

        Text (``str``) travels as UTF-8, typed ``text/plain; charset=utf-8``
        unless ``content_type`` says otherwise, as with the Store.
        """
        content, content_type = artifacts.artifact_content(content, content_type, check_type=False)
        params = {"artifact_type": artifact_type, "run_id": run_id, "file_path": file_path}
        if metadata is not None:
            strict_json(metadata, "metadata")
            params["metadata"] = json.dumps(to_jsonable_python(metadata))
        path = fill("/tasks/{task_id}/artifacts/{name}", task_id=task_id, name=name)
        read, headers = reader(ArtifactOut), {"Content-Type": content_type}
        return call(Request("PUT", path, read, query(params), content, headers))

    @written_out("GET", "/artifacts/{artifact_id}/content", why="answers the raw content")
    @staticmethod
    def read(artifact_id: uuid.UUID) -> Exchange[bytes]:
        """The content, which the server checked against its SHA-256."""
        return send("GET", fill("/artifacts/{artifact_id}/content", artifact_id=artifact_id), bytes)


class Claims(Facade[M]):
    """``client.claims``: lease ready tasks, heartbeat, complete or release."""

    claim = bind("POST", "/claims", claims.claim, list[ClaimOut])
    heartbeat = bind(
        "POST",
        "/claims/heartbeat",
        claims.heartbeat,
        Reply(LeaseOut, lambda out: out.lease_expires_at),
    )

    @written_out("POST", "/claims/complete", why="the claim is what claim() answered")
    @staticmethod
    def complete(
        claimed: ClaimOut | Claim,
        *,
        status: RunStatus = RunStatus.COMPLETED,
        results: dict[str, object] | None = None,
        error_message: str | None = None,
    ) -> Exchange[RunOut]:
        """Finish the claimed run and let the task go; only the live lease holder may."""
        outcome = {"status": status, "results": results, "error_message": error_message}
        strict_fields(outcome)
        return send("POST", "/claims/complete", RunOut, body={"claim": claimed, **outcome})

    @written_out("POST", "/claims/release", why="the claim is what claim() answered")
    @staticmethod
    def release(claimed: ClaimOut | Claim, *, reason: str | None = None) -> Exchange[None]:
        """Give the task back unfinished: its run is cancelled and the task waits again."""
        body = {"claim": claimed, "reason": reason}
        return send("POST", "/claims/release", NO_CONTENT, body=body)


class Agents(Facade[M]):
    """``client.agents``: register, get, heartbeat, deregister, list by derived health, and
    what one has done."""

    get = bind("GET", "/agents/{agent_id}", agents.get_agent, AgentOut)
    heartbeat = bind("POST", "/agents/{agent_id}/heartbeat", agents.heartbeat, AgentOut)
    deregister = bind("POST", "/agents/{agent_id}/deregister", agents.deregister, AgentOut)
    activity = bind(
        "GET", "/agents/{agent_id}/activity", agent_activity.agent_activity, AgentActivityOut
    )

    @written_out("POST", "/agents", why="registering is the agent's own act: no actor")
    @staticmethod
    def register(
        name: str,
        agent_type: AgentType | str,
        *,
        capabilities: Iterable[str] = (),
        version: str | None = None,
        endpoint: str | None = None,
        config: dict[str, Any] | None = None,
        role: str | None = None,
    ) -> Exchange[AgentOut]:
        """Register, or re-register the agent of that name keeping its id."""
        about = {"version": version, "endpoint": endpoint, "config": config, "role": role}
        strict_fields(about)
        body = {"name": name, "agent_type": agent_type, "capabilities": capabilities, **about}
        return send("POST", "/agents", AgentOut, body=body)

    @written_out("GET", "/agents", why="health thresholds are the server's settings")
    @staticmethod
    def list(
        *,
        status: AgentStatus | str | Sequence[AgentStatus | str] | None = None,
        capability: str | None = None,
        agent_type: AgentType | str | None = None,
    ) -> Exchange[list[AgentOut]]:
        """By name; ``status`` filters on the health derived from the last heartbeat."""
        params = {"status": status, "capability": capability, "agent_type": agent_type}
        return send("GET", "/agents", list[AgentOut], params=params)
