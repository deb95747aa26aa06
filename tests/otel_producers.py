"""Real agent frameworks producing OpenTelemetry spans, offline: the producers issue 12's tests use.

Each ``run_*`` function runs a small multi-agent workflow with one framework, instrumented the
way that framework's own documentation says, with an offline model (no network, no API key),
and sends its spans to the ``TracerProvider`` it is given. The tests give a provider whose
``BatchSpanProcessor`` exports over OTLP/HTTP to a real Flightlog server, then assert the
database holds what the returned ``ProducerSummary`` says the workflow did.

The configuration lines here are the same code as the snippets in docs/connect-agents.md
("Connect your agents"): keep the two in step, so that the tests exercise what the page tells
users to write.

Why real frameworks and not hand-built spans: each framework (and each generation of the GenAI
semantic conventions or of OpenInference) names things differently, and only the real producers
show which names the mapping must read.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from agents import Agent as OpenAIAgent
from agents import RunConfig, Runner, function_tool
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall
from langchain_core.messages.ai import UsageMetadata
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from openinference.instrumentation import using_session
from openinference.instrumentation.langchain import LangChainInstrumentor
from openinference.instrumentation.openai_agents import OpenAIAgentsInstrumentor
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from pydantic_ai import Agent, InstrumentationSettings, RunContext
from pydantic_ai.messages import (
    ModelMessage,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionDef, FunctionModel
from pydantic_ai.usage import RequestUsage

from otel_offline_model import (
    OPENAI_AGENTS_INPUT_TOKENS,
    OPENAI_AGENTS_OUTPUT_TOKENS,
    OfflineModel,
)


@dataclass(frozen=True)
class ProducerSummary:
    """What one offline workflow did, for tests to compare with the database.

    ``agents`` are the agent names as the framework reports them (for LangGraph, the graph
    nodes acting as agents); ``tools`` the tool names called; ``input_tokens`` and
    ``output_tokens`` the totals the fake model reported over all its calls; ``workflow`` the
    name of the trace's root span (the root agent's name for PydanticAI).
    """

    framework: str
    agents: tuple[str, ...]
    tools: tuple[str, ...]
    input_tokens: int
    output_tokens: int
    model_calls: int
    conversation_id: str | None
    output: str
    workflow: str

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens, the figure a run's token total should show."""
        return self.input_tokens + self.output_tokens


# --------------------------------------------------------------------------------------------
# Plain opentelemetry-sdk, OTLP/JSON
# --------------------------------------------------------------------------------------------


class OTLPJsonSpanExporter(SpanExporter):
    """Exports spans as OTLP/JSON over HTTP (``Content-Type: application/json``).

    OpenTelemetry's Python OTLP/HTTP exporter speaks protobuf only, and its JSON sibling
    (opentelemetry-exporter-otlp-json-http, beta) cannot be installed beside it at current
    versions; so this posts the JSON that the official encoder
    (opentelemetry-exporter-otlp-json-common) makes: hex trace and span ids, 64-bit integers as
    strings, lowerCamelCase fields, as the OTLP specification wants. No retries: a failed
    request fails the batch.
    """

    def __init__(
        self, endpoint: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0
    ) -> None:
        self._endpoint = endpoint
        self._headers = {"Content-Type": "application/json", **(headers or {})}
        self._timeout = timeout

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """POST one ExportTraceServiceRequest holding ``spans``."""
        body = encode_spans(spans).to_json().encode()
        request = urllib.request.Request(self._endpoint, body, self._headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                response.read()
        except OSError:  # URLError and HTTPError (any non-2xx answer) are OSErrors
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release: each export opens its own connection."""


# --------------------------------------------------------------------------------------------
# PydanticAI
# --------------------------------------------------------------------------------------------

PYDANTIC_AI_INPUT_TOKENS = 50
PYDANTIC_AI_OUTPUT_TOKENS = 10


async def run_pydantic_ai_async(
    tracer_provider: TracerProvider,
    *,
    conversation_id: str | None = None,
    meter_provider: MeterProvider | None = None,
) -> ProducerSummary:
    """A coordinator agent looks up an order with a tool, then delegates to a refunds agent.

    Instrumented as PydanticAI's docs say (``Agent.instrument_all(InstrumentationSettings(
    tracer_provider=...))``); ``instrument_all`` is global, so it is reset to off at the end.
    Each ``FunctionModel`` response reports fixed usage, so the token totals are exact.
    """
    calls = 0

    def scripted(*steps: ModelResponsePart) -> FunctionDef:
        """A model function answering with the next step each call, with fixed usage."""
        script = iter(steps)

        def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            nonlocal calls
            calls += 1
            usage = RequestUsage(
                input_tokens=PYDANTIC_AI_INPUT_TOKENS, output_tokens=PYDANTIC_AI_OUTPUT_TOKENS
            )
            return ModelResponse(parts=[next(script)], usage=usage)

        return respond

    coordinator_model = scripted(
        ToolCallPart("lookup_order", {"order_id": "A-17"}),
        ToolCallPart("delegate_refund", {"request": "Refund order A-17, 42 EUR"}),
        TextPart("Done: refund R-1 issued for A-17."),
    )
    refunds_model = scripted(
        ToolCallPart("issue_refund", {"order_id": "A-17", "amount": 42}),
        TextPart("Refund R-1 issued."),
    )
    refunds = Agent(
        FunctionModel(refunds_model, model_name="fake-refunds-model"),
        name="refunds",
        instructions="You issue refunds.",
    )
    coordinator: Agent[None, str] = Agent(
        FunctionModel(coordinator_model, model_name="fake-coordinator-model"),
        name="coordinator",
        instructions="You answer customers and delegate refunds.",
    )

    @refunds.tool_plain
    def issue_refund(order_id: str, amount: int) -> str:
        """Issue a refund."""
        return f"refund R-1 for {order_id}: {amount} EUR"

    @coordinator.tool_plain
    def lookup_order(order_id: str) -> str:
        """Look an order up."""
        return f"order {order_id}: 42 EUR, damaged"

    @coordinator.tool
    async def delegate_refund(ctx: RunContext[None], request: str) -> str:
        """Hand the refund to the refunds agent (agent delegation, as PydanticAI documents it)."""
        result = await refunds.run(request, usage=ctx.usage)
        return result.output

    # -- the lines docs/connect-agents.md shows --
    Agent.instrument_all(
        InstrumentationSettings(tracer_provider=tracer_provider, meter_provider=meter_provider)
    )
    try:
        result = await coordinator.run(
            "Refund my damaged order A-17", conversation_id=conversation_id
        )
    finally:
        Agent.instrument_all(False)
    tracer_provider.force_flush()
    return ProducerSummary(
        framework="pydantic_ai",
        agents=("coordinator", "refunds"),
        tools=("lookup_order", "delegate_refund", "issue_refund"),
        input_tokens=PYDANTIC_AI_INPUT_TOKENS * calls,
        output_tokens=PYDANTIC_AI_OUTPUT_TOKENS * calls,
        model_calls=calls,
        # PydanticAI makes up a conversation id (a UUID7) when none is given.
        conversation_id=result.conversation_id,
        output=result.output,
        workflow="coordinator",
    )


# --------------------------------------------------------------------------------------------
# LangGraph (LangChain) through OpenInference
# --------------------------------------------------------------------------------------------

LANGGRAPH_USAGE = ((40, 8), (60, 12), (30, 20))
"""(input, output) tokens of the three fake model calls: research (tool call), research, write."""


@tool
def search_docs(query: str) -> str:
    """Search the policy documents."""
    return f"policy for {query}: refunds within 30 days"


def _ai(text: str, usage: tuple[int, int], tool_calls: list[ToolCall] | None = None) -> AIMessage:
    return AIMessage(
        content=text,
        tool_calls=tool_calls or [],
        usage_metadata=UsageMetadata(
            input_tokens=usage[0], output_tokens=usage[1], total_tokens=usage[0] + usage[1]
        ),
    )


def _build_langgraph() -> CompiledStateGraph[MessagesState, None, MessagesState, MessagesState]:
    """A researcher agent (calls ``search_docs`` through a tool node) hands over to a writer."""
    call = ToolCall(name="search_docs", args={"query": "refunds"}, id="call_search_1")
    researcher_model = FakeMessagesListChatModel(
        responses=[
            _ai("", LANGGRAPH_USAGE[0], [call]),
            _ai("Refunds are accepted within 30 days.", LANGGRAPH_USAGE[1]),
        ]
    )
    writer_model = FakeMessagesListChatModel(
        responses=[_ai("Dear customer, you can get a refund within 30 days.", LANGGRAPH_USAGE[2])]
    )

    def researcher(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [researcher_model.invoke(state["messages"])]}

    def writer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [writer_model.invoke(state["messages"])]}

    def route(state: MessagesState) -> str:
        last = state["messages"][-1]
        return "tools" if isinstance(last, AIMessage) and last.tool_calls else "writer"

    graph = StateGraph(MessagesState)
    graph.add_node("researcher", researcher)
    graph.add_node("tools", ToolNode([search_docs]))
    graph.add_node("writer", writer)
    graph.add_edge(START, "researcher")
    graph.add_conditional_edges("researcher", route, ["tools", "writer"])
    graph.add_edge("tools", "researcher")
    graph.add_edge("writer", END)
    return graph.compile()


async def run_langgraph_async(
    tracer_provider: TracerProvider, *, conversation_id: str | None = None
) -> ProducerSummary:
    """Run the researcher → tools → researcher → writer graph under OpenInference's instrumentor.

    ``LangChainInstrumentor`` patches LangChain globally (an OpenTelemetry ``BaseInstrumentor``
    is a singleton that ignores a second ``instrument()``), so it is uninstrumented at the end,
    which lets the next call instrument again with another provider. The conversation id goes in
    as LangGraph's ``thread_id``, which OpenInference records as ``session.id``.
    """
    app = _build_langgraph()
    config: RunnableConfig = {"run_name": "support_graph"}
    if conversation_id is not None:
        config["configurable"] = {"thread_id": conversation_id}
    # -- the lines docs/connect-agents.md shows --
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        state = await app.ainvoke({"messages": [HumanMessage("Can I get a refund?")]}, config)
    finally:
        instrumentor.uninstrument()
    tracer_provider.force_flush()
    inputs = sum(usage[0] for usage in LANGGRAPH_USAGE)
    outputs = sum(usage[1] for usage in LANGGRAPH_USAGE)
    return ProducerSummary(
        framework="langgraph",
        agents=("researcher", "writer"),
        tools=("search_docs",),
        input_tokens=inputs,
        output_tokens=outputs,
        model_calls=len(LANGGRAPH_USAGE),
        conversation_id=conversation_id,
        output=str(state["messages"][-1].content),
        workflow="support_graph",
    )


# --------------------------------------------------------------------------------------------
# OpenAI Agents SDK through OpenInference
# --------------------------------------------------------------------------------------------


@function_tool
def check_warranty(serial: str) -> str:
    """Check whether a device is still under warranty."""
    return f"device {serial}: under warranty until 2027"


async def run_openai_agents_async(
    tracer_provider: TracerProvider, *, conversation_id: str | None = None
) -> ProducerSummary:
    """A triage agent hands off to a warranty specialist, which calls ``check_warranty``.

    ``OpenAIAgentsInstrumentor().instrument()`` replaces the SDK's trace processors with its
    own by default (``exclusive_processor=True``), so the SDK's default exporter to OpenAI's
    backend is not called while instrumented: nothing leaves the machine. The SDK's tracing
    itself stays on (disabling it would remove every span). The conversation id becomes the
    SDK trace's ``group_id`` and, through ``using_session``, OpenInference's ``session.id``.
    """
    triage_model = OfflineModel("offline-triage", ["handoff:warranty_specialist"])
    specialist_model = OfflineModel(
        "offline-specialist",
        ['tool:check_warranty {"serial": "SN-9"}', "Your device SN-9 is under warranty."],
    )
    specialist = OpenAIAgent(
        name="warranty_specialist",
        instructions="You answer warranty questions.",
        model=specialist_model,
        tools=[check_warranty],
    )
    triage = OpenAIAgent(
        name="triage",
        instructions="Route the customer to the right specialist.",
        model=triage_model,
        handoffs=[specialist],
    )
    run_config = RunConfig(workflow_name="support_workflow", group_id=conversation_id)
    # -- the lines docs/connect-agents.md shows --
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        with using_session(conversation_id) if conversation_id else nullcontext():
            result = await Runner.run(triage, "Is my device SN-9 covered?", run_config=run_config)
    finally:
        instrumentor.uninstrument()
    tracer_provider.force_flush()
    calls = triage_model.calls + specialist_model.calls
    return ProducerSummary(
        framework="openai_agents",
        agents=("triage", "warranty_specialist"),
        tools=("check_warranty",),
        input_tokens=OPENAI_AGENTS_INPUT_TOKENS * calls,
        output_tokens=OPENAI_AGENTS_OUTPUT_TOKENS * calls,
        model_calls=calls,
        conversation_id=conversation_id,
        output=str(result.final_output),
        workflow="support_workflow",
    )


# --------------------------------------------------------------------------------------------
# Synchronous faces, for tests that are not coroutines
# --------------------------------------------------------------------------------------------


def run_pydantic_ai(
    tracer_provider: TracerProvider,
    *,
    conversation_id: str | None = None,
    meter_provider: MeterProvider | None = None,
) -> ProducerSummary:
    """``run_pydantic_ai_async`` on an event loop of its own (not from inside a running loop)."""
    run = run_pydantic_ai_async(
        tracer_provider, conversation_id=conversation_id, meter_provider=meter_provider
    )
    return asyncio.run(run)


def run_langgraph(
    tracer_provider: TracerProvider, *, conversation_id: str | None = None
) -> ProducerSummary:
    """``run_langgraph_async`` on an event loop of its own (not from inside a running loop)."""
    return asyncio.run(run_langgraph_async(tracer_provider, conversation_id=conversation_id))


def run_openai_agents(
    tracer_provider: TracerProvider, *, conversation_id: str | None = None
) -> ProducerSummary:
    """``run_openai_agents_async`` on an event loop of its own (not from inside a running loop)."""
    return asyncio.run(run_openai_agents_async(tracer_provider, conversation_id=conversation_id))


PRODUCERS = {
    "pydantic_ai": run_pydantic_ai,
    "langgraph": run_langgraph,
    "openai_agents": run_openai_agents,
}
"""Each framework's synchronous producer by name, for parametrized tests."""
