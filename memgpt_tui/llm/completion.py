"""Completion mode: the context rendered by a wrapper into one text prompt, sent to a completion
endpoint, the reply constrained to one function call.

By default the endpoint is the OpenAI-style ``/v1/completions`` that llama.cpp's server,
llama-cpp-python, koboldcpp and vLLM share, and the constraint goes as llama.cpp's own request fields
(``grammar``, else ``json_schema``), with ``cache_prompt`` so the server evaluates only what follows the
prefix it already holds; ``servers.py`` describes the other servers' endpoints and fields. A server
that rejects a constraint gets the next one it takes (grammar, JSON schema, none) for the rest of the
session; an unconstrained reply is still read leniently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from memgpt_tui.llm import api_client, json_mode, wire
from memgpt_tui.llm.api_client import PLACEHOLDER_KEY, LazyClient
from memgpt_tui.llm.base import LLMResponse, OnToken, PromptLayout, Tokenizer
from memgpt_tui.llm.grammar import PRIMER, one_of
from memgpt_tui.llm.layout import JsonModeLayout
from memgpt_tui.llm.servers import OPENAI_COMPLETIONS, Request, Server
from memgpt_tui.llm.wrappers import Wrapper
from memgpt_tui.llm.wrappers.base import Decision

if TYPE_CHECKING:
    import openai

Constraint = Literal["grammar", "json_schema", "none"]
_DECISION_TOKENS = 4  # a choice is one word


class WrapperLayout(JsonModeLayout):
    """How a wrapper lays the context out, for the context gauge: one turn per message, the
    template's cost measured on the wrapper's own frame."""

    merges = False

    def __init__(self, wrapper: Wrapper, tokenizer: Tokenizer) -> None:
        super().__init__(tokenizer, fold_system=False, template=lambda turns: wrapper.frame(turns) + PRIMER)
        self.wrapper = wrapper
        self.partial = wrapper.partial

    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        return self.wrapper.tools_text(self.wrapper.offered(tools))

    def offered(self, tools: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        return self.wrapper.offered(tools)

    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        return self.wrapper.turn(message)


class CompletionBackend:
    """An LLMBackend over a completions endpoint, retried with backoff when the failure is transient."""

    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str,
        wrapper: Wrapper,
        tokenizer: Tokenizer,
        context_window: int,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        max_tokens: int = 512,
        temperature: float | None = None,
        server: Server = OPENAI_COMPLETIONS,
        constraint: Constraint | None = None,  # None: the first one the server takes
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
    ) -> None:
        self.name = name
        self.model = model
        self.context_window = context_window
        self.wrapper = wrapper
        self.tokenizer = tokenizer
        self.layout: PromptLayout = WrapperLayout(wrapper, tokenizer)
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.server = server
        self.constraint: Constraint = constraint or self._after(None)
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self._api = LazyClient(base_url, api_key or PLACEHOLDER_KEY, timeout)
        self.base_url = self._api.base_url
        self.last_prompt: str | None = None  # what the last request sent, for usage counts and /dump

    @property
    def primed(self) -> bool:
        """Whether the prompt ends with the start of the reply: not under a JSON schema, which
        constrains the whole object."""
        return self.constraint != "json_schema"

    def body(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]], decided: Sequence[str] = ()
    ) -> dict[str, Any]:
        """The request: the rendered prompt and the constraint for the functions offered."""
        prompt = self.wrapper.prompt(messages, tools, primed=self.primed, decided=decided)
        body = self._request(prompt, self.max_tokens, self.temperature)
        if self.constraint == "grammar" and self.server.grammar:
            body[self.server.grammar] = self.wrapper.grammar(messages, tools, decided)
        elif self.constraint == "json_schema" and self.server.schema:
            body |= self.server.schema(self.wrapper.schema(messages, tools, decided))
        return body

    def _request(self, prompt: str, max_tokens: int, temperature: float | None) -> dict[str, Any]:
        request = Request(self.model, prompt, max_tokens, self.wrapper.stop, self.context_window, temperature)
        return self.server.fields(request)

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_token: OnToken | None = None,
        require_tool: bool = True,
    ) -> LLMResponse:
        if not tools and not require_tool:
            return await self._free_text(messages)
        await self.wrapper.prepare(messages)
        decided: tuple[str, ...] = ()
        while (decision := self.wrapper.decision(messages, decided)) is not None:
            decided += (await self._decide(decision),)
        offered = self.wrapper.offered(tools)
        if self.wrapper.grammar(messages, tools, decided) is None:
            # The choice made the whole reply: the model has nothing left to write.
            return _Reply(on_token, self.wrapper.start(messages, decided)).result(offered)

        def prepare() -> tuple[dict[str, Any], _Reply]:
            start = self.wrapper.start(messages, decided) if self.primed else ""
            return self.body(messages, tools, decided), _Reply(on_token, start)

        reply = await api_client.retried(
            self, prepare, self._send, lambda exc, _body: self._drop_rejected_constraint(exc)
        )
        return reply.result(offered)

    async def _free_text(self, messages: list[dict[str, Any]]) -> LLMResponse:
        """No function to call (the summarizer): the model's own words in the wrapper's frame, neither
        primed nor constrained, read as they are. A wrapper that shows the model only part of the
        context never shows it a summary either: none is asked for (the caller keeps a plain note)."""
        if self.wrapper.partial:
            return LLMResponse("")

        def prepare() -> tuple[dict[str, Any], _Reply]:
            prompt = self.wrapper.prompt(messages, [], primed=False)
            return self._request(prompt, self.max_tokens, self.temperature), _Reply(None, "")

        reply = await api_client.retried(self, prepare, self._send, lambda _exc, _body: False)
        return LLMResponse(
            reply.text.strip(),
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            finish_reason=reply.finish_reason,
        )

    async def _decide(self, decision: Decision) -> str:
        """The model's choice, read greedily from a request of its own (a few tokens at most); a
        choice of one option needs no request."""
        if len(decision.options) == 1:
            return decision.options[0]

        def prepare() -> tuple[dict[str, Any], _Reply]:
            body = self._request(decision.prompt, _DECISION_TOKENS, 0.0)
            if self.constraint == "grammar" and self.server.grammar:
                body[self.server.grammar] = one_of(decision.options)
            return body, _Reply(None, "")

        reply = await api_client.retried(
            self, prepare, self._send, lambda exc, _body: self._drop_rejected_constraint(exc)
        )
        return decision.read(reply.text)

    async def _send(self, body: dict[str, Any], reply: _Reply) -> None:
        self.last_prompt = body["prompt"]
        async with api_client.posted(self._api, self.server.path, body) as response:
            if self.server.streams:
                async for event in api_client.events(response, self.server.reply, reply):
                    reply.chunk(event.as_chunk())
            else:
                whole = await api_client.whole(response, self.server.reply, reply)
                reply.chunk(whole.as_chunk())

    def _drop_rejected_constraint(self, exc: openai.APIStatusError) -> bool:
        """A server that refused the constraint gets the next one; True when there is one to try."""
        from memgpt_tui.llm.openai_errors import detail, is_context_overflow

        if exc.status_code not in (400, 422, 500, 501):
            return False
        if is_context_overflow(exc) or self.constraint == "none":
            return False
        text = f"{exc.param or ''} {detail(exc)}".lower()
        if not any(word in text for word in ("grammar", "json_schema", "schema", "unrecognized", "extra")):
            return False
        self.constraint = self._after(self.constraint)
        return True

    def _after(self, constraint: Constraint | None) -> Constraint:
        """The constraint the server takes after ``constraint`` (None: its first)."""
        order: list[Constraint] = ["grammar"] if self.server.grammar else []
        order += ["json_schema"] if self.server.schema else []
        if constraint is None:
            later = order
        else:
            later = order[order.index(constraint) + 1 :] if constraint in order else []
        return later[0] if later else "none"

    async def aclose(self) -> None:
        await self._api.aclose()
        close = getattr(self.tokenizer, "aclose", None)
        if close is not None:
            await close()


class _Reply(api_client.Reply):
    """Assembles a streamed completion, forwarding the inner thoughts and the message as they grow."""

    remedy = wire.CompletionChunk.remedy

    def __init__(self, on_token: OnToken | None, primer: str) -> None:
        super().__init__()
        self._on_token = on_token
        self._stream = json_mode.ReplyStream(self._emit) if on_token is not None else None
        self._text: list[str] = [primer]  # the prompt's last words are the reply's first
        if self._stream is not None:
            self._stream.feed(primer)
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.finish_reason: str | None = None

    def _emit(self, channel: Literal["thought", "message"], text: str) -> None:
        assert self._on_token is not None
        self.emitted = True
        self._on_token(channel, text)

    def chunk(self, event: wire.CompletionChunk) -> None:
        if event.usage is not None:
            self.prompt_tokens = event.usage.prompt_tokens
            self.completion_tokens = event.usage.completion_tokens
        for choice in event.choices or ():
            self.finish_reason = choice.finish_reason or self.finish_reason
            if choice.text:
                self.grow(choice.text)
                self._text.append(choice.text)
                if self._stream is not None:
                    self._stream.feed(choice.text)

    @property
    def text(self) -> str:
        return "".join(self._text)

    def result(self, tools: Sequence[dict[str, Any]]) -> LLMResponse:
        response = json_mode.parse_reply(self.text, tools)
        if response.parse_error and self.finish_reason == "length":
            response.parse_error += " The reply was cut off at the output token limit."
        response.prompt_tokens = self.prompt_tokens
        response.completion_tokens = self.completion_tokens
        response.finish_reason = self.finish_reason
        return response
