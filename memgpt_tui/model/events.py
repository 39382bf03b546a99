"""Typed events: everything the engine tells a UI. Line mode, the Client and the TUI consume the same ones.

Plain frozen dataclasses: a ``Token`` event is sent per streamed token, so they must be cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .messages import Message

StepReason = Literal["user", "heartbeat", "failure", "warning", "login", "retry", "command"]


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class StepStarted(Event):
    step: int
    reason: StepReason


@dataclass(frozen=True, slots=True)
class StepFinished(Event):
    step: int
    next_reason: StepReason | None  # what the engine will feed next, None when the chain ends
    message_ids: tuple[str, ...] = ()  # what the step wrote to recall, its input first
    prompt_tokens: int = 0  # the model call's, as the server counted them (else as the window did)
    completion_tokens: int = 0  # as the server reported them (0 when it did not)


@dataclass(frozen=True, slots=True)
class AttemptDiscarded(Event):
    """A first reply failed verification and the model is asked again: what it streamed is void."""

    step: int
    problem: str
    attempt: int
    tries: int

    @property
    def text(self) -> str:
        return f"First reply failed verification ({self.problem}); retrying ({self.attempt}/{self.tries})."


@dataclass(frozen=True, slots=True)
class StepCancelled(Event):
    """The step in flight was cancelled; nothing from it was kept. ``returned_text``: the user's message,
    taken back out of recall, for the UI to put back in the input (None when it stays in recall)."""

    step: int
    returned_text: str | None = None

    @property
    def text(self) -> str:
        return "Step cancelled; nothing from it was kept."


@dataclass(frozen=True, slots=True)
class Token(Event):
    """A streamed fragment of the inner monologue ("thought") or of the reply ("message")."""

    channel: Literal["thought", "message"]
    text: str


@dataclass(frozen=True, slots=True)
class InnerThought(Event):
    text: str


@dataclass(frozen=True, slots=True)
class FunctionCalled(Event):
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FunctionReturned(Event):
    call_id: str
    name: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class AssistantMessage(Event):
    text: str


@dataclass(frozen=True, slots=True)
class CoreMemoryChanged(Event):
    label: str
    old: str
    new: str
    by: Literal["agent", "user", "restore"]


@dataclass(frozen=True, slots=True)
class TokenBreakdown:
    system: int = 0
    tools: int = 0
    core_memory: int = 0
    summary: int = 0
    messages: int = 0

    @property
    def total(self) -> int:
        return self.system + self.tools + self.core_memory + self.summary + self.messages

    def as_dict(self) -> dict[str, int]:
        return {
            "system": self.system,
            "tools": self.tools,
            "core_memory": self.core_memory,
            "summary": self.summary,
            "messages": self.messages,
        }


@dataclass(frozen=True, slots=True)
class ContextChanged(Event):
    breakdown: TokenBreakdown
    limit: int
    exact: bool  # False: counts are estimates (the UI shows "≈")
    warning_fraction: float
    in_context_messages: int
    recall_messages: int
    archival_memories: int
    prompt_history: tuple[int, ...] = ()  # prompt tokens per step, newest last
    functions: tuple[int, int] = (0, 0)  # the functions offered to the model per step, of all of them
    partial: bool = False  # the model is shown only part of this context (``PromptLayout.partial``)

    @property
    def used(self) -> int:
        return self.breakdown.total

    @property
    def over_warning(self) -> bool:
        return self.used >= self.limit * self.warning_fraction


@dataclass(frozen=True, slots=True)
class Summarized(Event):
    evicted: int
    summary: str


@dataclass(frozen=True, slots=True)
class CheckpointCreated(Event):
    id: str
    step: int
    label: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class HistoryChanged(Event):
    """The in-context window was rewritten (/pop, /retry, /rewrite, restore): reload the conversation."""

    reason: str


@dataclass(frozen=True, slots=True)
class CaughtUp(Event):
    """Messages written while this UI was not listening (its server out of reach), oldest first: shown
    after the rest, as they would have been live."""

    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Notice(Event):
    level: Literal["info", "warning"]
    text: str


@dataclass(frozen=True, slots=True)
class Error(Event):
    """A failure the user can act on; ``hint`` says how."""

    text: str
    hint: str = ""
    retryable: bool = False


@dataclass(frozen=True, slots=True)
class Busy(Event):
    """Progress of slow work that is not a model step (loading, embedding, summarising)."""

    what: str
    done: int = 0
    total: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
