"""GenAI traces as an OpenTelemetry exporter sends them, built with the official protobuf classes.

A trace is what a small multi-agent workflow produces (PydanticAI-style
GenAI spans): a root ``invoke_agent`` span, three nested ``invoke_agent``
spans, and under each agent ``chat`` spans (``gpt-4o-mini``, with token
usage and ~300 bytes of input messages) and ``execute_tool`` spans (with
arguments and a result). Three workflows run side by side, so their spans
interleave. Spans are exported in the order they end (children before their
parent, the root last), as the SDK's ``BatchSpanProcessor`` does, and cut
into requests of 512 spans; a trace that straddles a cut arrives in two
requests. Everything is built before any clock starts.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2 as tpb

#: What ``opentelemetry-exporter-otlp-proto-http`` sends per request at most by default
#: (``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``).
SPANS_PER_REQUEST = 512
WORKFLOWS = ("support-triage", "refund-desk", "code-review", "travel-planner", "research")
SUB_AGENTS = ("researcher", "coder", "reviewer")
TOOLS = ("search_docs", "get_order", "run_tests", "fetch_page")
#: Spans per trace: the root, 2 chats and 1 tool of its own, 3 agents of 7 chats and 3 tools.
ROOT_CHATS, ROOT_TOOLS, AGENT_CHATS, AGENT_TOOLS = 2, 1, 7, 3
SPANS_PER_TRACE = 1 + ROOT_CHATS + ROOT_TOOLS + len(SUB_AGENTS) * (1 + AGENT_CHATS + AGENT_TOOLS)
#: Spans that become an event (chat and tool spans; agent spans become agent runs).
EVENTS_PER_TRACE = SPANS_PER_TRACE - 1 - len(SUB_AGENTS)
LANES = 3
T0 = 1_795_000_000_000_000_000  # 2026-11-18, nanoseconds
MS = 1_000_000


def _s(value: str) -> AnyValue:
    return AnyValue(string_value=value)


def _i(value: int) -> AnyValue:
    return AnyValue(int_value=value)


def _attrs(**values: AnyValue) -> list[KeyValue]:
    return [KeyValue(key=key.replace("__", "."), value=value) for key, value in values.items()]


def _messages(rng: random.Random, turn: int) -> tuple[str, str]:
    question = " ".join(rng.choice(_WORDS) for _ in range(22))
    answer = " ".join(rng.choice(_WORDS) for _ in range(18))
    prompt = [
        {"role": "system", "parts": [{"type": "text", "content": "You are a careful assistant."}]},
        {"role": "user", "parts": [{"type": "text", "content": f"Step {turn}: {question}"}]},
    ]
    output = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": answer}],
            "finish_reason": "stop",
        }
    ]
    return json.dumps(prompt), json.dumps(output)


_WORDS = (
    "order",
    "refund",
    "shipping",
    "customer",
    "invoice",
    "policy",
    "warehouse",
    "ticket",
    "delay",
    "account",
    "payment",
    "address",
    "return",
    "label",
    "carrier",
    "status",
    "update",
    "review",
    "change",
    "test",
    "failure",
)


@dataclass
class _Clock:
    now: int

    def span(self, duration_ms: int) -> tuple[int, int]:
        start = self.now
        self.now += duration_ms * MS
        return start, self.now


class _TraceBuilder:
    def __init__(self, rng: random.Random, index: int, start: int) -> None:
        self.rng = rng
        self.trace_id = rng.randbytes(16)
        self.clock = _Clock(start)
        self.spans: list[tpb.Span] = []
        self.index = index

    def _id(self) -> bytes:
        return self.rng.randbytes(8)

    def _chat(self, parent: bytes, agent: str, turn: int) -> None:
        start, end = self.clock.span(self.rng.randint(300, 1500))
        prompt, output = _messages(self.rng, turn)
        attributes = _attrs(
            gen_ai__operation__name=_s("chat"),
            gen_ai__provider__name=_s("openai"),
            gen_ai__request__model=_s("gpt-4o-mini"),
            gen_ai__response__model=_s("gpt-4o-mini"),
            gen_ai__agent__name=_s(agent),
            gen_ai__usage__input_tokens=_i(self.rng.randint(200, 3000)),
            gen_ai__usage__output_tokens=_i(self.rng.randint(20, 600)),
            gen_ai__input__messages=_s(prompt),
            gen_ai__output__messages=_s(output),
        )
        attributes.append(
            KeyValue(
                key="gen_ai.response.finish_reasons",
                value=AnyValue(array_value=ArrayValue(values=[_s("stop")])),
            )
        )
        self._add("chat gpt-4o-mini", parent, start, end, attributes, tpb.Span.SPAN_KIND_CLIENT)

    def _tool(self, parent: bytes, turn: int) -> None:
        start, end = self.clock.span(self.rng.randint(20, 200))
        tool = self.rng.choice(TOOLS)
        arguments = json.dumps({"query": f"{self.rng.choice(_WORDS)} #{turn}", "limit": 5})
        result = json.dumps(
            {"ok": True, "items": [" ".join(self.rng.choice(_WORDS) for _ in range(4))] * 3}
        )
        attributes = _attrs(
            gen_ai__operation__name=_s("execute_tool"),
            gen_ai__tool__name=_s(tool),
            gen_ai__tool__call__id=_s(f"call_{self.rng.randbytes(6).hex()}"),
            gen_ai__tool__call__arguments=_s(arguments),
            gen_ai__tool__call__result=_s(result),
        )
        self._add(f"execute_tool {tool}", parent, start, end, attributes)

    def _work(self, parent: bytes, agent: str, chats: int, tools: int) -> None:
        for turn in range(chats):
            self._chat(parent, agent, turn)
            if turn < tools:
                self._tool(parent, turn)

    def _add(
        self,
        name: str,
        parent: bytes | None,
        start: int,
        end: int,
        attributes: list[KeyValue],
        kind: int = tpb.Span.SPAN_KIND_INTERNAL,
        span_id: bytes | None = None,
    ) -> None:
        self.spans.append(
            tpb.Span(
                trace_id=self.trace_id,
                span_id=span_id or self._id(),
                parent_span_id=parent or b"",
                name=name,
                kind=kind,  # type: ignore[arg-type]
                start_time_unix_nano=start,
                end_time_unix_nano=end,
                attributes=attributes,
                status=tpb.Status(code=tpb.Status.STATUS_CODE_OK),
            )
        )

    def build(self) -> list[tpb.Span]:
        workflow = WORKFLOWS[self.index % len(WORKFLOWS)]
        root_id = self._id()
        root_start = self.clock.now
        self._work(root_id, workflow, ROOT_CHATS, ROOT_TOOLS)
        for agent in SUB_AGENTS:
            agent_id = self._id()
            agent_start = self.clock.now
            self._work(agent_id, agent, AGENT_CHATS, AGENT_TOOLS)
            attributes = _attrs(
                gen_ai__operation__name=_s("invoke_agent"), gen_ai__agent__name=_s(agent)
            )
            self._add(
                f"invoke_agent {agent}", root_id, agent_start, self.clock.now, attributes,
                span_id=agent_id,
            )  # fmt: skip
        attributes = _attrs(
            gen_ai__operation__name=_s("invoke_agent"),
            gen_ai__agent__name=_s(workflow),
            gen_ai__conversation__id=_s(f"conv-{self.index // 4:06d}-{self.trace_id.hex()[:6]}"),
            final_result=_s("Done: the request was handled."),
        )
        self._add(
            f"invoke_agent {workflow}", None, root_start, self.clock.now + MS, attributes,
            span_id=root_id,
        )  # fmt: skip
        return self.spans


def export_order(seed: int, traces: int) -> list[tpb.Span]:
    """``traces`` traces from ``LANES`` concurrent workflows, spans in the order they end."""
    rng = random.Random(seed)
    lanes = [T0 + lane * 7 * MS for lane in range(LANES)]
    spans: list[tpb.Span] = []
    for index in range(traces):
        lane = index % LANES
        built = _TraceBuilder(rng, index, lanes[lane]).build()
        lanes[lane] = max(s.end_time_unix_nano for s in built) + 5 * MS
        spans.extend(built)
    spans.sort(key=lambda s: s.end_time_unix_nano)
    return spans


def request(spans: list[tpb.Span]) -> bytes:
    """One ``ExportTraceServiceRequest`` body, as the protobuf HTTP exporter serialises it."""
    message = ExportTraceServiceRequest(
        resource_spans=[
            tpb.ResourceSpans(
                resource=Resource(
                    attributes=_attrs(
                        service__name=_s("support-agents"),
                        telemetry__sdk__language=_s("python"),
                        telemetry__sdk__name=_s("opentelemetry"),
                        telemetry__sdk__version=_s("1.38.0"),
                    )
                ),
                scope_spans=[
                    tpb.ScopeSpans(scope=InstrumentationScope(name="pydantic-ai"), spans=spans)
                ],
            )
        ]
    )
    return bytes(message.SerializeToString())


def bodies(seed: int, spans: int, per_request: int = SPANS_PER_REQUEST) -> list[bytes]:
    """About ``spans`` spans (whole traces) as request bodies of ``per_request`` spans."""
    ordered = export_order(seed, max(1, round(spans / SPANS_PER_TRACE)))
    return [request(ordered[i : i + per_request]) for i in range(0, len(ordered), per_request)]


def trace_bodies(seed: int, traces: int) -> list[tuple[bytes, list[str]]]:
    """One request per trace, with the span ids that become events (for stream latency)."""
    rng_traces = export_order(seed, traces)
    by_trace: dict[bytes, list[tpb.Span]] = {}
    for span in rng_traces:
        by_trace.setdefault(span.trace_id, []).append(span)
    return [
        (
            request(spans),
            [s.span_id.hex() for s in spans if not s.name.startswith("invoke_agent")],
        )
        for spans in by_trace.values()
    ]
