"""Eviction and the recursive summary: what leaves the window, and what it leaves behind."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ..llm.base import LLMBackend
from ..model.clock import format_time
from ..model.errors import LLMError
from ..model.messages import Message
from ..model.text import clean
from .prompts import template

# Per-message cap when feeding evicted text to the summariser; recall keeps the full text anyway.
MESSAGE_CHARS = 1500
SUMMARY_CHARS_PER_WORD = 20  # a generous bound: a summary asked for N words gets 20 N characters


def unit_starts(buffer: Sequence[Message]) -> list[int]:
    """Indices where a message unit starts: a tool result belongs to the assistant call before it, so an
    eviction or /pop boundary may only fall on these indices."""
    return [i for i, m in enumerate(buffer) if m.role != "tool"]


def to_evict(counts: Sequence[int], buffer: Sequence[Message], target: int, keep_last: int) -> list[int]:
    """Which buffer messages to evict (their indices, ascending) so the buffer's tokens drop to ``target``.

    Never evicts the last ``keep_last`` messages and never splits a call from its result; evicts at least
    one unit when anything is evictable, so a forced summary always makes progress. Units go oldest
    first, but the user's last message stays while anything else can go: a turn in progress keeps the
    question it is answering in view through every eviction (its calls and their results alone would
    not say what they were for), losing its own earlier steps instead."""
    limit = len(buffer) - keep_last
    bounds = sorted({0, *unit_starts(buffer), len(buffer)})
    units = [range(a, b) for a, b in itertools.pairwise(bounds) if b <= limit]
    asked = [i for i, m in enumerate(buffer) if m.kind == "user_message"]
    others = [u for u in units if not asked or asked[-1] not in u]
    evicted: list[int] = []
    remaining = sum(counts)
    for unit in others or units:
        evicted.extend(unit)
        remaining -= sum(counts[i] for i in unit)
        if remaining <= target:
            break
    return evicted


def render_for_summary(messages: Sequence[Message]) -> str:
    lines = []
    for m in messages:
        text = m.user_text() or m.content or ""
        for call in m.tool_calls:
            text += f"\n[called {call.name}({call.arguments})]"
        if len(text) > MESSAGE_CHARS:
            text = text[:MESSAGE_CHARS] + " ..."
        lines.append(f"[{format_time(m.created_at)}] {m.role}: {text}")
    return "\n".join(lines)


async def summarize(
    llm: LLMBackend, previous: str | None, evicted: Sequence[Message], word_limit: int = 150
) -> str:
    """Fold ``evicted`` into ``previous``. Falls back to a plain note when the model fails, because the
    messages stay searchable in recall memory either way and eviction must not be blocked."""
    body = render_for_summary(evicted)
    # Keep the summariser's own prompt well inside the window: a quarter of it, at ~3 chars per token.
    budget = max(llm.context_window // 4 * 3, 2000)
    chunks = [body[i : i + budget] for i in range(0, len(body), budget)] or [""]
    summary = previous or ""
    for chunk in chunks:
        prompt = [
            {"role": "system", "content": template("summarize").format(word_limit=word_limit)},
            {
                "role": "user",
                "content": f"Previous summary:\n{summary or '(none)'}\n\nOlder messages:\n{chunk}",
            },
        ]
        try:
            reply = await llm.complete(prompt, [], require_tool=False)
        except LLMError:
            reply = None
        # The model's text is cleaned and cut like any reply: the summary stays in every prompt.
        text = clean(reply.content or "").strip()[: word_limit * SUMMARY_CHARS_PER_WORD] if reply else ""
        if not text:
            span = f"{format_time(evicted[0].created_at)} to {format_time(evicted[-1].created_at)}"
            text = f"{summary} {len(evicted)} messages from {span} were moved to recall memory.".strip()
        summary = text
    return summary
