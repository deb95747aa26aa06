"""An offline model for the OpenAI Agents SDK that produces the SDK's LLM spans.

tests/otel_producers.py runs the Agents SDK with it: no network, no API key. It lives apart
only to keep that module short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents import Handoff, ModelSettings, Tool
from agents.agent_output import AgentOutputSchemaBase
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.models.chatcmpl_converter import Converter
from agents.models.interface import Model, ModelTracing
from agents.testing import assistant_message, function_call
from agents.tracing import generation_span
from agents.usage import Usage
from openai.types.responses import ResponsePromptParam

OPENAI_AGENTS_INPUT_TOKENS = 70
OPENAI_AGENTS_OUTPUT_TOKENS = 15


class OfflineModel(Model):
    """An Agents SDK model that answers from a script, offline.

    Like the SDK's own OpenAI models it opens a ``generation_span`` around each call and puts
    the input, output and usage on it, which is what becomes an LLM span; a model that did not
    would leave the trace without any model call.
    """

    def __init__(self, name: str, script: list[str]) -> None:
        self.name = name
        self.script = list(script)
        self.calls = 0

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        step = self.script[self.calls]
        self.calls += 1
        with generation_span(model=self.name, disabled=tracing.is_disabled()) as span:
            if step.startswith("handoff:"):
                target = step.removeprefix("handoff:")
                name = next(h.tool_name for h in handoffs if h.agent_name == target)
                output = function_call(name, "{}", call_id=f"call_{name}")
                message = _chat_tool_call(f"call_{name}", name, "{}")
            elif step.startswith("tool:"):
                name, arguments = step.removeprefix("tool:").split(" ", 1)
                output = function_call(name, arguments, call_id=f"call_{name}")
                message = _chat_tool_call(f"call_{name}", name, arguments)
            else:
                output = assistant_message(step, item_id=f"msg_{self.calls}")
                message = {"role": "assistant", "content": step}
            usage = Usage(
                requests=1,
                input_tokens=OPENAI_AGENTS_INPUT_TOKENS,
                output_tokens=OPENAI_AGENTS_OUTPUT_TOKENS,
                total_tokens=OPENAI_AGENTS_INPUT_TOKENS + OPENAI_AGENTS_OUTPUT_TOKENS,
            )
            if tracing.include_data():
                # The chat-completions shapes the SDK's own chat-completions model traces.
                messages: list[Any] = list(Converter.items_to_messages(input))
                if system_instructions:
                    messages.insert(0, {"role": "system", "content": system_instructions})
                span.span_data.input = messages
                span.span_data.output = [message]
            span.span_data.usage = {
                "requests": usage.requests,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
            }
        return ModelResponse(output=[output], usage=usage, response_id=None)

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff[Any, Any]],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        raise NotImplementedError("the offline producers run agents without streaming")


def _chat_tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    """An assistant message calling one tool, as the chat-completions API returns it."""
    function = {"name": name, "arguments": arguments}
    call = {"id": call_id, "type": "function", "function": function}
    return {"role": "assistant", "content": None, "tool_calls": [call]}
