"""The agent: what a UI, line mode and the Client call. It opens and closes the agent and runs each
operation as one turn; the work is done by its units:

- ``Session`` (session.py): the state, limits, event bus, store and model they share;
- ``Turns`` (turns.py): one operation at a time, and commits that outlive a cancelled step;
- ``ContextWindow`` (window.py): the messages in view, the prompt, fitting and eviction;
- ``StepLoop`` (step.py): MemGPT's steps, heartbeats, warnings and first-reply verification.

An agent shown from its preview (``from_preview``) is visible before it is open: every operation that
needs the store or the model waits in ``Turns`` (or ``wait_open``) until ``open`` completes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from types import MappingProxyType
from typing import Any

from ..config import Limits
from ..llm.base import LLMBackend
from ..model import events as ev
from ..model.clock import now
from ..model.errors import AgentError
from ..model.handle import TOO_LONG_HINT
from ..model.messages import Message, user_message
from ..model.records import CheckpointInfo, Page, Passage
from ..model.state import AgentConfig, AgentState, Block
from ..model.text import clean, size
from ..model.view import AgentView
from ..store.api import AgentStore
from ..store.facade import AsyncStore
from .preview import OLDER, Preview
from .prompts import boot_sequence, heartbeat, login_event, memory_warning
from .session import Listener, Session
from .step import StepLoop, loose_json
from .summarizer import unit_starts
from .turns import Turns
from .window import ContextWindow

log = logging.getLogger(__name__)

FIND_LIMIT = 1000  # matches a find in the conversation steps through


class Agent:
    """The local implementation of ``model.handle.AgentHandle``: it offers everything."""

    unavailable: Mapping[str, str] = MappingProxyType({})

    def __init__(self, state: AgentState, limits: Limits) -> None:
        """Use ``create``, ``load`` or ``from_preview``."""
        self.limits = limits
        self.session = Session(state, limits)
        self.window = ContextWindow(self.session)
        self.turns = Turns(self.session.opened)
        self.steps = StepLoop(self.session, self.window, self.turns)
        self._preview: Preview | None = None
        self._closed = False

    # ----------------------------------------------------------------- lifecycle

    @classmethod
    async def create(
        cls,
        name: str,
        store: AgentStore,
        llm: LLMBackend,
        limits: Limits,
        config: AgentConfig,
        system_prompt: str,
        persona: str,
        human: str,
        login: bool = True,
    ) -> Agent:
        """A new agent with MemGPT's boot sequence. ``login=False`` leaves the login event out, so that
        ``login()`` can deliver it as a step and the agent greets the user first."""
        blocks = [
            Block(label="persona", value=persona[: limits.core_block_chars], limit=limits.core_block_chars),
            Block(label="human", value=human[: limits.core_block_chars], limit=limits.core_block_chars),
        ]
        state = AgentState(name=name, config=config, system_prompt=system_prompt, blocks=blocks)
        agent = cls(state, limits)
        agent._attach(store, llm)
        await agent.window.check_room()
        agent.session.opened.set()
        initial = boot_sequence() + ([login_event(0, "Never (first login)")] if login else [])
        agent.session.store.append_messages(initial)
        agent.window.show(initial)
        agent.window.recall_count = len(initial)
        agent.window.rebuild_header()
        agent.session.checkpoint("created", "agent created")
        await agent.refresh_context()
        return agent

    @classmethod
    async def load(
        cls, store: AgentStore, llm: LLMBackend, limits: Limits, state: AgentState | None = None
    ) -> Agent:
        """``state``: the store's head, when the caller has read it already."""
        if state is None:
            state = await asyncio.to_thread(store.head)
        if state is None:
            raise AgentError(f"Agent store {store.name!r} has no saved state.")
        agent = cls(state, limits)
        agent._attach(store, llm)
        agent.session.opened.set()
        await agent.window.reload()
        await agent._find_unanswered()
        await agent.refresh_context()
        return agent

    @classmethod
    def from_preview(cls, data: bytes, limits: Limits) -> Agent:
        """The agent as it last closed (see ``preview.py``), to show while ``open`` loads the rest."""
        preview = Preview.model_validate_json(data)
        agent = cls(preview.state, limits)
        agent._preview = preview
        window = agent.window
        window.messages = list(preview.buffer)
        window.recall_count, window.archival_count = preview.recall_count, preview.archival_count
        window.last_context = preview.context
        window.rebuild_header()
        return agent

    async def open(self, store: AgentStore, llm: LLMBackend) -> None:
        """Complete an agent made by ``from_preview``. When the store moved on since the preview was
        written, its head wins and listeners hear what changed."""
        preview = self._preview
        assert preview is not None and not self.is_open
        self._attach(store, llm)
        io = self.session.store
        checkpoints = io.checkpoints()
        head = checkpoints[-1].id if checkpoints else ""
        if not preview.matches(head, io.count_messages(), io.archival_count()):
            state = await io.head()
            if state is None:
                raise AgentError(f"Agent store {store.name!r} has no saved state.")
            before = self.memory()
            self.session.state = state
            await self.window.reload()
            self._announce(before, "the store moved on since the agent was last closed")
        self._preview = None
        await self._find_unanswered()
        self.session.opened.set()  # only now: a step waiting for it must see the state the store holds
        await self.refresh_context()

    def _attach(self, store: AgentStore, llm: LLMBackend) -> None:
        self.session.attach(AsyncStore(store), llm)
        self.window.attach()

    async def _find_unanswered(self) -> None:
        found = await self.session.store.pending_user_messages()
        self.steps.unanswered = found[-1] if found else None

    async def wait_open(self) -> None:
        await self.session.opened.wait()

    @property
    def is_open(self) -> bool:
        return self.session.is_open

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.session.subscribe(listener)

    def emit(self, event: ev.Event) -> None:
        self.session.emit(event)

    async def close(self) -> None:
        """Close the store and model (nothing to do for a preview never opened); leave a preview for
        the next start."""
        if not self.is_open or self._closed:
            return
        self._closed = True
        await self.turns.settle()
        await self.session.llm.aclose()
        io = self.session.store
        try:
            await io.run(self._write_preview)
        except Exception:  # only the next start's speed depends on it
            log.exception("writing the preview of agent %s", self.name)
        finally:
            await io.run(io.blocking.close)

    def _write_preview(self) -> None:
        """What ``load`` would find, read the same way (in a thread: it reads Lance)."""
        store = self.store
        state = store.head()
        assert state is not None
        in_view = set(state.in_context_ids)
        newest = store.recent_messages(None, OLDER)
        preview = Preview(
            head=store.checkpoints()[-1].id,
            state=state,
            buffer=store.get_messages(state.in_context_ids),
            older=[m for m in newest if m.id not in in_view],
            reaches_start=len(newest) < OLDER,
            recall_count=store.count_messages(),
            archival_count=store.archival_count(),
            context=self.window.last_context,
        )
        store.write_preview(preview.model_dump_json().encode())

    # ------------------------------------------------------------ read-only views

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def state(self) -> AgentState:
        return self.session.state

    @property
    def store(self) -> AgentStore:
        """The blocking store, for callers with their own threads (data sources, export)."""
        return self.session.store.blocking

    @property
    def llm(self) -> LLMBackend:
        return self.session.llm

    @property
    def buffer(self) -> list[Message]:
        return self.window.messages

    @property
    def recall_count(self) -> int:
        return self.window.recall_count

    @property
    def archival_count(self) -> int:
        return self.window.archival_count

    @property
    def context_window(self) -> int:
        return self.window.limit

    @property
    def last_context(self) -> ev.ContextChanged | None:
        return self.window.last_context

    def snapshot(self) -> AgentView:
        """A copy of what a UI shows: it never reads the live state, which a step may be changing."""
        state, window = self.state, self.window
        return AgentView(
            name=state.name,
            config=state.config.model_copy(),
            blocks=tuple(b.model_copy() for b in state.blocks),
            summary=state.summary,
            step=state.step,
            in_context=tuple(window.messages),
            recall_messages=window.recall_count,
            archival_memories=window.archival_count,
        )

    def unanswered(self) -> str | None:
        """The text of the user's last message when no step answered it (a crash, a failure, a cancel)."""
        message = self.steps.unanswered
        return message.user_text() if message is not None else None

    def keep_unanswered(self) -> None:
        """From now on a cancelled turn leaves its user message in recall, unanswered, as a crash would
        (a server shutting down told its client the message arrived)."""
        self.steps.take_back = False

    def memory(self) -> dict[str, str]:
        return {b.label: b.value for b in self.state.blocks}

    def dump(self, count: int | None = None) -> list[Message]:
        return list(self.buffer if not count else self.buffer[-count:])

    async def refresh_context(self) -> ev.ContextChanged:
        return await self.window.refresh()

    # ------------------------------------------------------------- conversation

    def refusal(self, text: str) -> str | None:
        """Why ``text`` is too long to send or edit in, said before anything is kept; None when it is not."""
        limit = self.limits.message_chars
        if len(text) > limit:
            return f"The text is {size(len(text))}, over the limit of {limit:,} characters."
        return None

    async def send(self, text: str, max_steps: int | None = None) -> None:
        """The human says ``text``: persist it, then run the chain of steps it starts (at most
        ``max_steps``, within the chain limit). A message that could never fit the context window is
        refused whole (an error event says its size and the limit); nothing of it is kept."""
        text = clean(text)
        entered = False
        try:
            async with self.turns.turn():
                entered = True
                message = user_message(text, self.state.step + 1)
                if refusal := self.refusal(text) or await self.window.refusal(message):
                    self.emit(ev.Error(refusal, TOO_LONG_HINT, retryable=False))
                    return
                self.session.store.append_messages([message])
                self.window.recall_count += 1
                await self.steps.chain(message, "user", persisted=True, fresh=True, max_steps=max_steps)
        except asyncio.CancelledError:
            if not entered:  # cancelled while an earlier operation finished: nothing was kept
                self.emit(ev.StepCancelled(self.state.step + 1, text))
            raise

    @property
    def needs_greeting(self) -> bool:
        return self.state.step == 0 and not any(m.kind == "login" for m in self.buffer)

    async def login(self) -> None:
        """Deliver the login event as a step: the agent's first words to the user."""
        async with self.turns.turn():
            await self.steps.chain(login_event(self.state.step + 1, "Never (first login)"), "login")

    async def heartbeat(self) -> None:
        async with self.turns.turn():
            reason = "manual heartbeat from the user"
            await self.steps.chain(heartbeat(self.state.step + 1, reason), "heartbeat")

    async def memory_warning(self) -> None:
        if not self.window.model_sees_warnings:
            raise AgentError("This agent's model is shown only part of the context and sees no warnings.")
        async with self.turns.turn():
            await self.steps.chain(memory_warning(self.state.step + 1), "warning")

    async def retry(self) -> None:
        """Answer the last user message again: the unanswered one after a failure or cancel, else the
        last one in view, dropping the replies that followed it (from recall too)."""
        async with self.turns.turn():
            if self.steps.unanswered is not None:
                await self.steps.chain(self.steps.unanswered, "retry", persisted=True)
                return
            buffer = self.buffer
            index = next(
                (i for i in range(len(buffer) - 1, -1, -1) if buffer[i].kind == "user_message"), None
            )
            if index is None:
                raise AgentError("Nothing to retry: no user message in view.")
            message = buffer[index]
            await self.window.drop_after(index)
            self.emit(ev.HistoryChanged("/retry"))
            await self.steps.chain(message, "retry", persisted=True)

    async def summarize_now(self) -> int:
        """/summarize: evict the older half of the window into the summary."""
        async with self.turns.turn():
            breakdown = (await self.window.assemble()).breakdown
            return await self.window.evict(None, breakdown.total - breakdown.messages // 2)

    # --------------------------------------------------------- history edits

    async def pop(self, count: int = 3) -> int:
        """Remove the last ``count`` messages from view and from recall (never half a tool call)."""
        async with self.turns.turn():
            if count < 1:
                raise AgentError("/pop takes a positive number.")
            buffer = self.buffer
            cut = max(len(buffer) - count, 0)
            cut = max((i for i in unit_starts(buffer) if i <= cut), default=0)
            removed = len(buffer) - cut
            if removed == 0:
                raise AgentError("Nothing to pop.")
            self.window.drop_tail(removed)
            self.emit(ev.HistoryChanged(f"/pop {removed}"))
            self.session.checkpoint(None, f"/pop removed {removed} messages")
            await self.refresh_context()
            return removed

    async def rethink(self, text: str) -> None:
        """Replace the inner monologue of the last assistant message."""
        text = self._edit_text(text)
        async with self.turns.turn():
            index = self._last_assistant(lambda m: True)
            await self._replace(index, self.buffer[index].model_copy(update={"content": text}), "/rethink")

    async def rewrite(self, text: str) -> None:
        """Replace what the agent last said to the user."""
        text = self._edit_text(text)
        async with self.turns.turn():
            index = self._last_assistant(lambda m: any(c.name == "send_message" for c in m.tool_calls))
            message = self.buffer[index]
            calls = tuple(
                c.model_copy(update={"arguments": json.dumps({**loose_json(c.arguments), "message": text})})
                if c.name == "send_message"
                else c
                for c in message.tool_calls
            )
            await self._replace(index, message.model_copy(update={"tool_calls": calls}), "/rewrite")

    def _edit_text(self, text: str) -> str:
        if refusal := self.refusal(text):
            raise AgentError(refusal)
        return clean(text)

    def _last_assistant(self, predicate: Callable[[Message], bool]) -> int:
        buffer = self.buffer
        for i in range(len(buffer) - 1, -1, -1):
            if buffer[i].role == "assistant" and predicate(buffer[i]):
                return i
        raise AgentError("No assistant message in view to change.")

    async def _replace(self, index: int, message: Message, label: str) -> None:
        self.window.replace(index, message)
        self.session.checkpoint(None, f"{label} changed the last reply")
        self.emit(ev.HistoryChanged(label))
        await self.refresh_context()

    # ----------------------------------------------------------------- memory

    async def update_block(
        self, label: str, value: str, limit: int | None = None, description: str | None = None
    ) -> bool:
        """The user edits a core memory block, and its limit and description if given (read-only blocks
        are read-only for the agent only); whether that changed it. Saving it as it is changes nothing:
        no checkpoint, no event."""
        value = clean(value)
        async with self.turns.turn():
            block = self.state.block(label)
            if block is None:
                raise AgentError(f"No core memory block labelled {label!r}.")
            limit = block.limit if limit is None else limit
            description = block.description if description is None else description
            if (value, limit, description) == (block.value, block.limit, block.description):
                return False
            if len(value) > limit:
                raise AgentError(f"{label!r} would have {len(value)} characters; its limit is {limit}.")
            old, block.value, block.limit, block.description = block.value, value, limit, description
            self.state.memory_edited_at = now()
            await self._memory_changed(
                f"user edited {label}", ev.CoreMemoryChanged(label, old, value, "user")
            )
            return True

    async def add_block(
        self, label: str, value: str = "", limit: int | None = None, description: str | None = None
    ) -> None:
        label, value = clean(label), clean(value)
        async with self.turns.turn():
            if self.state.block(label) is not None:
                raise AgentError(f"A block labelled {label!r} already exists.")
            self.state.blocks.append(
                Block(
                    label=label,
                    value=value,
                    limit=limit or self.limits.core_block_chars,
                    description=description,
                )
            )
            await self._memory_changed(
                f"user added block {label}", ev.CoreMemoryChanged(label, "", value, "user")
            )

    async def annotate(self, **fields: Any) -> None:
        """Keep descriptive fields with the agent (a server client's description, tags, metadata)."""
        async with self.turns.turn():
            self.state.annotations = {**self.state.annotations, **fields}
            self.session.checkpoint(None, "descriptive fields changed")

    async def attached(self, added: int, source: str) -> None:
        """Record that a data source was copied into archival memory."""
        async with self.turns.turn():
            self.window.archival_count = self.session.store.archival_count()
            notice = ev.Notice("info", f"Attached {source!r}: {added} passages added to archival memory.")
            await self._memory_changed(f"attached source {source} ({added} passages)", notice)

    async def _memory_changed(self, summary: str, event: ev.Event) -> None:
        self.window.rebuild_header()
        self.session.checkpoint(None, summary)
        self.emit(event)
        await self.refresh_context()

    async def insert_archival(self, text: str, tags: Sequence[str] = ()) -> str:
        """The user adds a passage (the agent uses archival_memory_insert), with ``tags`` kept in its
        metadata; checkpointed like any change."""
        text = self._edit_text(text)
        async with self.turns.turn():
            ids = await self.session.store.archival_insert([text], {"tags": list(tags)} if tags else None)
            self.window.archival_count += 1
            self.session.checkpoint(None, "user added an archival passage")
            await self.refresh_context()
            return ids[0]

    async def update_archival(self, passage_id: str, text: str) -> None:
        text = self._edit_text(text)
        async with self.turns.turn():
            await self.session.store.archival_update(passage_id, text)
            self.session.checkpoint(None, "user edited an archival passage")

    async def delete_archival(self, passage_id: str) -> None:
        async with self.turns.turn():
            io = self.session.store
            await io.archival_delete(passage_id)
            self.window.archival_count = io.archival_count()
            self.session.checkpoint(None, "user deleted an archival passage")
            await self.refresh_context()

    # ----------------------------------------------------------------- search

    async def older_messages(self, before_id: str | None, limit: int) -> list[Message]:
        """Recall just before ``before_id`` (newest when None), oldest first: the UI's scrollback."""
        if self._preview is not None:
            found = self._preview.messages_before(before_id, limit)
            if found is not None:
                return found
        await self.wait_open()
        return await self.session.store.recent_messages(before_id, limit)

    async def newer_messages(self, after_id: str | None, limit: int) -> list[Message]:
        """Recall just after ``after_id`` (the oldest when None), oldest first."""
        await self.wait_open()
        return await self.session.store.messages_after(after_id, limit)

    async def search_recall(self, query: str, page: int = 0, size: int | None = None) -> Page[Message]:
        await self.wait_open()
        return await self.session.store.search_messages(query, page, size or self.limits.page_size)

    async def find_messages(self, query: str) -> list[str]:
        """The ids of the recall messages matching ``query`` (the full-text search of ``search_recall``,
        its best ``FIND_LIMIT``), oldest first: the conversation's find steps through them."""
        await self.wait_open()
        found = await self.session.store.search_messages(query, 0, FIND_LIMIT)
        return sorted(m.id for m in found.items)

    async def search_recall_by_date(
        self, start: date, end: date, page: int = 0, size: int | None = None
    ) -> Page[Message]:
        await self.wait_open()
        return await self.session.store.search_messages_by_date(
            start, end, page, size or self.limits.page_size
        )

    async def search_archival(self, query: str, page: int = 0, size: int | None = None) -> Page[Passage]:
        await self.wait_open()
        return await self.session.store.archival_search(query, page, size or self.limits.page_size)

    async def list_archival(self, page: int = 0, size: int | None = None) -> Page[Passage]:
        await self.wait_open()
        return await self.session.store.archival_list(page, size or self.limits.page_size)

    # ------------------------------------------------------------ checkpoints

    async def save(self, label: str | None = None) -> CheckpointInfo:
        async with self.turns.turn():
            return self.session.checkpoint(label or f"saved at step {self.state.step}", "saved by the user")

    async def checkpoints(self) -> list[CheckpointInfo]:
        await self.wait_open()
        return self.session.store.checkpoints()

    async def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        await self.wait_open()
        return await self.session.store.checkpoint_state(checkpoint_id)

    async def restore(self, checkpoint_id: str) -> CheckpointInfo:
        """Bring back every tier as it was at ``checkpoint_id``; the restore is itself a new checkpoint."""
        async with self.turns.turn():
            before = self.memory()
            state, info = await self.session.store.restore(checkpoint_id)
            self.session.state = state
            await self._find_unanswered()  # an undo brings an unanswered message back as it was
            await self.window.reload()
            self._announce(before, info.label or "restored")
            self.emit(ev.CheckpointCreated(info.id, info.step, info.label, info.summary))
            await self.refresh_context()
            return info

    def _announce(self, before: dict[str, str], reason: str) -> None:
        """Tell listeners that state and history were replaced from the store."""
        for block in self.state.blocks:
            if before.get(block.label) != block.value:
                self.emit(
                    ev.CoreMemoryChanged(block.label, before.get(block.label, ""), block.value, "restore")
                )
        self.emit(ev.HistoryChanged(reason))
