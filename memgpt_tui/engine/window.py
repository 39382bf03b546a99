"""The context window: the messages in view, the prompt built from them, and what keeps it inside the
model's window (fit before a request, evict into recall with a summary)."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import events as ev
from ..model.errors import AgentError, ContextFull
from ..model.messages import Message
from .context import Assembled, ContextBuilder
from .functions import TOOL_SCHEMAS
from .session import Session
from .summarizer import summarize, to_evict


class ContextWindow:
    builder: ContextBuilder

    def __init__(self, session: Session) -> None:
        self.s = session
        self.messages: list[Message] = []
        self.recall_count = 0
        self.archival_count = 0
        # (recall, archival, hidden) as shown in the memory header. Frozen between memory rebuilds, as
        # in MemGPT: a header that changed every step would defeat the server's prompt-prefix cache.
        self._header = (0, 0, 0)
        self.last_context: ev.ContextChanged | None = None

    def attach(self) -> None:
        llm = self.s.llm
        self.builder = ContextBuilder(llm.tokenizer, TOOL_SCHEMAS, llm.layout)

    @property
    def limit(self) -> int:
        return self.s.state.config.context_window

    @property
    def model_sees_warnings(self) -> bool:
        """Whether a memory-pressure warning reaches the model: not when it is shown only part of the
        context (a partial layout, such as the notes wrapper's), which leaves out alerts."""
        return not self.builder.layout.partial

    def reply_reserve(self) -> int:
        return min(1024, self.limit // 8)

    # ------------------------------------------------------------ contents

    def show(self, messages: list[Message]) -> None:
        """Make ``messages`` the window, in the state too."""
        self.messages = messages
        self.s.state.in_context_ids = [m.id for m in messages]

    async def reload(self) -> None:
        """Read the window and the counts back from the store (opening, restoring)."""
        store = self.s.store
        self.builder.forget([m.id for m in self.messages])
        self.messages = await store.get_messages(self.s.state.in_context_ids)
        self.recall_count = store.count_messages()
        self.archival_count = store.archival_count()
        self.rebuild_header()

    def rebuild_header(self) -> None:
        """Refresh the memory header's counts (after core memory edits, evictions, restores)."""
        hidden = max(self.recall_count - len(self.messages), 0)
        self._header = (self.recall_count, self.archival_count, hidden)

    def drop_tail(self, count: int) -> None:
        """Drop the last ``count`` messages from view and from recall."""
        dropped = self.messages[-count:]
        self.s.store.delete_messages([m.id for m in dropped])
        self.recall_count -= len(dropped)
        self.show(self.messages[:-count])
        self.builder.forget([m.id for m in dropped])

    async def drop_after(self, index: int) -> None:
        """Drop what followed ``messages[index]`` from view and from recall, with the messages evicted
        from between (the earlier steps of a turn whose question stayed in view)."""
        later = await self.s.store.messages_after(self.messages[index].id, self.recall_count)
        self.s.store.delete_messages([m.id for m in later])
        self.recall_count -= len(later)
        self.builder.forget([m.id for m in self.messages[index + 1 :]])
        self.show(self.messages[: index + 1])

    def replace(self, index: int, message: Message) -> None:
        self.s.store.replace_messages([message])
        self.builder.forget([message.id])
        self.messages[index] = message

    # -------------------------------------------------------------- prompt

    async def assemble(self, messages: Sequence[Message] | None = None, bounded: bool = False) -> Assembled:
        """The prompt for ``messages`` (the window when None). ``bounded``: messages not counted yet
        count by an upper bound instead of waiting for the tokenizer."""
        window = self.messages if messages is None else messages
        return await self.builder.build(self.s.state, window, *self._header, bounded=bounded)

    async def refresh(self) -> ev.ContextChanged:
        """Count the window and tell listeners (the context gauge)."""
        await self.s.opened.wait()
        assembled = await self.assemble()
        event = ev.ContextChanged(
            breakdown=assembled.breakdown,
            limit=self.limit,
            exact=self.builder.exact,
            warning_fraction=self.s.limits.warning_fraction,
            in_context_messages=len(self.messages),
            recall_messages=self.recall_count,
            archival_memories=self.archival_count,
            prompt_history=tuple(self.s.state.prompt_history),
            functions=self.builder.functions,
            partial=self.builder.layout.partial,
        )
        self.last_context = event
        self.s.emit(event)
        return event

    async def fit(self, incoming: Message) -> None:
        """Evict before a request would overflow the window (leaving room for the reply)."""
        window = [*self.messages, incoming]
        bound = await self.assemble(window, bounded=True)
        if bound.breakdown.total + self.reply_reserve() <= self.limit:
            return  # fits even by the upper bound: no need to wait for the exact count
        exact = await self.assemble(window)
        if exact.breakdown.total + self.reply_reserve() > self.limit:
            await self.evict(incoming, self.summarize_target())

    async def check_room(self) -> None:
        """Refuse a window too small for the fixed prompt (system prompt, functions, core memory), a
        reply and a conversation: the agent could never answer in it. The reply and the conversation
        each need an eighth of the window at least."""
        fixed = (await self.assemble([])).breakdown.total
        if fixed + self.reply_reserve() + self.limit // 8 > self.limit:
            needed = -(-fixed * 4 // (3 * 256)) * 256  # the fixed prompt in three quarters, rounded up
            raise AgentError(
                f"A context window of {self.limit:,} tokens cannot hold the fixed prompt ({fixed:,} tokens: "
                "system prompt, functions and core memory), a reply and a conversation. "
                f"Use --context-window {needed:,} or more."
            )

    async def refusal(self, message: Message) -> str | None:
        """Why ``message`` cannot fit the window even alone with the fixed prompt; None when it can."""
        room = self.limit - self.reply_reserve()
        if (await self.assemble([message], bounded=True)).breakdown.total <= room:
            return None
        needed = (await self.assemble([message])).breakdown
        self.builder.forget([message.id])
        if needed.total <= room:
            return None
        return (
            f"The message is {needed.messages:,} tokens; with the fixed prompt ({needed.total - needed.messages:,} "
            f"tokens) and room for a reply it needs {needed.total + self.reply_reserve():,}, more than the "
            f"context window of {self.limit:,}."
        )

    def summarize_target(self) -> int:
        return int(self.limit * self.s.limits.summarize_to_fraction)

    async def evict(self, incoming: Message | None, target_total: int) -> int:
        """Move messages out of view into recall (the oldest, but see ``to_evict``) and fold them into
        the summary."""
        window = [*self.messages, incoming] if incoming else list(self.messages)
        assembled = await self.assemble(window)
        fixed = assembled.breakdown.total - assembled.breakdown.messages
        chosen = to_evict(
            assembled.per_message, window, target_total - fixed, self.s.limits.keep_last_messages
        )
        gone = {i for i in chosen if i < len(self.messages)}  # the incoming message is not in view yet
        if not gone:
            if assembled.breakdown.total + self.reply_reserve() > self.limit:
                raise ContextFull(
                    f"The prompt needs {assembled.breakdown.total} tokens but the window holds {self.limit}, "
                    "and nothing more can be evicted."
                )
            return 0
        state, n = self.s.state, len(gone)
        self.s.emit(ev.Busy("summarising", 0, n))
        evicted = [m for i, m in enumerate(self.messages) if i in gone]
        state.summary = await summarize(self.s.llm, state.summary, evicted)
        self.show([m for i, m in enumerate(self.messages) if i not in gone])
        state.warned = False
        self.builder.forget([m.id for m in evicted])
        self.rebuild_header()
        self.s.checkpoint(None, f"summarised {n} messages into recall")
        self.s.emit(ev.Summarized(n, state.summary))
        await self.refresh()
        return n
