"""The one small protocol every LLM backend speaks (its errors are in ``model.errors``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# Streaming callback: (channel, text) where channel is "thought" (inner monologue) or "message"
# (the text of a send_message call, as it arrives).
OnToken = Callable[[Literal["thought", "message"], str], None]


@dataclass(slots=True)
class LLMToolCall:
    id: str
    name: str
    arguments: str  # raw JSON text; the engine validates it


@dataclass(slots=True)
class LLMResponse:
    content: str | None  # inner monologue
    tool_calls: list[LLMToolCall] = field(default_factory=list)
    prompt_tokens: int | None = None  # usage.prompt_tokens, when the provider reports it
    completion_tokens: int | None = None
    finish_reason: str | None = None
    parse_error: str | None = None  # JSON mode: the reply could not be read as a function call
    raw: str | None = None  # JSON mode: the model's raw text, for /dump and debugging


class Tokenizer(Protocol):
    exact: bool  # False when counts are estimates

    async def count(self, texts: Sequence[str]) -> list[int]: ...


@dataclass(frozen=True, slots=True)
class TemplateCost:
    """Tokens the chat template adds to a prompt beyond the tokenizer's count of each text in it."""

    turn: int  # around each turn: role markers, delimiters
    join: int = 0  # between texts joined into one turn
    prompt: int = 0  # once: start of text, the priming of the reply


class PromptLayout(Protocol):
    """How a backend lays the context out as prompt text, so it can be counted message by message."""

    system_role: str  # the role of the turn the system prompt opens
    merges: bool  # consecutive messages of one role go in one turn
    # The prompt shows the model only part of the context (the notes wrapper): the server's count of
    # it says nothing of the context the gauge counts, which warnings and summaries go by.
    partial: bool

    def tools_text(self, tools: Sequence[dict[str, Any]]) -> str:
        """The function definitions as the model reads them."""
        ...

    def offered(self, tools: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
        """The functions the model is offered: all of them, unless a wrapper offers fewer."""
        ...

    def turn(self, message: dict[str, Any]) -> tuple[str, str]:
        """The role and text a message after the system prompt is sent as."""
        ...

    async def cost(self) -> TemplateCost: ...


class LLMBackend(Protocol):
    name: str  # "openai" | "openai-compatible" | "embedded"
    model: str
    context_window: int
    tokenizer: Tokenizer
    layout: PromptLayout

    async def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_token: OnToken | None = None,
        require_tool: bool = True,
    ) -> LLMResponse:
        """One chat completion. ``messages`` are OpenAI-shaped (system first); ``tools`` are OpenAI
        function schemas. Raises LLMError subclasses after retrying what is worth retrying."""
        ...

    async def aclose(self) -> None: ...
