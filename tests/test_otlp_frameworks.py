"""Real agent frameworks, instrumented as their own docs say, record into a real server.

PydanticAI (GenAI semantic conventions), LangGraph and the OpenAI Agents SDK (both
through OpenInference) run a small multi-agent workflow offline; the official
OTLP/HTTP exporter sends their spans to ``flightlog serve`` on each dialect. The
database must then hold one run of the workflow's task, the agents as nested agent
runs, the tool calls as events, the tokens on the run, and the conversation as a
session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import EventType, MetricType, RunStatus
from flightlog.models import AgentRun, AgentSession, Event, MetricPoint, Task, TaskRun
from flightlog.settings import Settings
from otel_producers import PRODUCERS, OTLPJsonSpanExporter, ProducerSummary
from postgres_server import PostgresServer
from tracing_support import Databases, databases


@pytest.fixture(scope="module")
def own_databases(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> Iterator[Databases]:
    yield from databases(tmp_path_factory.mktemp("otlp"), postgres_server, test_settings)


def _provider(base: str, key: str, encoding: str) -> TracerProvider:
    provider = TracerProvider()
    headers = {"Authorization": f"Bearer {key}"}
    exporter = (
        OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers)
        if encoding == "protobuf"
        else OTLPJsonSpanExporter(endpoint=f"{base}/v1/traces", headers=headers)
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _run(
    own: Databases, dialect: str, framework: str, encoding: str
) -> tuple[ProducerSummary, Session]:
    served, key = own.server(dialect)
    provider = _provider(served.base, key, encoding)
    conversation = f"conv-{framework}-{encoding}-{dialect}"
    summary = PRODUCERS[framework](provider, conversation_id=conversation)
    provider.shutdown()  # flushes: the exporter has had its answer when this returns
    return summary, Session(own.engine(dialect))


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
@pytest.mark.parametrize("framework", sorted(PRODUCERS))
def test_a_framework_workflow_becomes_a_run_with_nested_agents_tools_tokens_and_session(
    own_databases: Databases, dialect: str, framework: str, encoding: str
) -> None:
    summary, db = _run(own_databases, dialect, framework, encoding)
    with db:
        assert summary.conversation_id is not None
        session = db.scalar(
            select(AgentSession).where(AgentSession.external_id == summary.conversation_id)
        )
        assert session is not None, "the conversation became a session"
        run = db.scalar(select(TaskRun).where(TaskRun.session_id == session.id))
        assert run is not None
        task = db.get(Task, run.task_id)
        assert task is not None
        assert task.title == summary.workflow
        assert run.status is RunStatus.COMPLETED
        assert run.trace_id is not None
        assert len(run.trace_id) == 32
        assert (run.tokens_in, run.tokens_out) == (summary.input_tokens, summary.output_tokens)

        steps = db.scalars(select(AgentRun).where(AgentRun.run_id == run.id)).all()
        names = {step.agent_name for step in steps}
        assert set(summary.agents) <= names, names
        by_id = {step.id: step for step in steps}
        top = [step for step in steps if step.parent_id is None]
        assert len(top) == 1, "one top step: the workflow (or root agent) itself"
        for step in steps:
            if step.parent_id is not None:
                assert step.parent_id in by_id, "agent runs nest within the run"
        for name in summary.agents:
            if name != top[0].agent_name:
                assert any(s.agent_name == name and s.parent_id is not None for s in steps)
        assert sum(step.tokens_in for step in steps) == summary.input_tokens

        events = db.scalars(select(Event).where(Event.run_id == run.id)).all()
        tools = [e for e in events if e.event_type is EventType.TOOL_CALL]
        assert set(summary.tools) <= {e.data["tool"] for e in tools if e.data}
        models = [e for e in events if e.event_type is EventType.MODEL_CALL]
        assert len(models) == summary.model_calls
        assert all(e.trace_id == run.trace_id and e.span_id for e in tools + models)
        assert not [e for e in events if e.event_type is EventType.ERROR]


def test_genai_metrics_become_metric_points_of_the_services_task(
    own_databases: Databases, dialect: str
) -> None:
    served, key = own_databases.server(dialect)
    exporter = OTLPMetricExporter(
        endpoint=f"{served.base}/v1/metrics", headers={"Authorization": f"Bearer {key}"}
    )
    service = f"metrics-{dialect}-{uuid.uuid4().hex[:6]}"
    meters = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)],
        resource=Resource.create({"service.name": service}),
    )
    tracer_provider = TracerProvider()  # spans are not what this test looks at
    summary = PRODUCERS["pydantic_ai"](tracer_provider, meter_provider=meters)  # type: ignore[call-arg]
    meters.shutdown()  # the last collection is exported before this returns
    with Session(own_databases.engine(dialect)) as db:
        task = db.scalar(select(Task).where(Task.title == service))
        assert task is not None, "the service's metrics have a task named after it"
        points = db.scalars(select(MetricPoint).where(MetricPoint.task_id == task.id)).all()
        usage = [p for p in points if p.name == "gen_ai.client.token.usage"]
        assert usage, sorted({p.name for p in points})
        assert all(p.metric_type is MetricType.HISTOGRAM for p in usage)
        by_type = {"input": 0.0, "output": 0.0}
        for point in usage:  # one point per model and token type
            by_type[point.labels["gen_ai.token.type"]] += point.value
        assert by_type == {"input": summary.input_tokens, "output": summary.output_tokens}
        assert {p.labels["service.name"] for p in usage} == {service}


def test_serve_prints_where_to_point_exporters(own_databases: Databases, dialect: str) -> None:
    served, _key = own_databases.server(dialect)
    printed = served.log.read_text()
    assert f"export OTEL_EXPORTER_OTLP_ENDPOINT={served.base}\n" in printed
    assert 'OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20<your API key>"' in printed
