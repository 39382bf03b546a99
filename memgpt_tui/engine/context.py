"""Context assembly in MemGPT's order (system prompt, tools, core memory, summary, messages) and the token breakdown by category."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..llm.base import PromptLayout, TemplateCost, Tokenizer
from ..model.events import TokenBreakdown
from ..model.messages import Message
from ..model.state import AgentState
from .prompts import memory_header, render_core, summary_alert


@dataclass(slots=True)
class Assembled:
    messages: list[dict[str, Any]]
    breakdown: TokenBreakdown
    per_message: list[int]  # each buffer message's tokens, template share included
    bounded: bool = False  # some message counts are upper bounds, not yet counted


class ContextBuilder:
    """Builds the prompt and counts it as the backend's ``layout`` sends it. Counts are cached: by
    message id for the buffer (messages are immutable), the rest by the tokenizer's own cache by text,
    so a step only tokenizes what is new; the template's share is added from the roles of neighbouring messages."""

    def __init__(self, tokenizer: Tokenizer, tools: list[dict[str, Any]], layout: PromptLayout) -> None:
        self.tokenizer = tokenizer
        self.layout = layout
        self._by_id: dict[str, tuple[str, int]] = {}  # role in the prompt, tokens of the text
        # The provider's count minus ours at the last call: template tokens we cannot see.
        self.correction = 0
        self._tools_text = layout.tools_text(tools)
        self.functions = (len(layout.offered(tools)), len(tools))  # offered to the model, and all
        self._n_tools = -1
        self._fixed: tuple[tuple[Any, ...], tuple[str, str, str, int, int, int]] | None = None
        self._wire: dict[str, dict[str, Any]] = {}
        self._before_buffer = layout.system_role  # the role of the turn the buffer follows

    @property
    def exact(self) -> bool:
        return self.tokenizer.exact

    def _per_message(
        self, messages: Sequence[Message], cost: TemplateCost, previous: str
    ) -> tuple[list[int], bool]:
        """Counts from the cache, or an upper bound for messages not counted yet (every token covers
        at least one byte of UTF-8), so a request can go out while the exact count runs alongside."""
        counted, bounded = [], False
        for m in messages:
            if (known := self._by_id.get(m.id)) is None:
                role, text = self.layout.turn(self._wire_form(m))
                known, bounded = (role, len(text.encode())), True
            counted.append(known)
        return self._with_template(counted, cost, previous), bounded

    async def count_new(self, messages: Sequence[Message]) -> None:
        """Count (and cache) the messages not counted yet."""
        if missing := [m for m in messages if m.id not in self._by_id]:
            turns = [self.layout.turn(self._wire_form(m)) for m in missing]
            counts = await self.tokenizer.count([text for _, text in turns])
            for message, (role, _), n in zip(missing, turns, counts, strict=True):
                self._by_id[message.id] = (role, n)

    def _with_template(
        self, counted: Sequence[tuple[str, int]], cost: TemplateCost, previous: str
    ) -> list[int]:
        """Counts plus the template's share: a message opening a turn pays for the turn's markers, one
        merged into the turn before only for the text joining them."""
        merges, totals = self.layout.merges, []
        for role, n in counted:
            totals.append(n + (cost.join if merges and role == previous else cost.turn))
            previous = role
        return totals

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
        cost = await self.layout.cost()
        await self._count_tools()
        head, core, alert, n_head, n_core, n_alert = await self._fixed_part(
            state, recall_count, archival_count, hidden_count
        )
        if not bounded:
            await self.count_new(buffer)
        per_message, inexact = self._per_message(buffer, cost, self._before_buffer)
        # An alert's role is the role before the buffer; the alert itself follows the system prompt.
        [n_summary] = self._with_template([(self._before_buffer, n_alert)], cost, self.layout.system_role)

        messages: list[dict[str, Any]] = [{"role": "system", "content": f"{head}\n{core}"}]
        if alert:
            messages.append(_alert_message(alert))
        messages.extend(self._wire_form(m) for m in buffer)
        # Core memory follows the header after a newline, which tokenizers count as they do the blank
        # line a join is measured on.
        breakdown = TokenBreakdown(
            system=n_head + cost.prompt + cost.turn + self.correction,
            tools=self._n_tools + cost.join if self._n_tools else 0,
            core_memory=n_core + cost.join,
            summary=n_summary if alert else 0,
            messages=sum(per_message),
        )
        return Assembled(messages, breakdown, per_message, inexact)

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
            n_head, n_core, n_alert = await self.tokenizer.count([head, core, alert])
            self._fixed = (key, (head, core, alert, n_head, n_core, n_alert))
            self._before_buffer = (
                self.layout.turn(_alert_message(alert))[0] if alert else self.layout.system_role
            )
        return self._fixed[1]

    def _wire_form(self, message: Message) -> dict[str, Any]:
        """A message's request form, made once: messages are immutable, and edits (/rethink,
        /rewrite) go through ``forget``. Shared between requests, so never mutated downstream."""
        wire = self._wire.get(message.id)
        if wire is None:
            wire = self._wire[message.id] = message.to_openai()
        return wire

    async def _count_tools(self) -> None:
        if self._n_tools < 0:
            self._n_tools = (await self.tokenizer.count([self._tools_text]))[0] if self._tools_text else 0

    def reconcile(self, predicted: TokenBreakdown, prompt_tokens: int | None) -> None:
        """Fold the provider's own count into future predictions."""
        if prompt_tokens:
            self.correction += prompt_tokens - predicted.total


def _alert_message(alert: str) -> dict[str, Any]:
    return {"role": "user", "content": alert}
