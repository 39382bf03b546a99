"""One turn's events as Letta records: what a message request answers or streams.

Records are held per step until the step is committed, so that each carries the id recall gave its
message (as ``GET .../messages`` lists it); streamed tokens go out at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from .. import wire
from ..model import events as ev
from ..model.clock import new_id, now
from ..model.handle import TOO_LONG_HINT

# What a Letta reply is made of (tokens first: only when streamed): its messages, and the events that
# commit a step, cancel it or end the turn with an error.
_LETTA_HEARS: tuple[type[ev.Event], ...] = (
    ev.Token, *wire.LETTA_EVENTS, ev.StepFinished, ev.StepCancelled, ev.Error,
)  # fmt: skip


class Feed:
    def __init__(
        self,
        *,
        tokens: bool = False,
        ours: bool = False,
        assistant: bool = True,
        kinds: Collection[str] | None = None,
    ) -> None:
        """``tokens``: stream token chunks (Letta's ``stream_tokens``); ``ours``: every record, ours
        included (the x-memgpt paths), instead of Letta's alone; ``assistant``: the reply function's
        call as an assistant message (Letta's ``use_assistant_message``), else as the tool call and
        return it is; ``kinds``: only messages of these types (``include_return_message_types``)."""
        self.tokens = tokens
        self.ours = ours
        self.assistant = assistant
        self.kinds = None if kinds is None else frozenset(kinds)
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.records: list[dict[str, Any]] = []
        self.steps = 0
        self.prompt_tokens = self.completion_tokens = 0
        self.stop_reason = "end_turn"
        self.error: str | None = None
        self.refused = False  # the error is a message that could never fit the context window
        self._step: list[dict[str, Any]] = []
        self._streamed: dict[str, str] = {}  # channel -> the id its token chunks carry in this step

    def __call__(self, event: ev.Event) -> None:
        if not self.ours and not isinstance(event, _LETTA_HEARS if self.tokens else _LETTA_HEARS[1:]):
            return  # nothing a Letta reply carries: not even mapped (tokens are the most frequent)
        item = wire.record(event)
        kind = item["message_type"]
        if kind == "x_token":
            if self.tokens and (self.ours or self._wanted_type(wire.token_chunk(item)["message_type"])):
                chunk_id = self._streamed.setdefault(item["channel"], new_id())
                self._put({"id": chunk_id, "date": now().isoformat(), **wire.token_chunk(item)})
            return
        if kind in wire.LETTA_TYPES:
            self._step.append(item)
        elif isinstance(event, ev.StepFinished):
            self._commit(event)
        elif kind == "x_step_cancelled":
            self._step, self._streamed = [], {}
            self.stop_reason = "cancelled"
        elif kind == "x_error":
            self.error = f"{item['text']} {item['hint']}".strip()
            self.refused = item["hint"] == TOO_LONG_HINT
            self.stop_reason = "llm_api_error" if item["retryable"] else "error"
        if self.ours and kind not in wire.LETTA_TYPES:
            self._put({"id": new_id(), "date": now().isoformat(), **item})

    def _commit(self, finished: ev.StepFinished) -> None:
        """Stamp the step's records with their messages' ids: (input, assistant, results...)."""
        ids = finished.message_ids
        assistant = ids[1] if len(ids) > 1 else new_id()
        results = iter(ids[2:])
        date = now().isoformat()
        for item in self._step:
            own = next(results, new_id()) if item["message_type"] == "tool_return_message" else assistant
            if self._wanted(item):
                self._put({"id": own, "date": date, **item})
        self._step, self._streamed = [], {}
        if ids:
            self.steps += 1
            self.prompt_tokens += finished.prompt_tokens
            self.completion_tokens += finished.completion_tokens
        if self.stop_reason in ("end_turn", "max_steps"):  # the last step's word: did it want another?
            self.stop_reason = "end_turn" if finished.next_reason is None else "max_steps"

    def _wanted(self, item: dict[str, Any]) -> bool:
        if self.ours:
            return True
        kind = item["message_type"]
        if self.assistant:
            if not wire.shown(item):
                return False
        elif kind == "assistant_message":
            return False
        if not self._wanted_type(kind):
            return False
        channel = {"reasoning_message": "thought", "assistant_message": "message"}.get(kind)
        return channel not in self._streamed  # already sent as tokens

    def _wanted_type(self, kind: str) -> bool:
        if kind == "assistant_message" and not self.assistant:
            return False
        return self.kinds is None or kind in self.kinds

    def _put(self, item: dict[str, Any]) -> None:
        self.records.append(item)
        self.queue.put_nowait(item)

    def end(self) -> None:
        self.queue.put_nowait(None)

    def tail(self) -> list[dict[str, Any]]:
        """The stop reason and usage that end a Letta reply."""
        usage = {
            "message_type": "usage_statistics",
            "step_count": self.steps,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        return [{"message_type": "stop_reason", "stop_reason": self.stop_reason}, usage]
