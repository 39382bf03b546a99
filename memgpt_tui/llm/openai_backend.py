"""Any OpenAI-compatible chat API through the official client: native tools or JSON mode, streamed."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from memgpt_tui.llm import api_client, json_mode, wire
from memgpt_tui.llm.api_client import PLACEHOLDER_KEY, LazyClient
from memgpt_tui.llm.base import LLMResponse, LLMToolCall, OnToken, PromptLayout, Tokenizer
from memgpt_tui.llm.json_mode import ResponseFormatKind
from memgpt_tui.llm.layout import JsonModeLayout, NativeLayout
from memgpt_tui.llm.streaming import PartialJSON
from memgpt_tui.llm.tokenizers import default_tokenizer
from memgpt_tui.model.state import BACKEND_DEFAULTS, FunctionCalling
from memgpt_tui.model.text import register_secret

if TYPE_CHECKING:
    import openai


class OpenAIBackend:
    """One chat completion per ``complete`` call, retried with backoff when the failure is transient.

    Optional request features a server rejects with a 400 (``tool_choice="required"``,
    ``stream_options``, ``response_format``) are dropped for the rest of the session and the request
    is sent again, so one backend works against OpenAI, vLLM, llama.cpp, Ollama and the like.
    """

    def __init__(
        self,
        *,
        model: str,
        name: str = "openai",
        base_url: str | None = None,
        api_key: str | None = None,
        function_calling: FunctionCalling = "native",
        context_window: int = BACKEND_DEFAULTS["openai-compatible"].context_window,
        timeout: float = 120.0,
        max_retries: int = 3,
        tokenizer: Tokenizer | None = None,
        json_response_format: ResponseFormatKind = "json_schema",
        fold_system: bool = False,
        stream: bool = True,
        max_tokens: int | None = None,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
    ) -> None:
        self.name = name
        self.model = model
        self.function_calling = function_calling
        self.context_window = context_window
        self.max_retries = max_retries
        self.fold_system = fold_system
        self.stream = stream
        self.max_tokens = max_tokens  # caps a rambling reply; None leaves it to the server
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        if api_key is None and name != "openai" and not os.environ.get("OPENAI_API_KEY"):
            api_key = PLACEHOLDER_KEY
        self._api = LazyClient(base_url, api_key, timeout)
        self.base_url = self._api.base_url
        register_secret(self._api.api_key)
        self.tokenizer = tokenizer or default_tokenizer(name, model, self.base_url, self._api.api_key)
        self.layout: PromptLayout = (
            JsonModeLayout(self.tokenizer, fold_system=fold_system)
            if function_calling == "json"
            else NativeLayout()
        )
        self._tool_choice_required = True
        self._stream_usage = True
        self._response_format: ResponseFormatKind = json_response_format

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_token: OnToken | None = None,
        require_tool: bool = True,
    ) -> LLMResponse:
        # JSON mode reads the reply as a call, unless no function is offered (a summary: free text).
        json_tools = tools if self.function_calling == "json" and tools else None

        def prepare() -> tuple[dict[str, Any], _Reply]:
            return self._params(messages, tools, require_tool), _Reply(on_token, json_tools)

        reply = await api_client.retried(self, prepare, self._send, self._drop_rejected_feature)
        return reply.result()

    def _params(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], require_tool: bool
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model}
        if self.max_tokens:
            params["max_tokens"] = self.max_tokens
        if self.function_calling == "json":
            params["messages"] = json_mode.to_text_turns(messages, tools, fold_system=self.fold_system)
            if (fmt := json_mode.response_format(tools, self._response_format)) is not None:
                params["response_format"] = fmt
        else:
            params["messages"] = messages
            if tools:
                params["tools"] = tools
                params["tool_choice"] = "required" if require_tool and self._tool_choice_required else "auto"
        if self.stream:
            params["stream"] = True
            if self._stream_usage:
                params["stream_options"] = {"include_usage": True}
        return params

    async def _send(self, params: dict[str, Any], reply: _Reply) -> None:
        async with api_client.posted(self._api, "/chat/completions", params) as response:
            if not self.stream:
                reply.whole(await api_client.whole(response, wire.Completion, reply))
                return
            async for chunk in api_client.events(response, wire.Chunk, reply):
                reply.chunk(chunk)

    def _drop_rejected_feature(self, exc: openai.APIStatusError, params: dict[str, Any]) -> bool:
        """Turn off an optional feature the server refused; True when there is something to retry."""
        from memgpt_tui.llm.openai_errors import detail, is_context_overflow

        if exc.status_code not in (400, 422):
            return False
        if is_context_overflow(exc):
            return False
        text = f"{exc.param or ''} {detail(exc)}".lower()
        if params.get("tool_choice") == "required" and "tool_choice" in text:
            self._tool_choice_required = False
        elif "stream_options" in params and "stream_options" in text:
            self._stream_usage = False
        elif "response_format" in params and ("response_format" in text or "json_schema" in text):
            self._response_format = "none"
        else:
            return False
        return True

    async def aclose(self) -> None:
        await self._api.aclose()
        close = getattr(self.tokenizer, "aclose", None)
        if close is not None:
            await close()


class _ToolCallParts:
    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.arguments = PartialJSON()


class _Reply(api_client.Reply):
    """Assembles a response from validated streamed chunks (or one whole completion), forwarding
    tokens as they arrive: content as "thought", send_message's text as "message". With
    ``json_tools`` set, the content is a JSON-mode reply, parsed against those tools at the end."""

    def __init__(self, on_token: OnToken | None, json_tools: list[dict[str, Any]] | None) -> None:
        super().__init__()
        self._on_token = on_token
        self._json_tools = json_tools
        streaming_json = json_tools is not None and on_token is not None
        self._json_stream = json_mode.ReplyStream(self._emit) if streaming_json else None
        self._content: list[str] = []
        self._calls: dict[int, _ToolCallParts] = {}
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.finish_reason: str | None = None

    def _emit(self, channel: Literal["thought", "message"], text: str) -> None:
        if self._on_token is not None:
            self.emitted = True
            self._on_token(channel, text)

    def chunk(self, chunk: wire.Chunk) -> None:
        self._usage(chunk.usage)
        for choice in chunk.choices or ():
            self.finish_reason = choice.finish_reason or self.finish_reason
            delta = choice.delta
            if delta is None:
                continue
            if delta.content:
                self._add_content(delta.content)
            for part in delta.tool_calls or ():
                call = self._calls.setdefault(part.index, _ToolCallParts())
                call.id = part.id or call.id
                if part.function is not None:
                    call.name = call.name or part.function.name or ""
                    self._add_arguments(call, part.function.arguments or "")

    def whole(self, completion: wire.Completion) -> None:
        self._usage(completion.usage)
        if not completion.choices:
            return
        choice = completion.choices[0]
        self.finish_reason = choice.finish_reason
        if choice.message is None:
            return
        self.grow(content := choice.message.content or "")
        self._content.append(content)
        for index, tool_call in enumerate(choice.message.tool_calls or ()):
            call = self._calls.setdefault(index, _ToolCallParts())
            call.id, call.name = tool_call.id or "", tool_call.function.name or ""
            self.grow(arguments := tool_call.function.arguments or "")
            call.arguments.text = arguments

    def _usage(self, usage: wire.Usage | None) -> None:
        if usage is not None:
            self.prompt_tokens = usage.prompt_tokens
            self.completion_tokens = usage.completion_tokens

    def _add_content(self, text: str) -> None:
        self.grow(text)
        self._content.append(text)
        if self._json_stream is not None:
            self._json_stream.feed(text)
        elif self._json_tools is None:
            self._emit("thought", text)

    def _add_arguments(self, call: _ToolCallParts, text: str) -> None:
        self.grow(text)
        if call.name != "send_message" or self._on_token is None:
            call.arguments.add(text)  # nobody watches these arguments grow: skip the parsing
            return
        if grown := call.arguments.grown(call.arguments.feed(text), "message"):
            self._emit("message", grown)

    def result(self) -> LLMResponse:
        text = "".join(self._content)
        if self._json_tools is not None:
            response = json_mode.parse_reply(text, self._json_tools)
            if response.parse_error and self.finish_reason == "length":
                response.parse_error += " The reply was cut off at the output token limit."
        else:
            calls = [
                LLMToolCall(
                    id=c.id or json_mode.new_call_id(), name=c.name, arguments=c.arguments.text or "{}"
                )
                for _, c in sorted(self._calls.items())
            ]
            response = LLMResponse(content=text or None, tool_calls=calls)
        response.prompt_tokens = self.prompt_tokens
        response.completion_tokens = self.completion_tokens
        response.finish_reason = self.finish_reason
        return response
