"""One small facade per aggregate: each method is one service function, bound.

Each binding runs its service in one committed transaction (``writes``) or a
read-only one (``reads``) for the Store's customer; the service's signature
and docstring are the operation's (see :mod:`flightlog.store.binding`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flightlog.ingest import small
from flightlog.ingest.events import ingest_events, ingest_events_returning_ids
from flightlog.ingest.metrics import ingest_metrics
from flightlog.otlp import ingest as otlp_ingest
from flightlog.otlp import metrics as otlp_metrics
from flightlog.otlp.records import Limits
from flightlog.services import (
    agent_runs,
    artifacts,
    blobs,
    claims,
    deletion,
    events,
    metrics,
    run_queue,
    runs,
    sessions,
    task_agent_runs,
    tasks,
    timeline,
    traces,
)
from flightlog.store.binding import Facade, S, reads, writes

if TYPE_CHECKING:
    from flightlog.store.state import StoreState


def blob_policy(store: StoreState) -> artifacts.BlobPolicy:
    """Where the Store keeps large artifact content, and what counts as large."""
    return store.blob_policy


def event_payload_limit(store: StoreState) -> int:
    """The Store's ``FLIGHTLOG_MAX_EVENT_PAYLOAD_BYTES``."""
    return store.settings.max_event_payload_bytes


def otlp_limits(store: StoreState) -> Limits:
    """What OpenTelemetry ingest may keep inline, and where larger content goes."""
    return Limits(
        policy=store.blob_policy,
        max_payload_bytes=store.settings.max_event_payload_bytes,
        inline_content_bytes=store.settings.otlp_inline_content_bytes,
    )


def remove_blob_files(store: StoreState, result: deletion.DeletionResult) -> None:
    """After the commit, delete the blob files no remaining artifact uses."""
    blobs.remove_files(store.blob_policy.blob_dir, result.files_to_remove)


class Tasks(Facade[S]):
    """``store.tasks``: create, get, update, list, dependencies, ready, cancel, delete."""

    create = writes(tasks.create_task)
    get = reads(tasks.get_task)
    update = writes(tasks.update_task)
    list = reads(tasks.list_tasks, stale_ok=True)
    subtasks = reads(tasks.subtasks, stale_ok=True)
    add_dependency = writes(tasks.add_dependency)
    remove_dependency = writes(tasks.remove_dependency)
    dependencies = reads(tasks.dependencies, stale_ok=True)
    ready = reads(tasks.ready_tasks)
    cancel = writes(runs.cancel_task)
    delete = writes(deletion.delete_task, after_commit=remove_blob_files)


class Runs(Facade[S]):
    """``store.runs``: start (or enqueue, then begin), get, list, plan decision, finish."""

    start = writes(runs.start_run)
    enqueue = writes(run_queue.enqueue_run)
    begin = writes(run_queue.begin_run)
    get = reads(runs.get_run)
    list = reads(runs.list_runs, stale_ok=True)
    timeline = reads(timeline.run_timeline, stale_ok=True)
    submit_plan = writes(runs.submit_plan)
    decide_plan = writes(runs.decide_plan)
    approve_plan = writes(runs.approve_plan)
    reject_plan = writes(runs.reject_plan)
    finish = writes(runs.finish_run)
    fail = writes(runs.fail_run)
    timeout = writes(runs.timeout_run)
    cancel = writes(runs.cancel_run)


class AgentRuns(Facade[S]):
    """``store.agent_runs``: start (in a run, or for a task alone), mark running, record usage,
    finish, list (a run's, or a task's by start time)."""

    start = writes(agent_runs.start_agent_run)
    start_for_task = writes(agent_runs.start_task_agent_run)
    running = writes(agent_runs.mark_running)
    record_usage = writes(agent_runs.record_usage)
    finish = writes(agent_runs.finish_agent_run)
    list = reads(agent_runs.list_agent_runs, stale_ok=True)
    list_for_task = reads(task_agent_runs.list_task_agent_runs, stale_ok=True)


class Events(Facade[S]):
    """``store.events``: append one or a batch (or a stream); read pages after a cursor.

    The batch paths are the bulk ingest (COPY / executemany): ``append_batch``
    returns the ids in input order, ``ingest`` streams any number in flat
    memory and returns the count.
    """

    append = writes(events.append_event, using=event_payload_limit, one_statement=small.plan_event)
    append_batch = writes(
        ingest_events_returning_ids, using=event_payload_limit, one_statement=small.plan_events
    )
    ingest = writes(ingest_events, using=event_payload_limit)
    list = reads(events.list_events, stale_ok=True, generic_plans=True)


class Metrics(Facade[S]):
    """``store.metrics``: record one or a batch; series, summaries and time buckets.

    Every point belongs to a task or a run of the Store's customer.
    """

    record = writes(metrics.record_metric)
    record_batch = writes(ingest_metrics)
    series = reads(metrics.series, stale_ok=True)
    summarize = reads(metrics.summarize, stale_ok=True)
    buckets = reads(metrics.buckets, stale_ok=True)
    names = reads(metrics.metric_names, stale_ok=True)
    sources = reads(metrics.metric_sources, stale_ok=True)


class Artifacts(Facade[S]):
    """``store.artifacts``: put a new version, read verified content, list versions."""

    put = writes(artifacts.put, using=blob_policy)
    get = reads(artifacts.get)
    read = reads(artifacts.read, using=blob_policy)
    versions = reads(artifacts.versions, stale_ok=True)
    latest = reads(artifacts.latest, stale_ok=True)

    sweep = reads(deletion.sweep_unreferenced_blobs, using=blob_policy, tenant=False)


class Claims(Facade[S]):
    """``store.claims``: lease ready tasks, heartbeat, complete or release."""

    claim = writes(claims.claim)
    heartbeat = writes(claims.heartbeat)
    complete = writes(claims.complete)
    release = writes(claims.release)


class Traces(Facade[S]):
    """``store.traces``: OpenTelemetry spans recorded as runs, agent runs and events."""

    record = writes(otlp_ingest.record_spans, using=otlp_limits)
    record_metrics = writes(otlp_metrics.record_metric_points)
    get = reads(traces.get_trace)


class Sessions(Facade[S]):
    """``store.sessions``: the conversations runs belong to, with their totals."""

    list = reads(sessions.list_sessions, stale_ok=True)
    page = reads(sessions.session_page, stale_ok=True)
    get = reads(sessions.get_session)
    runs = reads(sessions.session_runs, stale_ok=True)
