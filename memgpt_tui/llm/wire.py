"""The replies a server sends, validated where they enter: a streamed chunk, a whole chat completion or
a streamed text completion that does not have this shape is a ``MalformedReply``, never a crash
further on.

The models hold only the fields the app reads and accept what compatible servers commonly vary on
(missing ids and indexes, ``null`` for empty, arguments sent as an object); anything of the wrong type
is refused. The official ``openai`` types are not used here because they require fields many
compatible servers leave out and cost more per streamed event than the rest of a step.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..model.errors import LLMError

MAX_TOOL_CALLS = 64  # parallel calls in one reply; an index past it is garbage
MAX_TOKENS = 10**9
_CHAT_REMEDY = "the server is not fully OpenAI-compatible: try --function-calling json."


class MalformedReply(LLMError):
    """The server's reply is not a completion the app can read."""

    def __init__(self, problem: str, remedy: str = _CHAT_REMEDY) -> None:
        super().__init__(
            f"The model server sent a malformed reply: {problem}.",
            f"Use /retry to ask again. If it keeps happening, {remedy}",
        )


class Shape(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _as_text(value: Any) -> Any:
    """Arguments some servers send as a JSON object instead of JSON text."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value


class Function(Shape):
    name: str | None = None
    arguments: str | None = None

    _arguments = field_validator("arguments", mode="before")(_as_text)


class ToolCallDelta(Shape):
    index: int = Field(0, ge=0, lt=MAX_TOOL_CALLS)
    id: str | None = None
    function: Function | None = None

    @field_validator("index", mode="before")
    @classmethod
    def _default_index(cls, value: Any) -> Any:
        return 0 if value is None else value


class Delta(Shape):
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(Shape):
    delta: Delta | None = None
    finish_reason: str | None = None


class Usage(Shape):
    prompt_tokens: int | None = Field(None, ge=0, le=MAX_TOKENS)
    completion_tokens: int | None = Field(None, ge=0, le=MAX_TOKENS)


def _optional_usage(value: Any, handler: Any) -> Usage | None:
    """Token counts only inform the gauge: counts that make no sense are dropped, not fatal."""
    try:
        return handler(value)  # type: ignore[no-any-return]
    except ValidationError:
        return None


class Envelope(Shape):
    remedy: ClassVar[str] = _CHAT_REMEDY  # the hint of a MalformedReply

    usage: Usage | None = None
    error: Any = None

    _usage = field_validator("usage", mode="wrap")(_optional_usage)


class Chunk(Envelope):
    choices: list[ChunkChoice] | None = None


class ToolCall(Shape):
    id: str | None = None
    function: Function


class Message(Shape):
    content: str | None = None
    tool_calls: list[ToolCall] | None = None


class Choice(Shape):
    message: Message | None = None
    finish_reason: str | None = None


class Completion(Envelope):
    choices: list[Choice] | None = None


class TextChoice(Shape):
    text: str | None = None
    finish_reason: str | None = None


class TextReply(Envelope):
    """A completion endpoint's reply, or one event of it, read as an OpenAI-style completion chunk."""

    @abstractmethod
    def as_chunk(self) -> CompletionChunk:
        """This server's reply in the one shape the completion backend reads."""


class CompletionChunk(TextReply):
    """A streamed event of ``/v1/completions``."""

    remedy = "the server's /v1/completions is not OpenAI-compatible: try --wrapper none."

    choices: list[TextChoice] | None = None

    def as_chunk(self) -> CompletionChunk:
        return self


_NATIVE_REMEDY = "check that --backend names the server that runs at the address."


class LlamaCppChunk(TextReply):
    """A streamed event of llama.cpp's own ``/completion``."""

    remedy = _NATIVE_REMEDY

    content: str | None = None
    stop: bool = False
    stop_type: str | None = None  # "eos", "word" or "limit"
    stopped_limit: bool = False  # older servers
    tokens_predicted: int | None = Field(None, ge=0, le=MAX_TOKENS)
    tokens_evaluated: int | None = Field(None, ge=0, le=MAX_TOKENS)

    def as_chunk(self) -> CompletionChunk:
        finish = None
        if self.stop:
            finish = "length" if self.stop_type == "limit" or self.stopped_limit else "stop"
        usage = None
        if self.stop and self.tokens_predicted is not None:
            usage = Usage(prompt_tokens=self.tokens_evaluated, completion_tokens=self.tokens_predicted)
        return CompletionChunk(choices=[TextChoice(text=self.content, finish_reason=finish)], usage=usage)


class KoboldGeneration(TextReply):
    """The reply of koboldcpp's ``/api/v1/generate``."""

    remedy = _NATIVE_REMEDY

    results: list[TextChoice] = Field(min_length=1)

    def as_chunk(self) -> CompletionChunk:
        return CompletionChunk(choices=self.results[:1])


class OllamaGeneration(TextReply):
    """The reply of Ollama's ``/api/generate`` (not streamed)."""

    remedy = _NATIVE_REMEDY

    response: str
    done_reason: str | None = None
    prompt_eval_count: int | None = Field(None, ge=0, le=MAX_TOKENS)
    eval_count: int | None = Field(None, ge=0, le=MAX_TOKENS)

    def as_chunk(self) -> CompletionChunk:
        # prompt_eval_count leaves out what Ollama took from its prompt cache: not the prompt's size.
        usage = Usage(prompt_tokens=None, completion_tokens=self.eval_count)
        return CompletionChunk(
            choices=[TextChoice(text=self.response, finish_reason=self.done_reason)], usage=usage
        )


S = TypeVar("S", bound=Envelope)


def decode(data: str | bytes, remedy: str = _CHAT_REMEDY) -> Any:
    """One JSON document from the server (raw control characters inside strings allowed)."""
    try:
        return json.loads(data, strict=False)
    except (ValueError, RecursionError) as exc:
        raise MalformedReply(f"not JSON ({_brief(exc)}): {_preview(data)}", remedy) from None


def parsed(model: type[S], data: str | bytes) -> S | None:
    """``data`` read and validated in one pass, as nearly every event is; None when it is not plain JSON
    of the shape or carries an error, for ``decode`` and ``validate`` to say what is wrong with it."""
    try:
        value = model.model_validate_json(data)
    except ValueError:  # ValidationError is one
        return None
    return None if value.error else value


def validate(model: type[S], value: Any) -> S:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the reply"
        raise MalformedReply(f"{where}: {first['msg']}", model.remedy) from None


def _brief(exc: BaseException) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc).split(":")[0]


def _preview(data: str | bytes, limit: int = 80) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text if len(text) <= limit else text[:limit] + "...")
