"""docs/connect-agents.md works as written: each of its configuration blocks is run, verbatim.

The page marks each fenced block with an HTML comment ``<!-- test: name -->``; the tests read
the blocks from the page itself (not a copy), put a real ``flightlog serve``'s address and API
key where the page shows ``http://127.0.0.1:8000`` and ``fl_1a2b3c4d_...``, and run them in a
child process: shell blocks (the ``export`` lines, the ``curl`` commands) through bash, Python
blocks as a script that the exported variables configure. A framework's block runs before the
offline workflow of tests/otel_producers.py, whose own instrumentation is made inert (PydanticAI)
or is the ignored second ``instrument()`` of an OpenInference singleton, so what reaches the
server was sent because of the page's lines alone. Then the database, or the HTTP API the page's
"Check it arrived" shows, must hold the run. Both dialects, one server each.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from flightlog.enums import EventType, RunStatus
from flightlog.models import AgentRun, AgentSession, Event, MetricPoint, Task, TaskRun
from flightlog.settings import Settings
from postgres_server import PostgresServer
from tracing_support import Databases, databases

TESTS = Path(__file__).resolve().parent
DOC = TESTS.parent / "docs" / "connect-agents.md"
ENDPOINT = "http://127.0.0.1:8000"
KEY = "fl_1a2b3c4d_..."
CURL_TRACE_ID = "5b8efff798038103d269b633813fc60c"
DOC_CONVERSATION = "support-4711"
SUBPROCESS_SECONDS = 180

_MARKED = re.compile(r"^<!-- test: ([a-z_]+) -->\n```[a-z]*\n(.*?)\n```$", re.M | re.S)


def doc_blocks(text: str) -> dict[str, str]:
    """The page's marked blocks by name: the text between a marker's fences, as written."""
    blocks: dict[str, str] = {}
    for name, body in _MARKED.findall(text):
        assert name not in blocks, f"two blocks marked {name!r}"
        blocks[name] = body
    return blocks


BLOCKS = doc_blocks(DOC.read_text())


def block(name: str, base: str | None = None, key: str | None = None) -> str:
    """A block with the server's address and key where the page shows the placeholders.

    Each placeholder asked for must be in the block, so a page that stops showing it fails
    here rather than silently sending elsewhere.
    """
    text = BLOCKS[name]
    if base is not None:
        assert ENDPOINT in text, f"block {name!r} no longer shows {ENDPOINT}"
        text = text.replace(ENDPOINT, base)
    if key is not None:
        assert KEY in text, f"block {name!r} no longer shows {KEY}"
        text = text.replace(KEY, key)
    return text


@pytest.fixture(scope="module")
def own_databases(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server: PostgresServer | None,
    test_settings: Settings,
) -> Iterator[Databases]:
    yield from databases(tmp_path_factory.mktemp("connect-docs"), postgres_server, test_settings)


@dataclass
class Server:
    """One dialect's server, its key and database, as a test sees them."""

    base: str
    key: str
    db: Databases
    dialect: str

    def session(self) -> Session:
        return Session(self.db.engine(self.dialect))


@pytest.fixture
def server(own_databases: Databases, dialect: str) -> Server:
    served, key = own_databases.server(dialect)
    return Server(served.base, key, own_databases, dialect)


def _environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without OTEL_* and FLIGHTLOG_* (only the page configures)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FLIGHTLOG_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra or {})
    return env


def run_shell(script: str, tmp: Path, *args: str) -> str:
    """``script`` through ``bash -eu`` (``$0``, ``$1``… are ``args``); its stdout."""
    done = subprocess.run(
        ["bash", "-e", "-u", "-c", script, *args],
        env=_environment(),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_python(code: str, tmp: Path, *env_blocks: str) -> dict[str, Any]:
    """``code`` as a script, after the page's ``export`` blocks ran in the same shell.

    The script reports what it did as a line ``RESULT {json}``; the child's stderr (where an
    exporter that failed says why) comes with any failure.
    """
    path = tmp / "snippet.py"
    path.write_text(code)
    out = run_shell("\n".join([*env_blocks, 'exec "$0" "$1"']), tmp, sys.executable, str(path))
    results = [
        line.removeprefix("RESULT ") for line in out.splitlines() if line.startswith("RESULT ")
    ]
    assert len(results) == 1, out
    found: dict[str, Any] = json.loads(results[0])
    return found


def report(expression: str) -> str:
    """Script lines printing ``expression`` (a dataclass) as the ``RESULT`` line."""
    return (
        f"import dataclasses, json\nprint('RESULT ' + json.dumps(dataclasses.asdict({expression})))"
    )


# Hand-instrumented GenAI spans (the plain SDK case): an agent that calls a model and a tool.
HAND_SPANS = """
tracer = tracer_provider.get_tracer("docs-check")
agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage",
         "gen_ai.conversation.id": CONVERSATION}
chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "fake-model",
        "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3}
tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup_order"}
with tracer.start_as_current_span("invoke_agent triage", attributes=agent):
    with tracer.start_as_current_span("chat fake-model", attributes=chat):
        pass
    with tracer.start_as_current_span("execute_tool lookup_order", attributes=tool):
        pass
tracer_provider.shutdown()
print('RESULT {}')
"""

PROVIDER_ONLY = """
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tracer_provider = TracerProvider()
"""


def the_run(
    server: Server, conversation: str, workflow: str
) -> tuple[TaskRun, list[AgentRun], list[Event]]:
    """The run of task ``workflow`` in the session ``conversation``, its agent runs and events."""
    with server.session() as db:
        run = db.scalar(
            select(TaskRun)
            .join(AgentSession, AgentSession.id == TaskRun.session_id)
            .join(Task, Task.id == TaskRun.task_id)
            .where(AgentSession.external_id == conversation, Task.title == workflow)
        )
        assert run is not None, f"no run of {workflow!r} in session {conversation!r}"
        steps = list(db.scalars(select(AgentRun).where(AgentRun.run_id == run.id)))
        events = list(db.scalars(select(Event).where(Event.run_id == run.id)))
        return run, steps, events


def assert_workflow(server: Server, summary: Mapping[str, Any]) -> None:
    """The database holds the producer's workflow: agents, tools, model calls, tokens."""
    run, steps, events = the_run(server, summary["conversation_id"], summary["workflow"])
    assert run.status is RunStatus.COMPLETED
    assert (run.tokens_in, run.tokens_out) == (summary["input_tokens"], summary["output_tokens"])
    assert set(summary["agents"]) <= {step.agent_name for step in steps}
    tools = {e.data["tool"] for e in events if e.event_type is EventType.TOOL_CALL and e.data}
    assert set(summary["tools"]) <= tools
    models = [e for e in events if e.event_type is EventType.MODEL_CALL]
    assert len(models) == summary["model_calls"]


def assert_hand_spans(server: Server, conversation: str) -> None:
    run, steps, events = the_run(server, conversation, "triage")
    assert run.status is RunStatus.COMPLETED
    assert (run.tokens_in, run.tokens_out) == (12, 3)
    assert [step.agent_name for step in steps] == ["triage"]
    calls = {EventType.MODEL_CALL, EventType.TOOL_CALL}
    made = sorted(e.event_type.value for e in events if e.event_type in calls)
    assert made == ["MODEL_CALL", "TOOL_CALL"]


def test_every_fenced_block_on_the_page_is_marked_for_a_test() -> None:
    fences = DOC.read_text().count("\n```") // 2
    assert fences == len(BLOCKS), "a block without a <!-- test: name --> marker is not run"
    assert set(BLOCKS) == {
        "env", "env_optional", "exporter", "exporter_in_code", "pydantic_ai", "langgraph",
        "openai_agents", "openai_agents_session", "json_exporter", "curl_json", "metrics",
        "check",
    }  # fmt: skip


def test_pydantic_ai_lines_send_its_workflow(server: Server, tmp_path: Path) -> None:
    conversation = "docs-pydantic-ai"
    code = "\n\n".join(
        [
            block("exporter"),
            block("pydantic_ai"),
            # The page's instrument_all above is the only one: the producer's own becomes inert,
            # and the producer gets a provider that exports nowhere.
            "Agent.instrument_all = staticmethod(lambda instrument=True: None)",
            "from otel_producers import run_pydantic_ai",
            f"summary = run_pydantic_ai(TracerProvider(), conversation_id={conversation!r})",
            "tracer_provider.shutdown()",
            report("summary"),
        ]
    )
    summary = run_python(code, tmp_path, block("env", server.base, server.key))
    assert summary["conversation_id"] == conversation
    assert_workflow(server, summary)


def test_langgraph_lines_send_its_workflow(server: Server, tmp_path: Path) -> None:
    conversation = "docs-langgraph"
    code = "\n\n".join(
        [
            block("exporter"),
            block("langgraph"),
            # The producer's instrument() on the instrumentor singleton is ignored (already
            # instrumented by the page's line): its provider, which exports nowhere, is unused.
            "from otel_producers import run_langgraph",
            f"summary = run_langgraph(TracerProvider(), conversation_id={conversation!r})",
            "tracer_provider.shutdown()",
            report("summary"),
        ]
    )
    summary = run_python(code, tmp_path, block("env", server.base, server.key))
    assert_workflow(server, summary)


def test_openai_agents_lines_and_session_snippet_send_their_runs(
    server: Server, tmp_path: Path
) -> None:
    conversation = "docs-openai-agents"
    snippet = textwrap.indent(block("openai_agents_session"), "    ")
    code = "\n\n".join(
        [
            block("exporter"),
            block("openai_agents"),
            # What the page's session snippet refers to: an agent and a run config.
            "import asyncio\n"
            "from agents import Agent as OpenAIAgent, RunConfig, Runner\n"
            "from otel_offline_model import OfflineModel\n"
            "triage = OpenAIAgent(name='triage', model=OfflineModel('offline-triage', ['Yes.']))\n"
            "run_config = RunConfig(workflow_name='support_workflow')",
            f"async def session_snippet() -> None:\n{snippet}\n\nasyncio.run(session_snippet())",
            # Then the handoff-and-tool workflow; its instrument() is the ignored second one.
            "from otel_producers import run_openai_agents",
            f"summary = run_openai_agents(TracerProvider(), conversation_id={conversation!r})",
            "tracer_provider.shutdown()",
            report("summary"),
        ]
    )
    summary = run_python(code, tmp_path, block("env", server.base, server.key))
    assert_workflow(server, summary)
    run, steps, _events = the_run(server, DOC_CONVERSATION, "support_workflow")
    assert run.status is RunStatus.COMPLETED
    assert "triage" in {step.agent_name for step in steps}


def test_exporter_configured_in_code_sends_hand_made_spans(server: Server, tmp_path: Path) -> None:
    code = "\n\n".join(
        [
            PROVIDER_ONLY,
            block("exporter_in_code", server.base, server.key),
            "CONVERSATION = 'docs-in-code'",
            HAND_SPANS,
        ]
    )
    run_python(code, tmp_path)  # no environment variables at all
    assert_hand_spans(server, "docs-in-code")


def test_json_exporter_sends_hand_made_spans(server: Server, tmp_path: Path) -> None:
    code = "\n\n".join(
        [
            PROVIDER_ONLY,
            block("json_exporter", server.base, server.key),
            "CONVERSATION = 'docs-json'",
            HAND_SPANS,
        ]
    )
    run_python(code, tmp_path)
    assert_hand_spans(server, "docs-json")


def test_metrics_lines_send_gen_ai_metrics_under_the_service_task(
    server: Server, tmp_path: Path
) -> None:
    conversation = "docs-metrics"
    code = "\n\n".join(
        [
            block("exporter"),
            block("metrics"),
            # PydanticAI given both providers, as the page says right after the block.
            "from otel_producers import run_pydantic_ai",
            f"summary = run_pydantic_ai(tracer_provider, conversation_id={conversation!r},"
            " meter_provider=meter_provider)",
            "meter_provider.shutdown()",
            "tracer_provider.shutdown()",
            report("summary"),
        ]
    )
    env = [block("env", server.base, server.key), block("env_optional")]
    summary = run_python(code, tmp_path, *env)
    assert_workflow(server, summary)  # the spans went too, gzip-compressed
    with server.session() as db:
        points = db.scalars(
            select(MetricPoint)
            .join(Task, Task.id == MetricPoint.task_id)
            .where(Task.title == "support-bot")
        ).all()
    names = {point.name for point in points}
    assert "gen_ai.client.token.usage" in names, names
    assert all(point.labels.get("service.name") == "support-bot" for point in points)


def _curl_lines(script: str, key: str) -> list[tuple[dict[str, str], str]]:
    """Each ``curl -H ... URL`` line of a shell block as (headers, url), ``$KEY`` filled in."""
    requests = []
    for line in script.splitlines():
        if not line.startswith("curl "):
            continue
        words = shlex.split(line.replace("$KEY", key))
        headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
        requests.append((headers, words[-1]))
    return requests


@pytest.mark.skipif(shutil.which("curl") is None, reason="the page's examples use curl")
def test_curl_example_records_a_trace_and_check_it_arrived_finds_it(
    server: Server, tmp_path: Path
) -> None:
    answer = json.loads(run_shell(block("curl_json", server.base, server.key), tmp_path))
    assert answer == {}, answer  # an ExportTraceServiceResponse without partial_success

    check = block("check", server.base, server.key)
    out = run_shell(check, tmp_path)
    decoder = json.JSONDecoder()
    answers: list[Any] = []
    at = 0
    while at < len(out.strip()):
        value, at = decoder.raw_decode(out, at)
        answers.append(value)
        while at < len(out) and out[at].isspace():
            at += 1
    requests = _curl_lines(check, server.key)
    assert len(answers) == len(requests) == 3
    # The same requests through httpx, as a program would make them, answer the same.
    for (headers, url), shown in zip(requests, answers, strict=True):
        response = httpx.get(url, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == shown

    everything, conversation, trace = answers
    assert DOC_CONVERSATION in {s["external_id"] for s in everything}
    [session] = conversation
    assert session["external_id"] == DOC_CONVERSATION
    assert session["run_count"] >= 1
    assert trace["trace_id"] == CURL_TRACE_ID
    assert trace["run"]["status"] == RunStatus.COMPLETED.value
    assert trace["run"]["session_id"] == session["id"]
    assert [a["agent_name"] for a in trace["agent_runs"]] == ["triage"]
    assert trace["waiting_spans"] == 0

    unauthorized = httpx.get(requests[0][1], timeout=30)
    assert unauthorized.status_code == 401
