"""Context assembly (SPEC section 2, in order) and the token breakdown by category."""

from __future__ import annotations

import json
import re
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
_DIGITS = re.compile(r"\d")


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

    @property
    def exact(self) -> bool:
        return self.tokenizer.exact

    async def _count_texts(self, texts: Sequence[str]) -> list[int]:
        # Keyed by digit shape: the memory header's counters change every step, but tokenizers split
        # numbers by position (single digits, or groups of up to three), never by value, so "1234" and
        # "0000" cost the same and the header need not be re-tokenized when a counter ticks.
        keys = [_DIGITS.sub("0", t) for t in texts]
        missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._by_text}
        if missing:
            counts = await self.tokenizer.count(list(missing.values()))
            self._by_text.update(zip(missing, counts, strict=True))
        if len(self._by_text) > 4096:
            self._by_text = {k: self._by_text[k] for k in keys}
        return [self._by_text[k] for k in keys]

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

    async def build(
        self,
        state: AgentState,
        buffer: Sequence[Message],
        recall_count: int,
        archival_count: int,
        hidden_count: int,
        bounded: bool = False,
    ) -> Assembled:
        head = (
            state.system_prompt + "\n\n" + memory_header(state.memory_edited_at, recall_count, archival_count)
        )
        core = render_core(state.blocks)
        alert = summary_alert(state.summary, hidden_count) if state.summary else ""
        tools_text = json.dumps(self.tools, separators=(",", ":")) if self.tools else ""
        n_head, n_core, n_alert, n_tools = await self._count_texts([head, core, alert, tools_text])
        per_message, inexact = (
            self.bound_messages(buffer) if bounded else (await self.count_messages(buffer), False)
        )

        messages: list[dict[str, Any]] = [{"role": "system", "content": f"{head}\n{core}"}]
        if alert:
            messages.append({"role": "user", "content": alert})
        messages.extend(m.to_openai() for m in buffer)
        breakdown = TokenBreakdown(
            system=n_head + PER_MESSAGE_OVERHEAD + self.correction,
            tools=n_tools,
            core_memory=n_core,
            summary=n_alert + PER_MESSAGE_OVERHEAD if alert else 0,
            messages=sum(per_message),
        )
        return Assembled(messages, breakdown, inexact)

    def reconcile(self, predicted: TokenBreakdown, prompt_tokens: int | None) -> None:
        """Fold the provider's own count into future predictions."""
        if prompt_tokens:
            self.correction += prompt_tokens - predicted.total
