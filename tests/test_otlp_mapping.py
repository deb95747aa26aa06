"""The span vocabulary in the wild, read the same way: GenAI <= 1.36, current GenAI,
OpenInference (pure functions, no database; the frameworks' real spans are in
test_otlp_frameworks.py)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flightlog.otlp import mapping
from flightlog.otlp.mapping import Role
from flightlog.otlp.spans import Attributes, Span, SpanEvent, StatusCode
from otlp_spans import make_span, new_trace_id


def _span(
    name: str,
    attributes: Attributes,
    *,
    status: StatusCode = StatusCode.UNSET,
    events: tuple[SpanEvent, ...] = (),
    resource: Attributes | None = None,
) -> Span:
    return make_span(
        new_trace_id(), name, attributes, 0, 1, status=status, events=events, resource=resource
    )


@pytest.mark.parametrize(
    ("attributes", "name", "expected"),
    [
        ({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}, "x", Role.AGENT),
        ({"gen_ai.operation.name": "chat"}, "chat gpt-4o", Role.MODEL),
        ({"gen_ai.operation.name": "embeddings"}, "embeddings", Role.MODEL),
        ({"gen_ai.operation.name": "execute_tool"}, "execute_tool t", Role.TOOL),
        ({"openinference.span.kind": "LLM"}, "ChatOpenAI", Role.MODEL),
        ({"openinference.span.kind": "TOOL"}, "search", Role.TOOL),
        ({"openinference.span.kind": "AGENT", "agent.name": "triage"}, "triage", Role.AGENT),
        ({"openinference.span.kind": "AGENT"}, "Agent workflow", Role.OTHER),
        ({"openinference.span.kind": "CHAIN"}, "RunnableSequence", Role.OTHER),
        (
            {"openinference.span.kind": "CHAIN", "metadata": '{"langgraph_node": "writer"}'},
            "writer",
            Role.AGENT,
        ),
        (  # a step inside the node inherits its metadata: not the node itself
            {"openinference.span.kind": "CHAIN", "metadata": '{"langgraph_node": "writer"}'},
            "route",
            Role.OTHER,
        ),
        ({}, "GET /health", Role.OTHER),
    ],
)
def test_roles(attributes: Attributes, name: str, expected: Role) -> None:
    assert mapping.role(_span(name, attributes)) is expected


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 5},
        {"gen_ai.usage.prompt_tokens": 12, "gen_ai.usage.completion_tokens": 5},
        {"llm.token_count.prompt": 12, "llm.token_count.completion": 5},
        {"llm.token_count.prompt": "12", "llm.token_count.completion": 5.0},
    ],
)
def test_tokens_of_every_generation(attributes: Attributes) -> None:
    usage = mapping.usage(_span("chat", attributes))
    assert (usage.input_tokens, usage.output_tokens) == (12, 5)


def test_stated_cost_and_nonsense_counts() -> None:
    stated = mapping.usage(_span("llm", {"llm.cost.prompt": 0.01, "llm.cost.completion": "0.02"}))
    assert stated.reported_cost_usd == Decimal("0.03")
    nonsense = mapping.usage(
        _span("llm", {"gen_ai.usage.input_tokens": -4, "llm.cost.total": "NaN"})
    )
    assert (nonsense.input_tokens, nonsense.reported_cost_usd) == (0, None)


def test_messages_in_attributes_flattened_and_events() -> None:
    current = _span("chat", {"gen_ai.input.messages": '[{"role": "user"}]'})
    assert mapping.messages(current) == {"input": [{"role": "user"}]}
    flattened = _span(
        "llm",
        {
            "llm.input_messages.1.message.content": "second",
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "first",
            "gen_ai.completion.0.content": "answer",
        },
    )
    assert mapping.messages(flattened) == {
        "input": [{"role": "system", "content": "first"}, {"content": "second"}],
        "output": [{"content": "answer"}],
    }
    old = _span(
        "chat",
        {},
        events=(
            SpanEvent("gen_ai.user.message", 1, {"content": "hi"}),
            SpanEvent("gen_ai.choice", 2, {"index": 0, "message": '{"content":"yo"}'}),
        ),
    )
    assert mapping.messages(old) == {
        "events": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "index": 0, "message": '{"content":"yo"}'},
        ]
    }


def test_tools_agents_conversations_and_errors() -> None:
    openinference = _span(
        "search_docs",
        {"openinference.span.kind": "TOOL", "tool.name": "search", "input.value": "q"},
    )
    assert mapping.tool_call(openinference) == ("search", None, "q", None)
    assert mapping.agent_name(_span("invoke_agent coder", {})) == "coder"
    on_resource = _span("x", {}, resource={"session.id": "s-1"})
    assert mapping.conversation(on_resource) == "s-1"
    handled = _span("x", {}, events=(SpanEvent("exception", 1, {"exception.type": "E"}),))
    assert mapping.error(handled) is None
    failed = _span(
        "x",
        {},
        status=StatusCode.ERROR,
        events=(
            SpanEvent("exception", 1, {"exception.type": "KeyError", "exception.message": "k"}),
        ),
    )
    assert mapping.error(failed) == ("k", "KeyError", None)


def test_the_task_rule() -> None:
    explicit = _span(
        "invoke_agent a",
        {"gen_ai.operation.name": "invoke_agent"},
        resource={"flightlog.task_id": "abc", "flightlog.task": "Named"},
    )
    assert mapping.task_reference(explicit) == ("abc", "Named")
    by_agent = _span("invoke_agent coordinator", {"gen_ai.operation.name": "invoke_agent"})
    assert mapping.task_reference(by_agent) == (None, "coordinator")
    workflow = _span("support_workflow", {"openinference.span.kind": "AGENT"})
    assert mapping.task_reference(workflow) == (None, "support_workflow")


def test_a_reading_is_kept_on_the_span_and_not_carried_into_a_changed_copy() -> None:
    """Readings are memoized on the span (read ahead of the ingest's lock); a span made
    from another with ``dataclasses.replace`` is read afresh, and the memo is not part of
    a span's value."""
    from dataclasses import replace

    from flightlog.otlp.readings import model_call, read_ahead

    chat = make_span(
        new_trace_id(),
        "chat gpt-4o",
        {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 7},
        0,
        1,
    )
    read_ahead([chat])
    assert mapping.role(chat) is Role.MODEL
    assert model_call(chat).usage.input_tokens == 7
    assert "model_call" in chat.memo
    tool = replace(chat, attributes={"gen_ai.operation.name": "execute_tool"})
    assert tool.memo == {}
    assert mapping.role(tool) is Role.TOOL
    more = replace(chat, attributes={**chat.attributes, "gen_ai.usage.input_tokens": 9})
    assert model_call(more).usage.input_tokens == 9
    assert replace(chat) == chat
    assert "memo" not in repr(chat)


_JSON_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",))) | st.sampled_from(
    ["caf\u00e9", "a\x7fb", "\x00", "tab\there", 'quote "q"', "\U0001f600", "\u2028"]
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)


@given(_JSON_VALUES)
@settings(max_examples=300, deadline=None)
def test_contents_stored_form_is_what_the_engines_serializer_writes(value: object) -> None:
    """The stored form is spliced into an event's data as it is (not encoded again), so it
    must be exactly encode_json's text of the cleaned value, and utf8 its compact text."""
    from flightlog.ingest.events import encode_json
    from flightlog.otlp.readings import clean, clean_encoded

    content = clean_encoded(value)
    assert content.value == clean(value)
    assert content.stored == encode_json(content.value)
    assert json.loads(content.utf8) == content.value
