"""The agent: MemGPT's step loop, heartbeats, warnings, eviction, verification, and the edit commands.

Every operation is transactional at step granularity: the model call is the only part that can be
cancelled; once a reply arrives, running its functions, persisting and checkpointing finish together
(shielded), so a cancel never leaves half a step in memory or on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from ..config import Limits
from ..llm.base import LLMBackend, LLMResponse
from ..model import events as ev
from ..model.clock import new_id, now
from ..model.errors import AgentError, ContextFull, ContextOverflowError, LLMError
from ..model.messages import Message, ToolCall, user_message
from ..model.records import CheckpointInfo, Page, Passage
from ..model.state import AgentConfig, AgentState, Block
from ..model.view import AgentView
from ..store.api import AgentStore
from .context import Assembled, ContextBuilder
from .functions import SEARCHES, TOOL_SCHEMAS, FunctionRunner, Outcome, package_result
from .preview import OLDER, Preview
from .prompts import (
    boot_sequence,
    failed_heartbeat,
    heartbeat,
    login_event,
    memory_warning,
    requested_heartbeat,
)
from .summarizer import eviction_count, summarize, unit_starts

T = TypeVar("T")
log = logging.getLogger(__name__)
Listener = Callable[[ev.Event], None]
PROMPT_HISTORY = 200


class Agent:
    store: AgentStore
    llm: LLMBackend
    builder: ContextBuilder

    def __init__(self, state: AgentState, limits: Limits) -> None:
        """Use ``create``, ``load`` or ``from_preview``."""
        self.state = state
        self.limits = limits
        self.buffer: list[Message] = []
        self.recall_count = 0
        self.archival_count = 0
        self._unanswered: Message | None = None  # a user message whose step never completed
        # (recall, archival, hidden) as shown in the memory header. Frozen between memory rebuilds, as
        # in MemGPT: a header that changed every step would defeat the server's prompt-prefix cache.
        self._header = (0, 0, 0)
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._committing: asyncio.Future[Any] | None = None
        self._last_context: ev.ContextChanged | None = None
        self._opened = asyncio.Event()  # store, model and builder are in place
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
        agent._opened.set()
        initial = boot_sequence() + ([login_event(0, "Never (first login)")] if login else [])
        store.append_messages(initial)
        agent.buffer = initial
        agent.recall_count = len(initial)
        state.in_context_ids = [m.id for m in initial]
        agent._rebuild_memory()
        store.checkpoint(state, "created", "agent created")
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
        agent._opened.set()
        await agent._reload()
        await agent._find_pending()
        await agent.refresh_context()
        return agent

    @classmethod
    def from_preview(cls, data: bytes, limits: Limits) -> Agent:
        """The agent as it last closed (see ``preview.py``), to show while ``open`` loads the rest.
        Until then everything that needs the store or the model waits for it."""
        preview = Preview.model_validate_json(data)
        agent = cls(preview.state, limits)
        agent._preview = preview
        agent.buffer = list(preview.buffer)
        agent.recall_count, agent.archival_count = preview.recall_count, preview.archival_count
        agent._last_context = preview.context
        agent._rebuild_memory()
        return agent

    async def open(self, store: AgentStore, llm: LLMBackend) -> None:
        """Complete an agent made by ``from_preview``. When the store moved on since the preview was
        written, its head wins and listeners hear what changed."""
        preview = self._preview
        assert preview is not None and not self._opened.is_set()
        checkpoints = store.checkpoints()
        head = checkpoints[-1].id if checkpoints else ""
        self._attach(store, llm)
        if not preview.matches(head, store.count_messages(), store.archival_count()):
            state = await self._io(store.head)
            if state is None:
                raise AgentError(f"Agent store {store.name!r} has no saved state.")
            before = self.memory()
            self.state = state
            await self._reload()
            self._announce(before, "the store moved on since the agent was last closed")
        self._preview = None
        await self._find_pending()
        self._opened.set()  # only now: a step waiting for it must see the state the store holds
        await self.refresh_context()

    def _attach(self, store: AgentStore, llm: LLMBackend) -> None:
        self.store, self.llm = store, llm
        self.builder = ContextBuilder(llm.tokenizer, TOOL_SCHEMAS, llm.layout)

    async def wait_open(self) -> None:
        await self._opened.wait()

    @property
    def is_open(self) -> bool:
        return self._opened.is_set()

    async def _find_pending(self) -> None:
        pending = await self._io(self.store.pending_user_messages)
        self._unanswered = pending[-1] if pending else None

    async def _reload(self) -> None:
        self.buffer = await self._io(self.store.get_messages, self.state.in_context_ids)
        self.recall_count = self.store.count_messages()
        self.archival_count = self.store.archival_count()
        self._rebuild_memory()

    def _rebuild_memory(self) -> None:
        """Refresh the memory header's counts (after core memory edits, evictions, restores)."""
        self._header = (self.recall_count, self.archival_count, max(self.recall_count - len(self.buffer), 0))

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: ev.Event) -> None:
        for listener in list(self._listeners):
            listener(event)

    async def close(self) -> None:
        """Close the store and model (nothing to do for a preview never opened); leave a preview for
        the next start."""
        if not self.is_open or self._closed:
            return
        self._closed = True
        if self._committing:
            await self._committing
        await self.llm.aclose()
        try:
            await self._io(self._write_preview)
        except Exception:  # only the next start's speed depends on it
            log.exception("writing the preview of agent %s", self.name)
        finally:
            await self._io(self.store.close)

    def _write_preview(self) -> None:
        """What ``load`` would find, read the same way."""
        store = self.store
        state = store.head()
        assert state is not None
        buffer = store.get_messages(state.in_context_ids)
        older = store.recent_messages(buffer[0].id if buffer else None, OLDER)
        preview = Preview(
            head=store.checkpoints()[-1].id,
            state=state,
            buffer=buffer,
            older=older,
            reaches_start=len(older) < OLDER,
            recall_count=store.count_messages(),
            archival_count=store.archival_count(),
            context=self._last_context,
        )
        store.write_preview(preview.model_dump_json().encode())

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def last_context(self) -> ev.ContextChanged | None:
        return self._last_context

    def snapshot(self) -> AgentView:
        """A copy of what a UI shows: it never reads the live state, which a step may be changing."""
        state = self.state
        return AgentView(
            name=state.name,
            config=state.config.model_copy(),
            blocks=tuple(b.model_copy() for b in state.blocks),
            summary=state.summary,
            step=state.step,
            in_context=tuple(self.buffer),
            recall_messages=self.recall_count,
            archival_memories=self.archival_count,
        )

    def unanswered(self) -> str | None:
        """The text of the user's last message when no step answered it (a crash, a failure, a cancel)."""
        return self._unanswered.user_text() if self._unanswered is not None else None

    # ------------------------------------------------------------- conversation

    async def send(self, text: str) -> None:
        """The human says ``text``: persist it, then run the chain of steps it starts."""
        entered = False
        try:
            async with self._step_guard():
                entered = True
                message = user_message(text, self.state.step + 1)
                self.store.append_messages([message])
                self.recall_count += 1
                await self._chain(message, "user", persisted=True, fresh=True)
        except asyncio.CancelledError:
            if not entered:  # cancelled while an earlier operation finished: nothing was kept
                self.emit(ev.StepCancelled(self.state.step + 1, text))
            raise

    @property
    def needs_greeting(self) -> bool:
        return self.state.step == 0 and not any(m.kind == "login" for m in self.buffer)

    async def login(self) -> None:
        """Deliver the login event as a step: the agent's first words to the user."""
        async with self._step_guard():
            await self._chain(login_event(self.state.step + 1, "Never (first login)"), "login")

    async def heartbeat(self) -> None:
        async with self._step_guard():
            await self._chain(heartbeat(self.state.step + 1, "manual heartbeat from the user"), "heartbeat")

    async def memory_warning(self) -> None:
        async with self._step_guard():
            await self._chain(memory_warning(self.state.step + 1), "warning")

    async def retry(self) -> None:
        """Answer the last user message again: the pending one after a failure or cancel, else the last
        one in view, dropping the replies that followed it (from recall too)."""
        async with self._step_guard():
            if self._unanswered is not None:
                await self._chain(self._unanswered, "retry", persisted=True)
                return
            index = next(
                (i for i in range(len(self.buffer) - 1, -1, -1) if self.buffer[i].kind == "user_message"),
                None,
            )
            if index is None:
                raise AgentError("Nothing to retry: no user message in view.")
            message = self.buffer[index]
            await self._drop_tail(len(self.buffer) - index, "/retry", keep={message.id})
            await self._chain(message, "retry", persisted=True)

    async def _chain(
        self, first: Message, reason: ev.StepReason, persisted: bool = False, fresh: bool = False
    ) -> None:
        """Run steps until the agent stops asking for more or the chain limit is hit. ``fresh``: the first
        input was persisted by this call, so a cancel takes it back out of recall (the UI keeps the text)."""
        next_input: Message | None = first
        steps = 0
        while next_input is not None:
            if steps == self.limits.chain_limit:
                self.emit(
                    ev.Notice("warning", f"Stopped after {steps} automatic steps in a row (chain limit).")
                )
                return
            current = next_input
            if current.kind == "user_message":
                self._unanswered = current
            try:
                next_input, reason = await self._step(current, reason, persisted)
            except asyncio.CancelledError:
                returned = None
                if self._unanswered is current and fresh:
                    self._unanswered = None
                    self.store.delete_messages([current.id])
                    self.recall_count -= 1
                    returned = current.user_text()
                self.emit(ev.StepCancelled(self.state.step + 1, returned))
                raise
            except LLMError as exc:
                self.emit(ev.Error(str(exc), exc.hint or "Use /retry to try again.", retryable=exc.retryable))
                return
            except ContextFull as exc:
                self.emit(ev.Error(str(exc), "Shorten core memory or the last message, then /retry."))
                return
            persisted = fresh = False
            steps += 1

    async def _step(
        self, incoming: Message, reason: ev.StepReason, persisted: bool
    ) -> tuple[Message | None, ev.StepReason]:
        number = self.state.step + 1
        self.emit(ev.StepStarted(number, reason))
        await self._fit(incoming)
        response, assembled = await self._call_verified(incoming, number, reason)
        if self._unanswered is incoming:
            self._unanswered = None  # from here on the step completes even if cancelled
        commit = asyncio.ensure_future(self._commit(number, incoming, persisted, response, assembled))
        self._committing = commit
        return await asyncio.shield(commit)

    async def _call_verified(
        self, incoming: Message, number: int, reason: ev.StepReason
    ) -> tuple[LLMResponse, Assembled]:
        """Call the model; the first reply of a new agent must use send_message or a search and carry an
        inner monologue (MemGPT's first-message verification), so bad first habits don't stick."""
        check = not self.state.verified and not self.state.config.no_verify
        tries = self.limits.verify_retries if check else 1
        for attempt in range(1, tries + 1):
            response, assembled = await self._call(incoming)
            problem = _verification_problem(response) if check else None
            if problem is None:
                self.state.verified = True
                return response, assembled
            self.emit(ev.AttemptDiscarded(number, problem, attempt, tries))
        self.emit(
            ev.Notice("warning", "Accepting the first reply unverified; use --no-verify to skip this check.")
        )
        self.state.verified = True
        return response, assembled

    async def _call(self, incoming: Message) -> tuple[LLMResponse, Assembled]:
        for attempt in (1, 2):
            window = [*self.buffer, incoming]
            assembled = await self._assemble(window, bounded=True)
            # New messages are counted exactly while the model works on the request.
            counting = asyncio.ensure_future(self.builder.count_new(window)) if assembled.bounded else None
            try:
                response = await self.llm.complete(
                    assembled.messages, TOOL_SCHEMAS, on_token=lambda ch, t: self.emit(ev.Token(ch, t))
                )
                if counting is not None:
                    await counting
                    assembled = await self._assemble(window)
                return response, assembled
            except ContextOverflowError:
                if attempt == 2:
                    raise
            finally:
                if counting is not None:
                    counting.cancel()  # a no-op once it finished
            self.emit(
                ev.Notice("warning", "The model reported a context overflow; summarising and retrying.")
            )
            await self._evict(incoming, int(self.context_window * self.limits.summarize_to_fraction))
        raise AssertionError("unreachable")

    async def _commit(
        self,
        number: int,
        incoming: Message,
        persisted: bool,
        response: LLMResponse,
        assembled: Assembled,
    ) -> tuple[Message | None, ev.StepReason]:
        calls = tuple(
            ToolCall(id=c.id or f"call_{new_id()}", name=c.name, arguments=c.arguments)
            for c in response.tool_calls
        )
        content = response.content if not response.parse_error else (response.raw or response.content)
        assistant = Message(
            role="assistant", kind="assistant", content=content, tool_calls=calls, step=number
        )
        if response.content and not response.parse_error:
            self.emit(ev.InnerThought(response.content))
        runner = FunctionRunner(self.state, _Recall(self), self.limits)
        results: list[Message] = []
        failure = (
            response.parse_error and f"Could not read your reply as a function call: {response.parse_error}"
        )
        wants_heartbeat = edited = False
        for call in calls:
            self.emit(ev.FunctionCalled(call.id, call.name, _loose_json(call.arguments)))
            outcome = await runner.run(call.name, call.arguments)
            results.append(
                Message(
                    role="tool",
                    kind="tool_result",
                    name=call.name,
                    tool_call_id=call.id,
                    content=package_result(outcome, self.limits.function_result_chars),
                    step=number,
                )
            )
            self._report(call, outcome)
            if not outcome.ok:
                failure = failure or outcome.message
            wants_heartbeat |= outcome.request_heartbeat
            edited |= bool(outcome.memory_edits)

        new = [assistant, *results] if persisted else [incoming, assistant, *results]
        self.store.append_messages(new)
        self.recall_count += len(new)
        self.buffer = [*self.buffer, incoming, assistant, *results]
        self.state.in_context_ids = [m.id for m in self.buffer]
        if edited:
            self._rebuild_memory()
        self.state.step = number

        prompt_tokens = response.prompt_tokens or assembled.breakdown.total
        self.builder.reconcile(assembled.breakdown, response.prompt_tokens)
        self.state.prompt_history = [*self.state.prompt_history, prompt_tokens][-PROMPT_HISTORY:]
        next_input, next_reason = self._next_input(number, prompt_tokens, failure, wants_heartbeat)
        await self._checkpoint(None, _describe(calls, failure))
        await self.refresh_context()
        ids = tuple(m.id for m in (incoming, assistant, *results))
        self.emit(ev.StepFinished(number, next_reason if next_input else None, ids))
        return next_input, next_reason

    def _report(self, call: ToolCall, outcome: Outcome) -> None:
        self.emit(ev.FunctionReturned(call.id, call.name, outcome.ok, outcome.message))
        if outcome.sent is not None:
            self.emit(ev.AssistantMessage(outcome.sent))
        for label, old, new in outcome.memory_edits:
            self.emit(ev.CoreMemoryChanged(label, old, new, "agent"))
        if outcome.archival_changed:
            self.archival_count += 1

    def _next_input(
        self, number: int, prompt_tokens: int, failure: str | None | bool, wants_heartbeat: bool
    ) -> tuple[Message | None, ev.StepReason]:
        """MemGPT's order: memory-pressure warning, then failure heartbeat, then requested heartbeat."""
        paused = self.state.heartbeats_paused_until is not None and now() < self.state.heartbeats_paused_until
        if (
            not self.state.warned
            and not paused
            and prompt_tokens >= self.context_window * self.limits.warning_fraction
        ):
            self.state.warned = True
            self.emit(
                ev.Notice(
                    "warning", "Memory pressure: the context window is filling up; the agent was warned."
                )
            )
            return memory_warning(number + 1), "warning"
        if failure:
            return failed_heartbeat(number + 1, str(failure)), "failure"
        if wants_heartbeat and not paused:
            return requested_heartbeat(number + 1), "heartbeat"
        return None, "heartbeat"

    # ---------------------------------------------------------------- context

    @property
    def context_window(self) -> int:
        return self.state.config.context_window

    async def _assemble(self, buffer: Sequence[Message], bounded: bool = False) -> Assembled:
        return await self.builder.build(self.state, buffer, *self._header, bounded=bounded)

    async def refresh_context(self) -> ev.ContextChanged:
        await self.wait_open()
        assembled = await self._assemble(self.buffer)
        event = ev.ContextChanged(
            breakdown=assembled.breakdown,
            limit=self.context_window,
            exact=self.builder.exact,
            warning_fraction=self.limits.warning_fraction,
            in_context_messages=len(self.buffer),
            recall_messages=self.recall_count,
            archival_memories=self.archival_count,
            prompt_history=tuple(self.state.prompt_history),
        )
        self._last_context = event
        self.emit(event)
        return event

    def _reply_reserve(self) -> int:
        return min(1024, self.context_window // 8)

    async def _fit(self, incoming: Message) -> None:
        """Evict before a request would overflow the window (leaving room for the reply)."""
        bound = await self._assemble([*self.buffer, incoming], bounded=True)
        if bound.breakdown.total + self._reply_reserve() <= self.context_window:
            return  # fits even by the upper bound: no need to wait for the exact count
        assembled = await self._assemble([*self.buffer, incoming])
        if assembled.breakdown.total + self._reply_reserve() > self.context_window:
            await self._evict(incoming, int(self.context_window * self.limits.summarize_to_fraction))

    async def _evict(self, incoming: Message | None, target_total: int) -> int:
        """Move the oldest messages out of view into recall and fold them into the summary."""
        window = [*self.buffer, incoming] if incoming else list(self.buffer)
        assembled = await self._assemble(window)
        fixed = assembled.breakdown.total - assembled.breakdown.messages
        n = eviction_count(
            assembled.per_message, window, target_total - fixed, self.limits.keep_last_messages
        )
        n = min(n, len(self.buffer))
        if n == 0:
            if assembled.breakdown.total + self._reply_reserve() > self.context_window:
                raise ContextFull(
                    f"The prompt needs {assembled.breakdown.total} tokens but the window holds {self.context_window}, "
                    "and nothing more can be evicted."
                )
            return 0
        self.emit(ev.Busy("summarising", 0, n))
        evicted = self.buffer[:n]
        self.state.summary = await summarize(self.llm, self.state.summary, evicted)
        self.buffer = self.buffer[n:]
        self.state.in_context_ids = [m.id for m in self.buffer]
        self.state.warned = False
        self.builder.forget([m.id for m in evicted])
        self._rebuild_memory()
        await self._checkpoint(None, f"summarised {n} messages into recall")
        self.emit(ev.Summarized(n, self.state.summary))
        await self.refresh_context()
        return n

    async def summarize_now(self) -> int:
        """/summarize: evict the older half of the window into the summary."""
        async with self._step_guard():
            assembled = await self._assemble(self.buffer)
            return await self._evict(None, assembled.breakdown.total - assembled.breakdown.messages // 2)

    # --------------------------------------------------------- history edits

    async def pop(self, count: int = 3) -> int:
        """Remove the last ``count`` messages from view and from recall (never half a tool call)."""
        async with self._step_guard():
            if count < 1:
                raise AgentError("/pop takes a positive number.")
            cut = max(len(self.buffer) - count, 0)
            cut = max((i for i in unit_starts(self.buffer) if i <= cut), default=0)
            removed = len(self.buffer) - cut
            if removed == 0:
                raise AgentError("Nothing to pop.")
            await self._drop_tail(removed, f"/pop {removed}")
            await self._checkpoint(None, f"/pop removed {removed} messages")
            await self.refresh_context()
            return removed

    async def _drop_tail(
        self, count: int, reason: str, keep: frozenset[str] | set[str] = frozenset()
    ) -> None:
        """Drop the last ``count`` messages from view and from recall (except ids in ``keep``)."""
        dropped = self.buffer[-count:]
        ids = [m.id for m in dropped if m.id not in keep]
        self.store.delete_messages(ids)
        self.recall_count -= len(ids)
        self.buffer = self.buffer[:-count]
        self.state.in_context_ids = [m.id for m in self.buffer]
        self.builder.forget([m.id for m in dropped])
        self.emit(ev.HistoryChanged(reason))

    async def rethink(self, text: str) -> None:
        """Replace the inner monologue of the last assistant message."""
        async with self._step_guard():
            index = self._last_assistant(lambda m: True)
            await self._replace(index, self.buffer[index].model_copy(update={"content": text}), "/rethink")

    async def rewrite(self, text: str) -> None:
        """Replace what the agent last said to the user."""
        async with self._step_guard():
            index = self._last_assistant(lambda m: any(c.name == "send_message" for c in m.tool_calls))
            message = self.buffer[index]
            calls = tuple(
                c.model_copy(update={"arguments": json.dumps({**_loose_json(c.arguments), "message": text})})
                if c.name == "send_message"
                else c
                for c in message.tool_calls
            )
            await self._replace(index, message.model_copy(update={"tool_calls": calls}), "/rewrite")

    def _last_assistant(self, predicate: Callable[[Message], bool]) -> int:
        for i in range(len(self.buffer) - 1, -1, -1):
            if self.buffer[i].role == "assistant" and predicate(self.buffer[i]):
                return i
        raise AgentError("No assistant message in view to change.")

    async def _replace(self, index: int, message: Message, label: str) -> None:
        self.store.replace_messages([message])
        self.builder.forget([message.id])
        self.buffer[index] = message
        await self._checkpoint(None, f"{label} changed the last reply")
        self.emit(ev.HistoryChanged(label))
        await self.refresh_context()

    # ----------------------------------------------------------------- memory

    async def update_block(self, label: str, value: str) -> None:
        """The user edits a core memory block (read-only blocks are read-only for the agent only)."""
        async with self._step_guard():
            block = self.state.block(label)
            if block is None:
                raise AgentError(f"No core memory block labelled {label!r}.")
            if len(value) > block.limit:
                raise AgentError(f"{label!r} would have {len(value)} characters; its limit is {block.limit}.")
            old, block.value = block.value, value
            self.state.memory_edited_at = now()
            self._rebuild_memory()
            await self._checkpoint(None, f"user edited {label}")
            self.emit(ev.CoreMemoryChanged(label, old, value, "user"))
            await self.refresh_context()

    async def add_block(self, label: str, value: str = "", limit: int | None = None) -> None:
        async with self._step_guard():
            if self.state.block(label) is not None:
                raise AgentError(f"A block labelled {label!r} already exists.")
            block = Block(label=label, value=value, limit=limit or self.limits.core_block_chars)
            self.state.blocks.append(block)
            self._rebuild_memory()
            await self._checkpoint(None, f"user added block {label}")
            self.emit(ev.CoreMemoryChanged(label, "", value, "user"))
            await self.refresh_context()

    def memory(self) -> dict[str, str]:
        return {b.label: b.value for b in self.state.blocks}

    def dump(self, count: int | None = None) -> list[Message]:
        return list(self.buffer if not count else self.buffer[-count:])

    async def older_messages(self, before_id: str | None, limit: int) -> list[Message]:
        """Recall just before ``before_id`` (newest when None), oldest first: the UI's scrollback."""
        if self._preview is not None:
            found = self._preview.messages_before(before_id, limit)
            if found is not None:
                return found
        await self.wait_open()
        return await self._io(self.store.recent_messages, before_id, limit)

    async def search_recall(self, query: str, page: int = 0) -> Page[Message]:
        await self.wait_open()
        return await self._io(self.store.search_messages, query, page, self.limits.page_size)

    async def search_recall_by_date(self, start: date, end: date, page: int = 0) -> Page[Message]:
        await self.wait_open()
        return await self._io(self.store.search_messages_by_date, start, end, page, self.limits.page_size)

    async def search_archival(self, query: str, page: int = 0) -> Page[Passage]:
        await self.wait_open()
        return await self._io(self.store.archival_search, query, page, self.limits.page_size)

    async def list_archival(self, page: int = 0) -> Page[Passage]:
        await self.wait_open()
        return await self._io(self.store.archival_list, page, self.limits.page_size)

    async def insert_archival(self, text: str) -> str:
        """The user adds a passage (the agent uses archival_memory_insert); checkpointed like any change."""
        async with self._step_guard():
            ids = await self._io(self.store.archival_insert, [text])
            self.archival_count += 1
            await self._checkpoint(None, "user added an archival passage")
            await self.refresh_context()
            return ids[0]

    async def update_archival(self, passage_id: str, text: str) -> None:
        async with self._step_guard():
            await self._io(self.store.archival_update, passage_id, text)
            await self._checkpoint(None, "user edited an archival passage")

    async def delete_archival(self, passage_id: str) -> None:
        async with self._step_guard():
            await self._io(self.store.archival_delete, passage_id)
            self.archival_count = self.store.archival_count()
            await self._checkpoint(None, "user deleted an archival passage")
            await self.refresh_context()

    async def attached(self, added: int, source: str) -> None:
        """Record that a data source was copied into archival memory."""
        async with self._step_guard():
            self.archival_count = self.store.archival_count()
            self._rebuild_memory()
            await self._checkpoint(None, f"attached source {source} ({added} passages)")
            self.emit(ev.Notice("info", f"Attached {source!r}: {added} passages added to archival memory."))
            await self.refresh_context()

    # ------------------------------------------------------------ checkpoints

    async def save(self, label: str | None = None) -> CheckpointInfo:
        async with self._step_guard():
            return await self._checkpoint(label or f"saved at step {self.state.step}", "saved by the user")

    async def checkpoints(self) -> list[CheckpointInfo]:
        await self.wait_open()
        return self.store.checkpoints()

    async def checkpoint_state(self, checkpoint_id: str) -> AgentState:
        await self.wait_open()
        return await self._io(self.store.checkpoint_state, checkpoint_id)

    async def restore(self, checkpoint_id: str) -> CheckpointInfo:
        """Bring back every tier as it was at ``checkpoint_id``; the restore is itself a new checkpoint."""
        async with self._step_guard():
            before = self.memory()
            state, info = await self._io(self.store.restore, checkpoint_id)
            self.state = state
            self._unanswered = None
            self.builder.forget([m.id for m in self.buffer])
            await self._reload()
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

    async def _checkpoint(self, label: str | None, summary: str) -> CheckpointInfo:
        info = self.store.checkpoint(self.state, label, summary)
        self.emit(ev.CheckpointCreated(info.id, info.step, info.label, info.summary))
        return info

    # ------------------------------------------------------------------ utils

    def _step_guard(self) -> _StepGuard:
        return _StepGuard(self)

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)


class _StepGuard:
    """Serialises operations, and waits for a shielded commit that outlived a cancelled step."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    async def __aenter__(self) -> None:
        await self.agent.wait_open()
        await self.agent._lock.acquire()
        if self.agent._committing is not None:
            with contextlib.suppress(Exception):  # its own caller already reported it
                await self.agent._committing
            self.agent._committing = None

    async def __aexit__(self, *exc: object) -> None:
        self.agent._lock.release()


class _Recall:
    """Async view of the store for the functions, with MemGPT's page size."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    async def search_messages(self, query: str, page: int) -> Page[Message]:
        return await self.agent.search_recall(query, page)

    async def search_messages_by_date(self, start: date, end: date, page: int) -> Page[Message]:
        return await self.agent.search_recall_by_date(start, end, page)

    async def archival_insert(self, text: str) -> None:
        await self.agent._io(self.agent.store.archival_insert, [text])

    async def archival_search(self, query: str, page: int) -> Page[Passage]:
        return await self.agent.search_archival(query, page)


def _verification_problem(response: LLMResponse) -> str | None:
    if response.parse_error:
        return "unreadable reply"
    names = {c.name for c in response.tool_calls}
    if not names & ({"send_message"} | SEARCHES):
        return "no send_message or search call"
    if not (response.content or "").strip():
        return "empty inner monologue"
    return None


def _loose_json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"_raw": text}


def _describe(calls: Sequence[ToolCall], failure: str | None | bool) -> str:
    names = ", ".join(c.name for c in calls) or "no function"
    return f"{names}{' (failed)' if failure else ''}"
