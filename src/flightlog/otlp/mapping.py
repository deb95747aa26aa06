"""What a span means for the record: which role it plays and what it carries.

Three vocabularies are in use by agent frameworks today, and one span may mix
them: the OpenTelemetry GenAI semantic conventions up to 1.36
(``gen_ai.usage.prompt_tokens``, messages as span events), the current ones
(``gen_ai.usage.input_tokens``, ``gen_ai.input.messages`` attributes,
``invoke_agent`` / ``execute_tool``), and OpenInference
(``openinference.span.kind``, ``llm.token_count.*``, ``session.id``). Each
fact below is read from whichever name is present, in the order the tables
list them; docs/otlp.md gives the same table for users.

Pure functions over :class:`~flightlog.otlp.spans.Span`: no database here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import TypeVar

from flightlog.otlp.spans import Attributes, AttrValue, Span, StatusCode

_T = TypeVar("_T")


class Role(Enum):
    """What a span becomes: an agent step, a model call, a tool call, or only ancestry."""

    AGENT = "agent"
    MODEL = "model"
    TOOL = "tool"
    OTHER = "other"


_MODEL_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "completion", "embeddings"}
)
_MODEL_KINDS = frozenset({"LLM", "EMBEDDING"})
_OPERATION_PREFIX = re.compile(r"^(invoke_agent|execute_tool|chat|create_agent)\s+")

#: Names read for each fact, first present wins (current GenAI, older GenAI, OpenInference).
INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
CACHED_INPUT_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
AGENT_NAME = ("gen_ai.agent.name", "agent.name", "graph.node.id", "agent_name")
CONVERSATION = ("gen_ai.conversation.id", "session.id")
TOOL_NAME = ("gen_ai.tool.name", "tool.name")
TOOL_ARGUMENTS = ("gen_ai.tool.call.arguments", "tool_arguments", "input.value")
TOOL_RESULT = ("gen_ai.tool.call.result", "tool_response", "output.value")
#: Attributes that name the task a trace's run belongs to (span first, then resource).
TASK_ID = "flightlog.task_id"
TASK_TITLE = "flightlog.task"
#: GenAI (<= 1.36) message events, in conversation order of their roles.
_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
    "gen_ai.choice": "assistant",
}
_INDEXED_MESSAGE = re.compile(r"^llm\.(input|output)_messages\.(\d{1,6})\.message\.(.+)$")
_INDEXED_PROMPT = re.compile(r"^gen_ai\.(prompt|completion)\.(\d{1,6})\.(.+)$")


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens a model call reports, and the cost if the span itself states one."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reported_cost_usd: Decimal | None = None


def first(attributes: Attributes, names: Iterable[str]) -> AttrValue:
    """The value of the first of ``names`` present (and not empty) in ``attributes``."""
    for name in names:
        value = attributes.get(name)
        if value is not None and value != "":
            return value
    return None


def text(value: AttrValue) -> str | None:
    """An attribute value as text: strings as they are, anything else as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return json.dumps(_jsonable(value), ensure_ascii=False)


def _jsonable(value: AttrValue) -> object:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value


def _count(value: AttrValue) -> int:
    """A token count as given (an int, a whole float, digits); anything else counts 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return 0


def metadata(span: Span) -> Mapping[str, object]:
    """OpenInference's ``metadata`` attribute (a JSON string) as a mapping, or empty."""
    raw = span.attributes.get("metadata")
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw.startswith("{"):
        try:
            parsed = json.loads(raw)
        except (ValueError, RecursionError):
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def graph_node(span: Span) -> str | None:
    """The LangGraph node a CHAIN/AGENT span *is* (not merely runs inside), if any.

    Children of a node inherit its metadata, so only the span named after
    the node is the node itself.
    """
    node = metadata(span).get("langgraph_node")
    return node if isinstance(node, str) and node == span.name else None


def memoized(span: Span, key: str, read: Callable[[Span], _T]) -> _T:
    """``read(span)``, read once per span and kept in its memo under ``key``."""
    memo = span.memo
    if key in memo:
        found: _T = memo[key]
        return found
    value = memo[key] = read(span)
    return value


def role(span: Span) -> Role:
    """The role of a span in the record (see the table in docs/otlp.md)."""
    found: Role | None = span.memo.get("role")  # the hot path: read ahead already
    return found if found is not None else memoized(span, "role", _role)


def _role(span: Span) -> Role:
    attributes = span.attributes
    given = attributes.get("gen_ai.operation.name")
    operation = given if isinstance(given, str) else None
    kind_given = attributes.get("openinference.span.kind")
    kind = kind_given.upper() if isinstance(kind_given, str) else None
    if operation == "invoke_agent":
        return Role.AGENT
    if operation == "execute_tool" or kind == "TOOL":
        return Role.TOOL
    if operation in _MODEL_OPERATIONS or kind in _MODEL_KINDS:
        return Role.MODEL
    if kind in ("CHAIN", "AGENT") and graph_node(span) is not None:
        return Role.AGENT
    if kind == "AGENT" and first(attributes, ("agent.name", "graph.node.id")) is not None:
        return Role.AGENT
    return Role.OTHER


def bare_name(span: Span) -> str:
    """The span's name without its GenAI operation (``invoke_agent coder`` -> ``coder``)."""
    return _OPERATION_PREFIX.sub("", span.name).strip() or span.name


def agent_name(span: Span) -> str:
    """The agent a span stands for: its declared name, its graph node, or its bare name."""
    named = text(first(span.attributes, AGENT_NAME))
    return (named or graph_node(span) or bare_name(span))[:100]


def usage(span: Span) -> Usage:
    """The tokens (and any stated cost) of a model call."""
    return memoized(span, "usage", _usage)


def _usage(span: Span) -> Usage:
    attributes = span.attributes
    return Usage(
        input_tokens=_count(first(attributes, INPUT_TOKENS)),
        output_tokens=_count(first(attributes, OUTPUT_TOKENS)),
        cached_input_tokens=_count(first(attributes, CACHED_INPUT_TOKENS)),
        reported_cost_usd=_reported_cost(attributes),
    )


def _decimal(value: AttrValue) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return None
        return number if number.is_finite() and 0 <= number < Decimal(10) ** 8 else None
    return None


def _reported_cost(attributes: Attributes) -> Decimal | None:
    total = _decimal(first(attributes, ("llm.cost.total", "gen_ai.usage.cost")))
    if total is not None:
        return total
    parts = [_decimal(attributes.get(name)) for name in ("llm.cost.prompt", "llm.cost.completion")]
    found = [part for part in parts if part is not None]
    return sum(found, Decimal(0)) if found else None


def model_name(span: Span) -> str | None:
    """The model a call went to, as reported (the response's model before the request's)."""
    named = text(first(span.attributes, MODEL))
    if named:
        return named[:200]
    fallback = metadata(span).get("ls_model_name")
    return fallback[:200] if isinstance(fallback, str) and fallback else None


def provider(span: Span) -> str | None:
    """The model provider (``openai``, ``anthropic``…), as reported."""
    return text(first(span.attributes, PROVIDER))


def conversation(span: Span) -> str | None:
    """The conversation (session) id a span carries, on the span or its resource."""
    found = text(first(span.attributes, CONVERSATION)) or text(first(span.resource, CONVERSATION))
    # Whole (the session keeps a long one under a fitted key: writer.session_name); a
    # blank one names no conversation, as a blank flightlog.task names no task.
    return found if found and found.strip() else None


def tool_call(span: Span) -> tuple[str, str | None, str | None, str | None]:
    """(name, call id, arguments, result) of a tool span."""
    attributes = span.attributes
    name = text(first(attributes, TOOL_NAME)) or bare_name(span)
    call_id = text(attributes.get("gen_ai.tool.call.id"))
    return (
        name[:200],
        call_id,
        text(first(attributes, TOOL_ARGUMENTS)),
        text(first(attributes, TOOL_RESULT)),
    )


def messages(span: Span) -> dict[str, object]:
    """The prompt and answer of a model call, from whichever convention carries them."""
    attributes = span.attributes
    found: dict[str, object] = {}
    for key, name in (
        ("system", "gen_ai.system_instructions"),
        ("input", "gen_ai.input.messages"),
        ("output", "gen_ai.output.messages"),
    ):
        value = attributes.get(name)
        if value is not None:
            found[key] = _parsed(value)
    if found:
        return found
    indexed = _indexed_messages(attributes)
    if indexed:
        return indexed
    from_events = [
        {
            "role": _MESSAGE_EVENTS[event.name],
            **{k: _jsonable(v) for k, v in event.attributes.items()},
        }
        for event in span.events
        if event.name in _MESSAGE_EVENTS
    ]
    if from_events:
        return {"events": from_events}
    plain = {
        key: _parsed(attributes[name])
        for key, name in (("input", "input.value"), ("output", "output.value"))
        if name in attributes
    }
    return plain


def _parsed(value: AttrValue) -> object:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            parsed: object = json.loads(value)
        except (ValueError, RecursionError):
            return value
        return parsed
    return _jsonable(value)


def _indexed_messages(attributes: Attributes) -> dict[str, object]:
    """OpenInference's ``llm.input_messages.0.message.role`` (and GenAI's old
    ``gen_ai.prompt.0.content``) flattened attributes, folded back into lists."""
    sides: dict[str, dict[int, dict[str, object]]] = {}
    for key, value in attributes.items():
        match = _INDEXED_MESSAGE.match(key) or _INDEXED_PROMPT.match(key)
        if match is None:
            continue
        side = {"prompt": "input", "completion": "output"}.get(match[1], match[1])
        sides.setdefault(side, {}).setdefault(int(match[2]), {})[match[3]] = _jsonable(value)
    return {side: [items[i] for i in sorted(items)] for side, items in sides.items()}


def error(span: Span) -> tuple[str, str | None, str | None] | None:
    """(message, exception type, stack trace) when the span failed, else None."""
    return memoized(span, "error", _error)


def _error(span: Span) -> tuple[str, str | None, str | None] | None:
    exception = next((event for event in span.events if event.name == "exception"), None)
    if span.status_code is not StatusCode.ERROR and exception is None:
        return None
    if span.status_code is not StatusCode.ERROR and exception is not None:
        # An exception recorded on a span that did not fail was handled; not a failure.
        return None
    kind = text(exception.attributes.get("exception.type")) if exception else None
    message = span.status_message or (
        text(exception.attributes.get("exception.message")) if exception else None
    )
    trace = text(exception.attributes.get("exception.stacktrace")) if exception else None
    return (message or kind or "the span failed", kind, trace)


def task_reference(root: Span) -> tuple[str | None, str]:
    """(explicit task id, task title) for the run a trace's root becomes.

    The rule (docs/otlp.md): a ``flightlog.task_id`` attribute on the root
    span or its resource names the task outright; otherwise the task is the
    customer's task titled ``flightlog.task`` (span, then resource), else the
    root's agent or workflow name.
    """
    explicit = text(root.attributes.get(TASK_ID)) or text(root.resource.get(TASK_ID))
    title = text(root.attributes.get(TASK_TITLE)) or text(root.resource.get(TASK_TITLE))
    if not title:
        title = agent_name(root) if role(root) is Role.AGENT else bare_name(root)
    return explicit, title  # task_rule fits a long one to the column, long ones kept apart
