"""Context assembly (SPEC section 2, in order) and the token breakdown by category."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..llm.base import Tokenizer
from .events import TokenBreakdown
from .messages import Message
from .prompts import memory_header, render_core, summary_alert
from .state import AgentState

# Chat templates wrap each message in a few tokens of their own (role markers, separators).
PER_MESSAGE_OVERHEAD = 4


@dataclass(slots=True)
class Assembled:
    messages: list[dict[str, Any]]
    breakdown: TokenBreakdown
    bounded: bool = False  # some message counts are upper bounds, not yet counted


class ContextBuilder:
    """Builds the prompt and counts it. Counts are cached: by message id for the buffer (messages are
    immutable) and by text for the rest, so a step only tokenizes what is new."""

    def __init__(self, tokenizer: Tokenizer, tools: list[dict[str, Any]]) -> None:
        self.tokenizer = tokenizer
        self.tools = tools
        self._by_id: dict[str, int] = {}
        self._by_text: dict[str, int] = {}
        # The provider's count minus ours at the last call: template tokens we cannot see.
        self.correction = 0
        self._tools_text = json.dumps(tools, separators=(",", ":")) if tools else ""
        self._n_tools = -1
        self._fixed: tuple[tuple[Any, ...], tuple[str, str, str, int, int, int]] | None = None
        self._wire: dict[str, dict[str, Any]] = {}

    @property
    def exact(self) -> bool:
        return self.tokenizer.exact

    async def _count_texts(self, texts: Sequence[str]) -> list[int]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._by_text]
        if missing:
            self._by_text.update(zip(missing, await self.tokenizer.count(missing), strict=True))
        if len(self._by_text) > 256:  # old headers and blocks; keep what is in use
            self._by_text = {t: self._by_text[t] for t in texts}
        return [self._by_text[t] for t in texts]

    def bound_messages(self, messages: Sequence[Message]) -> tuple[list[int], bool]:
        """Counts from the cache, or an upper bound for messages not counted yet (every token covers
        at least one byte of UTF-8), so a request can go out while the exact count runs alongside."""
        counts, bounded = [], False
        for m in messages:
            if (n := self._by_id.get(m.id)) is None:
                n, bounded = len(m.text_for_tokens().encode()) + PER_MESSAGE_OVERHEAD, True
            counts.append(n)
        return counts, bounded

    async def count_messages(self, messages: Sequence[Message]) -> list[int]:
        missing = [m for m in messages if m.id not in self._by_id]
        if missing:
            counts = await self.tokenizer.count([m.text_for_tokens() for m in missing])
            for message, n in zip(missing, counts, strict=True):
                self._by_id[message.id] = n + PER_MESSAGE_OVERHEAD
        return [self._by_id[m.id] for m in messages]

    def forget(self, ids: Sequence[str]) -> None:
        for message_id in ids:
            self._by_id.pop(message_id, None)
            self._wire.pop(message_id, None)

    async def build(
        self,
        state: AgentState,
        buffer: Sequence[Message],
        recall_count: int,
        archival_count: int,
        hidden_count: int,
        bounded: bool = False,
    ) -> Assembled:
        await self.count_tools()
        head, core, alert, n_head, n_core, n_alert = await self._fixed_part(
            state, recall_count, archival_count, hidden_count
        )
        per_message, inexact = (
            self.bound_messages(buffer) if bounded else (await self.count_messages(buffer), False)
        )

        messages: list[dict[str, Any]] = [{"role": "system", "content": f"{head}\n{core}"}]
        if alert:
            messages.append({"role": "user", "content": alert})
        messages.extend(self._wire_form(m) for m in buffer)
        breakdown = TokenBreakdown(
            system=n_head + PER_MESSAGE_OVERHEAD + self.correction,
            tools=self._n_tools,
            core_memory=n_core,
            summary=n_alert + PER_MESSAGE_OVERHEAD if alert else 0,
            messages=sum(per_message),
        )
        return Assembled(messages, breakdown, inexact)

    async def _fixed_part(
        self, state: AgentState, recall_count: int, archival_count: int, hidden_count: int
    ) -> tuple[str, str, str, int, int, int]:
        """System text, core memory and summary alert with their counts; rebuilt only when they change
        (the header's counts are frozen between memory rebuilds, so most steps reuse them)."""
        blocks = tuple((b.label, b.value, b.limit, b.read_only) for b in state.blocks)
        key = (
            state.system_prompt,
            state.memory_edited_at,
            recall_count,
            archival_count,
            hidden_count,
            state.summary,
            blocks,
        )
        if self._fixed is None or self._fixed[0] != key:
            head = (
                state.system_prompt
                + "\n\n"
                + memory_header(state.memory_edited_at, recall_count, archival_count)
            )
            core = render_core(state.blocks)
            alert = summary_alert(state.summary, hidden_count) if state.summary else ""
            counts = await self._count_texts([head, core, alert])
            self._fixed = (key, (head, core, alert, *counts))
        return self._fixed[1]

    def _wire_form(self, message: Message) -> dict[str, Any]:
        """A message's request form, made once: messages are immutable, and edits (/rethink,
        /rewrite) go through ``forget``. Shared between requests, so never mutated downstream."""
        wire = self._wire.get(message.id)
        if wire is None:
            wire = self._wire[message.id] = message.to_openai()
        return wire

    async def count_tools(self) -> None:
        if self._n_tools < 0:
            self._n_tools = (await self._count_texts([self._tools_text]))[0] if self._tools_text else 0

    def reconcile(self, predicted: TokenBreakdown, prompt_tokens: int | None) -> None:
        """Fold the provider's own count into future predictions."""
        if prompt_tokens:
            self.correction += prompt_tokens - predicted.total
